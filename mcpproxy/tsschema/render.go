package tsschema

import (
	"net/url"
	"slices"
	"strings"
)

// Limits per rendered type (one Type call, or one definition). Past them the
// rest renders as `unknown`; an object cut short ends with an index signature,
// so the shape stays honest about having more keys.
const (
	maxDepth  = 32       // nested schemas
	maxOutput = 64 << 10 // bytes of TypeScript
	maxNodes  = 1 << 16  // JSON values visited
	maxEnum   = 50       // enum members before the rest becomes the base type
)

// expr is a rendered type with enough structure to combine it correctly:
// unions are flattened and deduplicated, and a member is parenthesised only
// where TypeScript's precedence needs it.
type expr struct {
	text  string
	op    byte   // 0: needs no parentheses; '|', '&': union, intersection; '-': negative number
	parts []expr // the members of a union or an intersection
}

var (
	unknownT = expr{text: "unknown"}
	neverT   = expr{text: "never"}
	nullT    = expr{text: "null"}
	stringT  = expr{text: "string"}
	numberT  = expr{text: "number"}
	booleanT = expr{text: "boolean"}
)

// walker renders one type, counting what it has visited and written.
type walker struct {
	r     *Renderer
	scope *scope
	nodes int // values visited
	size  int // bytes written, counting each byte once
}

func (w *walker) over() bool { return w.nodes > maxNodes || w.size > maxOutput }

// leaf returns a type that is written as it stands.
func (w *walker) leaf(e expr) expr {
	w.size += len(e.text)
	return e
}

// schema renders a schema: a JSON object, or true (anything) or false
// (nothing).
func (w *walker) schema(v *value, depth int) expr {
	w.nodes++
	if v == nil || depth > maxDepth || w.over() {
		return w.leaf(unknownT)
	}
	switch v.kind {
	case kindBool:
		if v.b {
			return w.leaf(unknownT)
		}
		return w.leaf(neverT)
	case kindObject:
	default:
		return w.leaf(unknownT)
	}
	var t expr
	if ref, ok := v.get("$ref").stringValue(); ok {
		t = w.ref(ref)
	} else if c := v.get("const"); c != nil {
		t = w.literal(c)
	} else if e := v.get("enum"); e.isArray() {
		t = w.enum(v, e, depth)
	} else {
		t = w.structural(v, depth)
	}
	// OpenAPI 3.0 (nullable) and Swagger 2 (x-nullable).
	if v.get("nullable").isTrue() || v.get("x-nullable").isTrue() {
		t = w.union(t, w.leaf(nullT))
	}
	return t
}

// ref renders a $ref as the identifier of the definition it names.
func (w *walker) ref(ref string) expr {
	key, ok := w.resolve(ref)
	if !ok {
		return w.leaf(unknownT)
	}
	if !w.r.used[key] {
		w.r.used[key] = true
		w.r.queue = append(w.r.queue, key)
	}
	return w.leaf(expr{text: w.r.ident(key)})
}

// refPrefixes are the places definitions live in the documents tool schemas
// come from: JSON Schema 2020-12, drafts 4–7 and OpenAPI.
var refPrefixes = []string{"#/$defs/", "#/definitions/", "#/components/schemas/"}

// resolve finds the key of the definition a ref names: one of the schema's
// own definitions first, then a shared one.
func (w *walker) resolve(ref string) (string, bool) {
	if ref == "#" {
		return w.scope.root, w.scope.root != ""
	}
	for _, prefix := range refPrefixes {
		name, ok := strings.CutPrefix(ref, prefix)
		if !ok {
			continue
		}
		if strings.Contains(name, "/") {
			return "", false // a pointer into a definition, not to one
		}
		candidates := []string{unescapePointer(name)}
		if decoded, err := url.PathUnescape(name); err == nil && decoded != name {
			candidates = append(candidates, unescapePointer(decoded))
		}
		for _, name := range candidates {
			if key, ok := w.scope.local[name]; ok {
				return key, true
			}
			if w.r.defs[name] != nil {
				return name, true
			}
		}
		return "", false
	}
	return "", false
}

