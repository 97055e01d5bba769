package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/valyala/fastjson"
	"go.yaml.in/yaml/v4"
)

// source is a document read into an ordered JSON tree. kin-openapi's model
// loses the order of paths, media types and responses (they are Go maps),
// and the order decides defaults ("the first media type") and which of two
// colliding tool names is which; schemas are also converted from this tree,
// not from kin-openapi's Schema values (see decode).
//
// Most of a large document is schemas and examples (GitHub's description:
// 13 MB, two thirds of it), and a tree of every value costs several times
// the text. So component schemas are kept as text and parsed one by one
// when a tool reaches them; component examples, webhooks and top-level
// extensions are not parsed at all unless a reference points into them.
//
// A source is used by one goroutine: fastjson values are not safe for
// concurrent reads.
type source struct {
	parser fastjson.Parser
	// root is the document without the parts kept as text (they are
	// empty objects in it).
	root *fastjson.Value
	// lazy holds the text of what root leaves out: "schemas/<name>",
	// "examples/<name>", and top-level keys.
	lazy map[string][]byte
	// schemaNames and exampleNames are the component names, in order.
	schemaNames, exampleNames []string
	parsed                    map[string]*fastjson.Value
	// partErr is the first syntax error found in a lazy part.
	partErr error
}

// newSource parses JSON text.
func newSource(js []byte) (*source, error) {
	js = bytes.TrimSpace(js)
	if len(js) > 0 && js[0] != '{' {
		if json.Valid(js) {
			return nil, errors.New("not an OpenAPI document: the top level is not an object")
		}
	}
	top, err := members(js)
	if err != nil {
		return nil, err
	}
	s := &source{lazy: map[string][]byte{}, parsed: map[string]*fastjson.Value{}}
	// Rebuild the document without the lazy parts, and parse that; a lazy
	// part is parsed (and its syntax checked) when something reaches it.
	reduced := make([]byte, 0, len(js)/2)
	reduced = append(reduced, '{')
	for i, m := range top {
		if i > 0 {
			reduced = append(reduced, ',')
		}
		reduced = appendString(reduced, m.key)
		reduced = append(reduced, ':')
		switch {
		case (strings.HasPrefix(m.key, "x-") || m.key == "webhooks") && s.lazy[m.key] == nil:
			s.lazy[m.key] = m.raw
			reduced = append(reduced, "{}"...)
		case m.key == "components" && m.raw[0] == '{':
			sections, err := members(m.raw)
			if err != nil {
				return nil, err
			}
			reduced = append(reduced, '{')
			for j, c := range sections {
				if j > 0 {
					reduced = append(reduced, ',')
				}
				reduced = appendString(reduced, c.key)
				reduced = append(reduced, ':')
				if (c.key == "schemas" || c.key == "examples") && c.raw[0] == '{' {
					items, err := members(c.raw)
					if err != nil {
						return nil, err
					}
					names := &s.schemaNames
					if c.key == "examples" {
						names = &s.exampleNames
					}
					for _, item := range items {
						if k := c.key + "/" + item.key; s.lazy[k] == nil {
							s.lazy[k] = item.raw
							*names = append(*names, item.key)
						}
					}
					reduced = append(reduced, "{}"...)
				} else {
					reduced = append(reduced, c.raw...)
				}
			}
			reduced = append(reduced, '}')
		default:
			reduced = append(reduced, m.raw...)
		}
	}
	reduced = append(reduced, '}')
	root, err := s.parser.ParseBytes(reduced)
	if err != nil {
		return nil, fmt.Errorf("the document is not valid JSON or YAML: %v", err)
	}
	s.root = root
	return s, nil
}

func invalidJSON(raw []byte) error {
	var v any
	err := json.Unmarshal(raw, &v)
	return fmt.Errorf("the document is not valid JSON or YAML: %v", err)
}

// member is one member of a JSON object, its value as text.
type member struct {
	key string
	raw []byte
}

