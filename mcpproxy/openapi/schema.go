package openapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// schemas converts OpenAPI schemas to JSON Schema 2020-12, the dialect the
// gateway validates arguments with. Every reference becomes "#/$defs/<Name>"
// and the referenced schema a shared definition, converted once, so
// recursive schemas stay references instead of being inlined forever.
//
// The conversion keeps only keywords JSON Schema defines, with values of
// the type it requires: a validator compiles every tool schema against the
// 2020-12 meta-schema, and one stray OpenAPI keyword (a boolean
// exclusiveMinimum, type "file") would make the whole tool unvalidatable.
type schemas struct {
	src *source
	// v30 selects OpenAPI 3.0 semantics: nullable, boolean exclusive bounds,
	// and siblings of $ref ignored.
	v30 bool
	// names maps a reference target (its JSON Pointer) to its definition.
	names map[string]string
	used  map[string]bool
	defs  map[string]json.RawMessage
	queue []pendingDef
	// patterns caches whether a pattern compiles.
	patterns map[string]bool
	toolFile string
	// err is the first reference to another document or to nothing met
	// while converting.
	err error
}

type pendingDef struct {
	name string
	v    *fastjson.Value // or, for a component schema:
	part string
}

func newSchemas(src *source, v30 bool) *schemas {
	c := &schemas{
		src:      src,
		v30:      v30,
		names:    map[string]string{},
		used:     map[string]bool{},
		defs:     map[string]json.RawMessage{},
		patterns: map[string]bool{},
	}
	for _, name := range src.schemaNames {
		c.used[name] = true // component schemas keep their names
	}
	return c
}

// drain converts every definition referenced so far, and those they
// reference in turn.
func (c *schemas) drain() map[string]json.RawMessage {
	for len(c.queue) > 0 {
		p := c.queue[len(c.queue)-1]
		c.queue = c.queue[:len(c.queue)-1]
		v := p.v
		if p.part != "" {
			v = c.src.part(p.part)
		}
		c.defs[p.name] = c.convert(nil, v, 0)
	}
	return c.defs
}

// refTo returns the "#/$defs/<Name>" reference for an OpenAPI reference,
// queuing the target for conversion; "" (and c.err) when the reference
// leads to another document or to nothing.
func (c *schemas) refTo(ref string) string {
	tokens, ok := refTokens(ref)
	if !ok {
		c.fail(fmt.Errorf("the document refers to another file or URL (%q); bundle it into a single document — external references are never fetched", ref))
		return ""
	}
	key := strings.Join(tokens, "\x00")
	name, ok := c.names[key]
	if !ok {
		var p pendingDef
		if len(tokens) == 3 && tokens[0] == "components" && tokens[1] == "schemas" && c.src.hasSchema(tokens[2]) {
			name = tokens[2]
			p = pendingDef{name: name, part: "schemas/" + name}
		} else {
			target := c.src.lookup(tokens)
			if target == nil {
				c.fail(fmt.Errorf("the document refers to %q, which does not exist in it", ref))
				return ""
			}
			name = c.hoistedName(tokens)
			p = pendingDef{name: name, v: target}
		}
		c.names[key] = name
		c.used[name] = true
		c.queue = append(c.queue, p)
	}
	return "#/$defs/" + escapeDefName(name)
}

func (c *schemas) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// hoistedName names a definition made for a reference into a schema or to
// a schema outside components.schemas ("Pet.properties.owner").
func (c *schemas) hoistedName(tokens []string) string {
	if len(tokens) > 2 && tokens[0] == "components" && tokens[1] == "schemas" {
		tokens = tokens[2:]
	}
	var b strings.Builder
	for i, t := range tokens {
		if i > 0 {
			b.WriteByte('.')
		}
		for _, r := range t {
			if r < 128 && (isAlnum(byte(r)) || r == '_' || r == '-') {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
	}
	return c.unique(b.String())
}

func (c *schemas) unique(base string) string {
	if base == "" {
		base = "Schema"
	}
	name := base
	for i := 2; c.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	c.used[name] = true
	return name
}

// toolFileRef returns the reference to the ToolFile definition: what
// binary strings accept (a file part of a multipart body), besides text.
func (c *schemas) toolFileRef() string {
	if c.toolFile == "" {
		name := "ToolFile"
		if c.used[name] {
			name = c.unique("ExecutorToolFile")
		}
		c.used[name] = true
		c.toolFile = name
		c.defs[name] = json.RawMessage(`{"type":"object","description":"A file: its name, MIME type and base64-encoded content.","properties":{"name":{"type":"string"},"mimeType":{"type":"string"},"size":{"type":"number"},"base64":{"type":"string","contentEncoding":"base64"}},"required":["base64"]}`)
	}
	return "#/$defs/" + escapeDefName(c.toolFile)
}

// escapeDefName writes a definition name as a JSON Pointer token inside a
// URI fragment.
func escapeDefName(name string) string {
	name = strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if isAlnum(ch) || strings.IndexByte("-._~!$&'()*+,;=:@", ch) >= 0 {
			b.WriteByte(ch)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(ch)|0x100, 16)[1:]))
		}
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