// unescapePointer undoes JSON Pointer escaping (RFC 6901).
func unescapePointer(s string) string {
	if !strings.Contains(s, "~") {
		return s
	}
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
}

// structural renders what type and the combinators say. They all constrain
// the same value, so the parts are intersected; an unconstrained part
// (unknown) drops out.
func (w *walker) structural(v *value, depth int) expr {
	var parts []expr
	if t, ok := w.typePart(v, depth); ok {
		parts = append(parts, t)
	}
	for _, keyword := range []string{"anyOf", "oneOf"} {
		if members := v.get(keyword); members.isArray() {
			alts := make([]expr, 0, len(members.vals))
			for _, m := range members.vals {
				if w.over() {
					alts = append(alts, w.leaf(unknownT))
					break
				}
				alts = append(alts, w.schema(m, depth+1))
			}
			parts = append(parts, w.union(alts...))
		}
	}
	if members := v.get("allOf"); members.isArray() {
		parts = append(parts, w.allOf(members.vals, depth))
	}
	if len(parts) == 0 {
		return w.leaf(unknownT)
	}
	return w.intersect(parts...)
}

// typePart renders the type keyword (a name or a list of names), or, when it
// is missing, the type that object or array keywords imply. It reports false
// when the schema says nothing about the type.
func (w *walker) typePart(v *value, depth int) (expr, bool) {
	var names []string
	switch t := v.get("type"); {
	case t == nil:
	case t.kind == kindString:
		names = []string{t.str}
	case t.kind == kindArray:
		for _, n := range t.vals {
			if s, ok := n.stringValue(); ok {
				names = append(names, s)
			}
		}
	}
	if len(names) == 0 {
		switch {
		case v.get("properties") != nil || v.get("additionalProperties") != nil ||
			v.get("patternProperties") != nil || v.get("required").isArray():
			names = []string{"object"}
		case v.get("items") != nil || v.get("prefixItems") != nil:
			names = []string{"array"}
		default:
			return expr{}, false
		}
	}
	// Deduplicated before rendering: ["object","object",…] must not render
	// the object once per entry.
	done := map[string]bool{}
	var members []expr
	for _, name := range names {
		switch name {
		case "integer":
			name = "number"
		case "string", "number", "boolean", "null", "object", "array":
		default:
			name = "unknown"
		}
		if done[name] {
			continue
		}
		done[name] = true
		switch name {
		case "object":
			members = append(members, w.object(v, depth))
		case "array":
			members = append(members, w.array(v, depth))
		default:
			members = append(members, w.leaf(expr{text: name}))
		}
	}
	return w.union(members...), true
}

// field is one property of an object type.
type field struct {
	key      string
	schema   *value // nil: declared only by required
	required bool
}

// object renders an object schema.
func (w *walker) object(v *value, depth int) expr {
	var props []field
	keys, vals := v.get("properties").members()
	if len(keys) > 0 {
		props = make([]field, len(keys))
		for i, k := range keys {
			props[i] = field{key: k, schema: vals[i]}
		}
	}
	return w.objectOf(props, v.get("required"), v.get("additionalProperties"), v.get("patternProperties"), depth)
}