// members splits the text of a JSON object into its members without
// decoding their values (which the caller validates or parses).
func members(obj []byte) ([]member, error) {
	bad := func() ([]member, error) { return nil, invalidJSON(obj) }
	if len(obj) < 2 || obj[0] != '{' {
		return bad()
	}
	var out []member
	i := skipSpace(obj, 1)
	if i < len(obj) && obj[i] == '}' {
		return out, nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return bad()
		}
		end := skipValue(obj, i)
		if end > len(obj) || end-i < 2 {
			return bad()
		}
		key := string(obj[i+1 : end-1])
		if strings.IndexByte(key, '\\') >= 0 {
			if json.Unmarshal(obj[i:end], &key) != nil {
				return bad()
			}
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return bad()
		}
		i = skipSpace(obj, i+1)
		end = skipValue(obj, i)
		if end <= i || end > len(obj) {
			return bad()
		}
		out = append(out, member{key, obj[i:end]})
		i = skipSpace(obj, end)
		if i >= len(obj) {
			return bad()
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			if skipSpace(obj, i+1) != len(obj) {
				return bad()
			}
			return out, nil
		default:
			return bad()
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at i (for
// malformed text, wherever scanning stopped).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\r' && b[i] != '\t' {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at i.
func skipString(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b) + 1
		}
		i += j
		// The quote ends the string unless an odd number of backslashes
		// precede it.
		n := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// toJSON returns data as JSON text, converting YAML.
func toJSON(data []byte) ([]byte, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("the document is empty")
	}
	if trimmed[0] == '{' {
		return trimmed, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("the document is not valid JSON or YAML: %v", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, errors.New("the document is empty")
	}
	w := yamlWriter{budget: 8 << 20}
	if err := w.value(doc.Content[0], 0); err != nil {
		return nil, err
	}
	return w.out, nil
}

// yamlWriter writes a YAML node tree as JSON. Aliases are expanded, so budget
// bounds how many values may be written (a "billion laughs" document).
type yamlWriter struct {
	out    []byte
	budget int
}

func (w *yamlWriter) value(n *yaml.Node, depth int) error {
	w.budget--
	if w.budget < 0 {
		return errors.New("the YAML document expands to too many values (aliases)")
	}
	if depth > fastjson.MaxDepth {
		return errors.New("the YAML document is nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			w.out = append(w.out, "null"...)
			return nil
		}
		return w.value(n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return errors.New("the YAML document has an alias to nothing")
		}
		return w.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		w.out = append(w.out, '[')
		for i, c := range n.Content {
			if i > 0 {
				w.out = append(w.out, ',')
			}
			if err := w.value(c, depth+1); err != nil {
				return err
			}
		}
		w.out = append(w.out, ']')
		return nil
	case yaml.MappingNode:
		w.out = append(w.out, '{')
		seen := map[string]bool{}
		if err := w.pairs(n, depth, seen); err != nil {
			return err
		}
		w.out = append(w.out, '}')
		return nil
	case yaml.ScalarNode:
		return w.scalar(n)
	}
	return fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// pairs writes a mapping's members; merge keys (<<) add the members of the
// merged mappings that the mapping does not set itself.
func (w *yamlWriter) pairs(n *yaml.Node, depth int, seen map[string]bool) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a mapping key is not a scalar, which JSON cannot represent", k.Line)
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		if len(seen) > 1 {
			w.out = append(w.out, ',')
		}
		w.out = appendString(w.out, k.Value)
		w.out = append(w.out, ':')
		if err := w.value(v, depth+1); err != nil {
			return err
		}
	}
	for _, m := range merges {
		if m.Kind == yaml.AliasNode && m.Alias != nil {
			m = m.Alias
		}
		list := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			list = m.Content
		}
		for _, item := range list {
			if item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias
			}
			if item.Kind != yaml.MappingNode {
				return fmt.Errorf("line %d: a merge key (<<) must merge mappings", m.Line)
			}
			if err := w.pairs(item, depth+1, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *yamlWriter) scalar(n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		w.out = append(w.out, "null"...)
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			w.out = appendString(w.out, n.Value)
			return nil
		}
		w.out = strconv.AppendBool(w.out, b)
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			w.out = appendString(w.out, n.Value)
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			w.out = appendString(w.out, n.Value)
			return nil
		}
		w.out = append(w.out, b...)
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			w.out = appendString(w.out, n.Value)
			return nil
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("line %d: %s has no JSON representation", n.Line, n.Value)
		}
		w.out = strconv.AppendFloat(w.out, f, 'g', -1, 64)
	default: // strings, timestamps, binary and application tags stay text
		w.out = appendString(w.out, n.Value)
	}
	return nil
}