var jsonTypes = map[string]bool{"string": true, "number": true, "integer": true, "boolean": true, "object": true, "array": true, "null": true}

// convert appends the JSON Schema form of an OpenAPI schema.
func (c *schemas) convert(dst []byte, v *fastjson.Value, depth int) []byte {
	if v == nil || depth > fastjson.MaxDepth {
		return append(dst, "{}"...)
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return append(dst, "true"...)
	case fastjson.TypeFalse:
		return append(dst, "false"...)
	case fastjson.TypeObject:
	default:
		return append(dst, "{}"...)
	}
	o := v.GetObject()
	nullable := c.v30 && o.Get("nullable") != nil && o.Get("nullable").Type() == fastjson.TypeTrue

	if r := o.Get("$ref"); c.v30 && r != nil && r.Type() == fastjson.TypeString {
		// OpenAPI 3.0 ignores the siblings of $ref; keep its description.
		inner := []byte(`{"$ref":`)
		ref := c.refTo(string(r.GetStringBytes()))
		if ref == "" {
			inner = []byte(`{}`)
		} else {
			inner = appendString(inner, ref)
			if d := o.Get("description"); d != nil && d.Type() == fastjson.TypeString {
				inner = append(inner, `,"description":`...)
				inner = appendString(inner, string(d.GetStringBytes()))
			}
			inner = append(inner, '}')
		}
		if nullable && ref != "" {
			dst = append(dst, `{"anyOf":[`...)
			dst = append(dst, inner...)
			return append(dst, `,{"type":"null"}]}`...)
		}
		return append(dst, inner...)
	}

	types := schemaTypes(o.Get("type"))
	binary := false
	if f := o.Get("format"); f != nil && string(f.GetStringBytes()) == "binary" && len(types) == 1 && types[0] == "string" {
		binary = true
	}
	if t := o.Get("type"); t != nil && string(t.GetStringBytes()) == "file" {
		binary = true
	}
	if nullable && len(types) > 0 && !contains(types, "null") {
		types = append(types, "null")
	}

	body := c.keywords(nil, o, types, nullable, depth)
	if binary {
		dst = append(dst, `{"anyOf":[`...)
		dst = append(dst, body...)
		dst = append(dst, `,{"$ref":`...)
		dst = appendString(dst, c.toolFileRef())
		dst = append(dst, `}]}`...)
		return dst
	}
	if nullable && len(types) == 0 && string(body) != "{}" {
		dst = append(dst, `{"anyOf":[`...)
		dst = append(dst, body...)
		return append(dst, `,{"type":"null"}]}`...)
	}
	return append(dst, body...)
}