// objectOf renders properties, the names required (a JSON array), and what
// additionalProperties and patternProperties say about other keys.
func (w *walker) objectOf(props []field, required, additional, patterns *value, depth int) expr {
	declared := make(map[string]bool, len(props))
	for _, p := range props {
		declared[p.key] = true
	}
	if required.isArray() {
		req := make(map[string]bool, len(required.vals))
		for _, n := range required.vals {
			if s, ok := n.stringValue(); ok {
				req[s] = true
			}
		}
		for i := range props {
			props[i].required = props[i].required || req[props[i].key]
		}
		// A required key without a declaration must still be there.
		for _, n := range required.vals {
			if s, ok := n.stringValue(); ok && !declared[s] {
				declared[s] = true
				props = append(props, field{key: s, required: true})
			}
		}
	}

	// Other keys: a schema for them, none allowed (closed), or anything.
	var index []expr
	closed := false
	switch {
	case additional == nil || additional.isTrue():
	case additional.kind == kindBool:
		closed = true
	default:
		index = append(index, w.schema(additional, depth+1))
	}
	if patterns.isObject() {
		for _, p := range patterns.vals {
			index = append(index, w.schema(p, depth+1))
		}
	}
	var rest *expr
	if len(index) > 0 {
		u := w.union(index...)
		rest = &u
	}

	if len(props) == 0 {
		w.size += len("Record<string, >")
		switch {
		case rest != nil:
			return expr{text: "Record<string, " + rest.text + ">"}
		case closed:
			return expr{text: "Record<string, never>"}
		default:
			return expr{text: "Record<string, unknown>"}
		}
	}

	var b strings.Builder
	b.WriteString("{ ")
	indexType := rest
	cut := false
	for _, p := range props {
		if w.over() || len(p.key) > maxOutput-w.size {
			cut = true
			break
		}
		var t expr
		switch {
		case p.schema != nil:
			t = w.schema(p.schema, depth+1)
		case rest != nil:
			t = *rest
		default:
			t = w.leaf(unknownT)
		}
		start := b.Len()
		writeKey(&b, p.key)
		if !p.required {
			b.WriteByte('?')
		}
		b.WriteString(": ")
		b.WriteString(t.text)
		b.WriteString("; ")
		w.size += b.Len() - start - len(t.text)
		// Every property must fit the index signature; when they do not
		// all have its type, widen it rather than emit a type TypeScript
		// rejects.
		if indexType != nil && !covers(*indexType, t) {
			indexType = &unknownT
		}
	}
	if cut {
		indexType = &unknownT
	}
	if indexType != nil {
		b.WriteString("[key: string]: ")
		b.WriteString(indexType.text)
		b.WriteString("; ")
		w.size += len("[key: string]: ; ") + len(indexType.text)
	}
	b.WriteByte('}')
	w.size += 3
	return expr{text: b.String()}
}

// covers reports whether every value of type t is plainly also of type
// index: the same type, or members of the union index is.
func covers(index, t expr) bool {
	if index.text == t.text || index.text == unknownT.text {
		return true
	}
	if index.op != '|' {
		return false
	}
	members := []expr{t}
	if t.op == '|' {
		members = t.parts
	}
	for _, m := range members {
		if !slices.ContainsFunc(index.parts, func(p expr) bool { return p.text == m.text }) {
			return false
		}
	}
	return true
}

// allOf renders members that all apply. When every member is a plain object
// and no property is declared twice, they merge into one object literal,
// which reads better than an intersection of literals.
func (w *walker) allOf(members []*value, depth int) expr {
	if len(members) > 1 {
		if props, required, ok := mergeable(members); ok {
			return w.objectOf(props, required, nil, nil, depth+1)
		}
	}
	parts := make([]expr, 0, len(members))
	for _, m := range members {
		parts = append(parts, w.schema(m, depth+1))
	}
	return w.intersect(parts...)
}

// plainKeys are the keywords a plain object schema may carry: the ones that
// describe properties, and annotations that do not change the type.
var plainKeys = map[string]bool{
	"type": true, "properties": true, "required": true, "additionalProperties": true,
	"title": true, "description": true, "example": true, "examples": true,
	"$comment": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"externalDocs": true, "xml": true,
}