// version reports which specification the document follows.
func (s *source) version() (major string, err error) {
	if v := s.root.Get("openapi"); v != nil {
		str, _ := v.StringBytes()
		ver := string(str)
		switch {
		case v.Type() != fastjson.TypeString:
			return "", errors.New("the openapi field must be a string such as \"3.0.3\" (quote it in YAML)")
		case strings.HasPrefix(ver, "3.0"):
			return "3.0", nil
		case strings.HasPrefix(ver, "3.1"), strings.HasPrefix(ver, "3.2"):
			return "3.1", nil
		}
		return "", fmt.Errorf("OpenAPI version %q is not supported; use 3.0, 3.1 or Swagger 2.0", ver)
	}
	if v := s.root.Get("swagger"); v != nil {
		str, _ := v.StringBytes()
		if string(str) == "2.0" || (v.Type() == fastjson.TypeNumber && v.GetFloat64() == 2) {
			return "2.0", nil
		}
		return "", fmt.Errorf("Swagger version %s is not supported; only 2.0 is", v.String())
	}
	return "", errors.New("not an OpenAPI document: no openapi or swagger field")
}

// convertSwagger converts a Swagger 2.0 document to OpenAPI 3.0 JSON.
func convertSwagger(js []byte) ([]byte, error) {
	// YAML's `swagger: 2.0` is a number; the model wants the string.
	top, err := members(js)
	if err != nil {
		return nil, err
	}
	out := []byte{'{'}
	for i, m := range top {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, m.key)
		out = append(out, ':')
		if m.key == "swagger" {
			out = append(out, `"2.0"`...)
		} else {
			out = append(out, m.raw...)
		}
	}
	js = append(out, '}')
	var d2 openapi2.T
	if err := json.Unmarshal(js, &d2); err != nil {
		return nil, fmt.Errorf("the Swagger 2.0 document is invalid: %v", err)
	}
	d3, err := openapi2conv.ToV3(&d2)
	if err != nil {
		return nil, fmt.Errorf("the Swagger 2.0 document could not be converted to OpenAPI 3: %v", err)
	}
	v3, err := json.Marshal(d3)
	if err != nil {
		return nil, fmt.Errorf("the Swagger 2.0 document could not be converted to OpenAPI 3: %v", err)
	}
	return v3, nil
}

// literalKeys hold data, not OpenAPI objects: a "$ref" inside them is not a
// reference.
var literalKeys = map[string]bool{"example": true, "default": true, "enum": true, "const": true, "value": true}

// checkRefs refuses references to other files or URLs (they are never
// fetched) and references to nothing. It returns the places that references
// point inside of, which decode must keep whole.
func (s *source) checkRefs() (deep map[string]bool, err error) {
	deep = map[string]bool{}
	var walk func(v *fastjson.Value, depth int)
	walk = func(v *fastjson.Value, depth int) {
		if err != nil {
			return
		}
		switch v.Type() {
		case fastjson.TypeArray:
			for _, c := range v.GetArray() {
				walk(c, depth+1)
			}
		case fastjson.TypeObject:
			v.GetObject().Visit(func(k []byte, c *fastjson.Value) {
				key := string(k)
				switch {
				case err != nil:
				case key == "$ref" && c.Type() == fastjson.TypeString:
					ref := string(c.GetStringBytes())
					tokens, ok := refTokens(ref)
					if !ok {
						err = fmt.Errorf("the document refers to another file or URL (%q); bundle it into a single document — external references are never fetched", ref)
						return
					}
					if !s.exists(tokens) {
						err = fmt.Errorf("the document refers to %q, which does not exist in it", ref)
						return
					}
					switch {
					case len(tokens) > 3 && tokens[0] == "components":
						deep[tokens[1]+"/"+tokens[2]] = true
					case len(tokens) > 0 && s.lazy[tokens[0]] != nil:
						deep[tokens[0]] = true
					}
				case literalKeys[key], strings.HasPrefix(key, "x-"):
				case key == "examples" && c.Type() == fastjson.TypeArray:
				default:
					walk(c, depth+1)
				}
			})
		}
	}
	walk(s.root, 0)
	if err != nil {
		return nil, err
	}
	// Component schemas are text until a tool reaches them; their
	// references are checked on the text.
	for _, name := range s.schemaNames {
		for _, ref := range textRefs(s.lazy["schemas/"+name]) {
			tokens, ok := refTokens(ref)
			switch {
			case !ok:
				return nil, fmt.Errorf("the document refers to another file or URL (%q); bundle it into a single document — external references are never fetched", ref)
			case len(tokens) == 3 && tokens[0] == "components" && tokens[1] == "schemas" && !s.hasSchema(tokens[2]):
				return nil, fmt.Errorf("the document refers to %q, which does not exist in it", ref)
			}
		}
	}
	return deep, nil
}