// schemaTypes returns the valid type names of a type keyword.
func schemaTypes(t *fastjson.Value) []string {
	if t == nil {
		return nil
	}
	var names []string
	add := func(v *fastjson.Value) {
		name := string(v.GetStringBytes())
		if name == "file" {
			name = "string"
		}
		if jsonTypes[name] && !contains(names, name) {
			names = append(names, name)
		}
	}
	switch t.Type() {
	case fastjson.TypeString:
		add(t)
	case fastjson.TypeArray:
		for _, v := range t.GetArray() {
			add(v)
		}
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// keywords appends the schema object with its JSON Schema keywords, in the
// document's order.
func (c *schemas) keywords(dst []byte, o *fastjson.Object, types []string, nullable bool, depth int) []byte {
	dst = append(dst, '{')
	var emitted []string
	key := func(k string) bool {
		if contains(emitted, k) {
			return false
		}
		if len(emitted) > 0 {
			dst = append(dst, ',')
		}
		emitted = append(emitted, k)
		dst = appendString(dst, k)
		dst = append(dst, ':')
		return true
	}
	boolBound := func(name string) bool {
		b := o.Get(name)
		return b != nil && b.Type() == fastjson.TypeTrue
	}
	exclusiveMin, exclusiveMax := boolBound("exclusiveMinimum"), boolBound("exclusiveMaximum")
	items := o.Get("items")
	tuple := items != nil && items.Type() == fastjson.TypeArray

	o.Visit(func(k []byte, v *fastjson.Value) {
		name := string(k)
		t := v.Type()
		switch name {
		case "$ref":
			if t == fastjson.TypeString {
				if ref := c.refTo(string(v.GetStringBytes())); ref != "" && key("$ref") {
					dst = appendString(dst, ref)
				}
			}
		case "type":
			if len(types) == 1 && key("type") {
				dst = appendString(dst, types[0])
			} else if len(types) > 1 && key("type") {
				dst = appendStrings(dst, types)
			}
		case "enum":
			if t == fastjson.TypeArray && key("enum") {
				list := v.GetArray()
				hasNull := false
				dst = append(dst, '[')
				for i, e := range list {
					if i > 0 {
						dst = append(dst, ',')
					}
					hasNull = hasNull || e.Type() == fastjson.TypeNull
					dst = e.MarshalTo(dst)
				}
				if nullable && !hasNull {
					if len(list) > 0 {
						dst = append(dst, ',')
					}
					dst = append(dst, "null"...)
				}
				dst = append(dst, ']')
			}
		case "const", "default":
			if key(name) {
				dst = v.MarshalTo(dst)
			}
		case "examples":
			if t == fastjson.TypeArray && key(name) {
				dst = v.MarshalTo(dst)
			}
		case "title", "description", "format", "contentMediaType", "contentEncoding", "$comment":
			if t == fastjson.TypeString && key(name) {
				dst = v.MarshalTo(dst)
			}
		case "pattern":
			if t == fastjson.TypeString && c.validPattern(string(v.GetStringBytes())) && key(name) {
				dst = v.MarshalTo(dst)
			}
		case "multipleOf":
			if t == fastjson.TypeNumber && v.GetFloat64() > 0 && key(name) {
				dst = v.MarshalTo(dst)
			}
		case "minimum", "maximum":
			if t != fastjson.TypeNumber {
				return
			}
			if name == "minimum" && exclusiveMin {
				name = "exclusiveMinimum"
			} else if name == "maximum" && exclusiveMax {
				name = "exclusiveMaximum"
			}
			if key(name) {
				dst = v.MarshalTo(dst)
			}
		case "exclusiveMinimum", "exclusiveMaximum":
			if t == fastjson.TypeNumber && key(name) {
				dst = v.MarshalTo(dst)
			}
		case "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains", "maxContains":
			if t == fastjson.TypeNumber {
				if f := v.GetFloat64(); f >= 0 && f == float64(int64(f)) && key(name) {
					dst = strconv.AppendInt(dst, int64(f), 10)
				}
			}
		case "uniqueItems", "readOnly", "writeOnly", "deprecated":
			if (t == fastjson.TypeTrue || t == fastjson.TypeFalse) && key(name) {
				dst = v.MarshalTo(dst)
			}
		case "required":
			if t != fastjson.TypeArray {
				return
			}
			var names []string
			for _, e := range v.GetArray() {
				if e.Type() == fastjson.TypeString && !contains(names, string(e.GetStringBytes())) {
					names = append(names, string(e.GetStringBytes()))
				}
			}
			if len(names) > 0 && key(name) {
				dst = appendStrings(dst, names)
			}
		case "dependentRequired":
			if t == fastjson.TypeObject && validStringLists(v) && key(name) {
				dst = v.MarshalTo(dst)
			}
		case "properties", "patternProperties", "dependentSchemas":
			if t != fastjson.TypeObject || !key(name) {
				return
			}
			dst = append(dst, '{')
			n := 0
			v.GetObject().Visit(func(pk []byte, pv *fastjson.Value) {
				if name == "patternProperties" && !c.validPattern(string(pk)) {
					return
				}
				if n > 0 {
					dst = append(dst, ',')
				}
				n++
				dst = appendString(dst, string(pk))
				dst = append(dst, ':')
				dst = c.convert(dst, pv, depth+1)
			})
			dst = append(dst, '}')
		case "items":
			switch {
			case tuple:
				if len(v.GetArray()) > 0 && key("prefixItems") {
					dst = c.convertList(dst, v.GetArray(), depth)
				}
			case t == fastjson.TypeObject || t == fastjson.TypeTrue || t == fastjson.TypeFalse:
				if key("items") {
					dst = c.convert(dst, v, depth+1)
				}
			}
		case "additionalItems":
			if tuple && (t == fastjson.TypeObject || t == fastjson.TypeTrue || t == fastjson.TypeFalse) && key("items") {
				dst = c.convert(dst, v, depth+1)
			}
		case "prefixItems", "allOf", "anyOf", "oneOf":
			if t == fastjson.TypeArray && len(v.GetArray()) > 0 && key(name) {
				dst = c.convertList(dst, v.GetArray(), depth)
			}
		case "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
			"unevaluatedItems", "unevaluatedProperties", "contentSchema":
			if (t == fastjson.TypeObject || t == fastjson.TypeTrue || t == fastjson.TypeFalse) && key(name) {
				dst = c.convert(dst, v, depth+1)
			}
		}
	})
	return append(dst, '}')
}

func (c *schemas) convertList(dst []byte, list []*fastjson.Value, depth int) []byte {
	dst = append(dst, '[')
	for i, e := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = c.convert(dst, e, depth+1)
	}
	return append(dst, ']')
}

// validPattern reports whether a pattern compiles with Go's regexp, which
// the gateway's validator uses; an ECMAScript-only pattern (lookahead) is
// dropped rather than making the whole schema fail to compile.
func (c *schemas) validPattern(p string) bool {
	ok, seen := c.patterns[p]
	if !seen {
		_, err := regexp.Compile(p)
		ok = err == nil
		c.patterns[p] = ok
	}
	return ok
}

func validStringLists(v *fastjson.Value) bool {
	ok := true
	v.GetObject().Visit(func(_ []byte, l *fastjson.Value) {
		if l.Type() != fastjson.TypeArray {
			ok = false
			return
		}
		for _, e := range l.GetArray() {
			if e.Type() != fastjson.TypeString {
				ok = false
			}
		}
	})
	return ok
}

func appendStrings(dst []byte, list []string) []byte {
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}