// mergeable reports whether allOf members can merge into one object, and
// returns their properties in order and their required names as one array.
func mergeable(members []*value) ([]field, *value, bool) {
	var props []field
	seen := map[string]bool{}
	required := &value{kind: kindArray}
	for _, m := range members {
		if t, _ := m.get("type").stringValue(); t != "object" && !m.get("properties").isObject() {
			return nil, nil, false
		}
		for i, k := range m.keys {
			if !plainKeys[k] && !strings.HasPrefix(k, "x-") {
				return nil, nil, false
			}
			switch val := m.vals[i]; k {
			case "type":
				if s, _ := val.stringValue(); s != "object" {
					return nil, nil, false
				}
			case "additionalProperties":
				if !val.isTrue() {
					return nil, nil, false
				}
			case "properties":
				if !val.isObject() {
					return nil, nil, false
				}
				names, schemas := val.members()
				for j, name := range names {
					if seen[name] {
						return nil, nil, false
					}
					seen[name] = true
					props = append(props, field{key: name, schema: schemas[j]})
				}
			case "required":
				if val.isArray() {
					required.vals = append(required.vals, val.vals...)
				}
			}
		}
	}
	return props, required, true
}

// array renders an array schema: a list, or a tuple when the items are given
// by position (prefixItems in 2020-12, an items array before it).
func (w *walker) array(v *value, depth int) expr {
	items := v.get("items")
	if prefix := v.get("prefixItems"); prefix.isArray() {
		return w.tuple(prefix.vals, items, depth)
	}
	if items.isArray() {
		return w.tuple(items.vals, v.get("additionalItems"), depth)
	}
	if items == nil {
		return w.leaf(expr{text: "unknown[]"})
	}
	return w.arrayOf(w.schema(items, depth+1))
}

// tuple renders positional items, then rest when it is a schema for the
// items after them.
func (w *walker) tuple(elems []*value, rest *value, depth int) expr {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range elems {
		if w.over() {
			rest = &value{kind: kindBool, b: true}
			break
		}
		if i > 0 {
			b.WriteString(", ")
			w.size += 2
		}
		b.WriteString(w.schema(e, depth+1).text)
	}
	if rest != nil && !(rest.kind == kindBool && !rest.b) {
		if len(elems) > 0 {
			b.WriteString(", ")
		}
		b.WriteString("...")
		b.WriteString(w.arrayOf(w.schema(rest, depth+1)).text)
	}
	b.WriteByte(']')
	w.size += 2 + 5
	return expr{text: b.String()}
}

// arrayOf renders an array of e.
func (w *walker) arrayOf(e expr) expr {
	w.size += 2
	if e.op != 0 {
		w.size += 2
		return expr{text: "(" + e.text + ")[]"}
	}
	return expr{text: e.text + "[]"}
}

// enum renders the allowed values as a union of literals. Past maxEnum
// distinct values (or the output limit) the rest are summed up by their type.
func (w *walker) enum(v, values *value, depth int) expr {
	var members []expr
	seen := map[string]bool{}
	var restKinds []kind
	for _, e := range values.vals {
		w.nodes++
		if len(members) < maxEnum && !w.over() && e.size <= maxOutput-w.size {
			lit := w.literal(e)
			if !seen[lit.text] {
				seen[lit.text] = true
				members = append(members, lit)
			}
			continue
		}
		if !slices.Contains(restKinds, e.kind) {
			restKinds = append(restKinds, e.kind)
		}
	}
	if len(restKinds) > 0 {
		if t, ok := w.typePart(v, depth); ok {
			members = append(members, t)
		} else {
			for _, k := range restKinds {
				members = append(members, w.leaf(kindType(k)))
			}
		}
	}
	return w.union(members...)
}

// kindType is the TypeScript type of any JSON value of kind k.
func kindType(k kind) expr {
	switch k {
	case kindNull:
		return nullT
	case kindBool:
		return booleanT
	case kindNumber:
		return numberT
	case kindString:
		return stringT
	case kindArray:
		return expr{text: "unknown[]"}
	case kindObject:
		return expr{text: "Record<string, unknown>"}
	}
	return unknownT
}