// textRefs finds the "$ref": "<string>" members in JSON text.
func textRefs(raw []byte) []string {
	var out []string
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte(`"$ref"`))
		if j < 0 {
			return out
		}
		i += j
		escaped := i > 0 && raw[i-1] == '\\'
		i += len(`"$ref"`)
		if escaped {
			continue
		}
		k := skipSpace(raw, i)
		if k >= len(raw) || raw[k] != ':' {
			continue
		}
		k = skipSpace(raw, k+1)
		if k >= len(raw) || raw[k] != '"' {
			continue
		}
		end := skipValue(raw, k)
		var ref string
		if json.Unmarshal(raw[k:end], &ref) == nil {
			out = append(out, ref)
		}
		i = end
	}
}

// exists reports whether a reference target exists, without parsing a
// whole component schema to learn it.
func (s *source) exists(tokens []string) bool {
	if len(tokens) == 3 && tokens[0] == "components" && tokens[1] == "schemas" {
		return s.hasSchema(tokens[2])
	}
	return s.lookup(tokens) != nil
}

// refTokens splits a local reference ("#/components/schemas/Pet") into
// unescaped JSON Pointer tokens; ok is false for a reference to another
// document.
func refTokens(ref string) (tokens []string, ok bool) {
	frag, found := strings.CutPrefix(ref, "#")
	if !found {
		return nil, false
	}
	if unescaped, err := url.PathUnescape(frag); err == nil {
		frag = unescaped
	}
	if frag == "" {
		return []string{}, true
	}
	if frag[0] != '/' {
		return nil, true // a plain-name fragment (an $anchor): resolves to nothing
	}
	parts := strings.Split(frag[1:], "/")
	for i, p := range parts {
		if strings.Contains(p, "~") {
			p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		}
		parts[i] = p
	}
	return parts, true
}

// lookup resolves JSON Pointer tokens in the document, parsing a part
// kept as text when the pointer leads into it.
func (s *source) lookup(tokens []string) *fastjson.Value {
	if tokens == nil {
		return nil
	}
	if len(tokens) >= 3 && tokens[0] == "components" && (tokens[1] == "schemas" || tokens[1] == "examples") {
		v := s.part(tokens[1] + "/" + tokens[2])
		if v == nil {
			return nil
		}
		return v.Get(tokens[3:]...)
	}
	if len(tokens) >= 1 && s.lazy[tokens[0]] != nil {
		return s.part(tokens[0]).Get(tokens[1:]...)
	}
	return s.root.Get(tokens...)
}

// hasSchema reports whether components.schemas has name.
func (s *source) hasSchema(name string) bool { return s.lazy["schemas/"+name] != nil }