// literal renders a JSON value as the literal type of exactly that value.
func (w *walker) literal(v *value) expr {
	w.nodes++
	if w.over() {
		return w.leaf(unknownT)
	}
	switch v.kind {
	case kindNull:
		return w.leaf(nullT)
	case kindBool:
		if v.b {
			return w.leaf(expr{text: "true"})
		}
		return w.leaf(expr{text: "false"})
	case kindNumber:
		e := expr{text: v.str}
		if strings.HasPrefix(v.str, "-") {
			e.op = '-' // -1[] would not parse as an array of -1
		}
		return w.leaf(e)
	case kindString:
		return w.leaf(expr{text: quote(v.str)})
	case kindArray:
		var b strings.Builder
		b.WriteByte('[')
		for i, e := range v.vals {
			if i > 0 {
				b.WriteString(", ")
				w.size += 2
			}
			b.WriteString(w.literal(e).text)
		}
		b.WriteByte(']')
		w.size += 2
		return expr{text: b.String()}
	case kindObject:
		if len(v.keys) == 0 {
			return w.leaf(expr{text: "{}"})
		}
		var b strings.Builder
		b.WriteString("{ ")
		keys, vals := v.members()
		for i, k := range keys {
			start := b.Len()
			writeKey(&b, k)
			b.WriteString(": ")
			t := w.literal(vals[i]).text
			b.WriteString(t)
			b.WriteString("; ")
			w.size += b.Len() - start - len(t)
		}
		b.WriteByte('}')
		w.size += 3
		return expr{text: b.String()}
	}
	return w.leaf(unknownT)
}

// union renders "A | B". Members are flattened and deduplicated in order;
// never drops out, and unknown absorbs everything.
func (w *walker) union(members ...expr) expr {
	return w.join('|', unknownT, neverT, members)
}

// intersect renders "A & B". Members are flattened and deduplicated in
// order; unknown drops out, and never absorbs everything.
func (w *walker) intersect(members ...expr) expr {
	return w.join('&', neverT, unknownT, members)
}

// join renders members joined by op ('|' or '&'): nested joins of the same
// op are flattened, repeats and identity dropped, and absorbing stands for
// the whole when any member is it. Unions inside an intersection are
// parenthesised.
func (w *walker) join(op byte, absorbing, identity expr, members []expr) expr {
	var flat []expr
	seen := map[string]bool{}
	for _, m := range members {
		sub := []expr{m}
		if m.op == op {
			sub = m.parts
		}
		for _, s := range sub {
			switch {
			case s.text == absorbing.text:
				return absorbing
			case s.text == identity.text || seen[s.text]:
				continue
			}
			seen[s.text] = true
			flat = append(flat, s)
		}
	}
	switch len(flat) {
	case 0:
		return identity
	case 1:
		return flat[0]
	}
	var b strings.Builder
	for i, s := range flat {
		if i > 0 {
			b.WriteByte(' ')
			b.WriteByte(op)
			b.WriteByte(' ')
		}
		if op == '&' && s.op == '|' {
			b.WriteString("(" + s.text + ")")
			w.size += 2
		} else {
			b.WriteString(s.text)
		}
	}
	w.size += 3 * (len(flat) - 1)
	return expr{text: b.String(), op: op, parts: flat}
}

// writeKey writes a property name: bare when it is an identifier, otherwise
// as a string literal.
func writeKey(b *strings.Builder, key string) {
	if isIdentifierName(key) {
		b.WriteString(key)
	} else {
		b.WriteString(quote(key))
	}
}

// isIdentifierName reports whether s can be a property name as it stands.
// Only ASCII names count; others are quoted, which is always valid.
func isIdentifierName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '$':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// quote writes s as a JSON string literal, which is also a TypeScript one.
// Line and paragraph separators are escaped too: raw, they end a line in
// older parsers.
func quote(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029':
			b.WriteString(`\u`)
			b.WriteByte(hex[r>>12&0xf])
			b.WriteByte(hex[r>>8&0xf])
			b.WriteByte(hex[r>>4&0xf])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