// part parses a part kept as text (once).
func (s *source) part(key string) *fastjson.Value {
	if v, ok := s.parsed[key]; ok {
		return v
	}
	raw := s.lazy[key]
	if raw == nil {
		return nil
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(raw)
	if err != nil {
		v = nil
		if s.partErr == nil {
			s.partErr = fmt.Errorf("the document is not valid JSON or YAML: %s: %v", strings.Replace(key, "/", " ", 1), err)
		}
	}
	s.parsed[key] = v
	return v
}

// deref follows $ref until it reaches an object that is not a reference.
func (s *source) deref(v *fastjson.Value) *fastjson.Value {
	for range 32 {
		if v == nil || v.Type() != fastjson.TypeObject {
			return v
		}
		r := v.Get("$ref")
		if r == nil || r.Type() != fastjson.TypeString {
			return v
		}
		tokens, _ := refTokens(string(r.GetStringBytes()))
		v = s.lookup(tokens)
	}
	return nil
}

// decode reads the document into kin-openapi's model, which checks its
// structure and resolves its references. Schemas are left out (replaced by
// empty placeholders): the catalog converts them from the JSON tree
// (schema.go), leniently, and kin-openapi would decode each more than once.
// Component examples, webhooks and top-level extensions are left out too,
// unless a reference points inside them.
func (s *source) decode(deep map[string]bool) (*openapi3.T, error) {
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	s.root.GetObject().Visit(func(k []byte, v *fastjson.Value) {
		key := string(k)
		if s.lazy[key] != nil {
			if !deep[key] {
				return
			}
			v = s.part(key)
		}
		var n *yaml.Node
		if key == "components" && v.Type() == fastjson.TypeObject {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			v.GetObject().Visit(func(k2 []byte, c *fastjson.Value) {
				section := string(k2)
				var sn *yaml.Node
				switch section {
				case "schemas", "examples":
					names := s.schemaNames
					if section == "examples" {
						names = s.exampleNames
					}
					sn = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
					for _, name := range names {
						in := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
						if section == "examples" && deep[section+"/"+name] {
							in = toNode(s.part(section + "/" + name))
						}
						sn.Content = append(sn.Content, strNode(name), in)
					}
				default:
					sn = toNode(c)
				}
				n.Content = append(n.Content, strNode(section), sn)
			})
		} else {
			n = toNode(v)
		}
		root.Content = append(root.Content, strNode(key), n)
	})
	doc := &openapi3.T{}
	if err := root.Decode(doc); err != nil {
		// The tree has no positions: drop the YAML decoder's placeholders.
		msg := strings.NewReplacer("yaml: construct errors: ", "", "<unknown position>: ", "", "line 0: ", "").Replace(err.Error())
		return nil, fmt.Errorf("the OpenAPI document is invalid: %s", msg)
	}
	loader := openapi3.NewLoader()
	if err := loader.ResolveRefsIn(doc, nil); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %v", err)
	}
	return doc, nil
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// toNode builds the YAML node tree kin-openapi decodes from, with each
// scalar tagged by its JSON type.
func toNode(v *fastjson.Value) *yaml.Node {
	switch v.Type() {
	case fastjson.TypeObject:
		o := v.GetObject()
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: make([]*yaml.Node, 0, 2*o.Len())}
		o.Visit(func(k []byte, c *fastjson.Value) {
			if key := string(k); (key == "schema" || key == "content") && c.Type() == fastjson.TypeObject {
				// Schemas and media types are read from the JSON tree
				// (operation.go, schema.go): kin-openapi sees empty ones.
				n.Content = append(n.Content, strNode(key), &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
				return
			}
			n.Content = append(n.Content, strNode(string(k)), toNode(c))
		})
		return n
	case fastjson.TypeArray:
		a := v.GetArray()
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: make([]*yaml.Node, 0, len(a))}
		for _, c := range a {
			n.Content = append(n.Content, toNode(c))
		}
		return n
	case fastjson.TypeString:
		return strNode(string(v.GetStringBytes()))
	case fastjson.TypeNumber:
		text := string(v.MarshalTo(nil))
		tag := "!!float"
		if _, err := strconv.ParseInt(text, 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: text}
	case fastjson.TypeTrue:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}
	case fastjson.TypeFalse:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// str returns the string at key, or "".
func str(v *fastjson.Value, key string) string {
	if v == nil {
		return ""
	}
	return string(v.GetStringBytes(key))
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
