package tsschema

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// kind is the JSON type of a value.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
	// kindDeep stands for a container nested deeper than maxJSONDepth (or
	// any value past maxValues). What is inside is not converted.
	kindDeep
	// kindLazy is a value left unconverted: str holds its JSON, compact, to
	// be decoded on its own.
	kindLazy
)

// maxJSONDepth bounds how deep values are built. A schema level takes at
// most three JSON levels (properties → name → schema), so this is well past
// the point where rendering gives up anyway (maxDepth). Documents nested
// deeper than fastjson.MaxDepth (300) do not parse at all.
const maxJSONDepth = 128

// value is a decoded JSON value that, unlike map[string]any, keeps object
// keys in the order the document gives them: property order is part of the
// rendered type. Values are built from a fastjson parse and, unlike
// fastjson's, outlive the parser.
type value struct {
	kind kind
	b    bool     // kindBool
	size int      // about the length of the value's JSON text; 0 for kindDeep
	str  string   // kindString: the text; kindNumber: the literal as written; kindLazy: the JSON
	keys []string // kindObject: member names, in order, repeats included
	vals []*value // kindObject: member values; kindArray: elements
}

// get returns the member named key of an object, or nil. Of repeated
// members the last counts, as in encoding/json.
func (v *value) get(key string) *value {
	if v == nil || v.kind != kindObject {
		return nil
	}
	for i := len(v.keys) - 1; i >= 0; i-- {
		if v.keys[i] == key {
			return v.vals[i]
		}
	}
	return nil
}

// members returns the members of an object with repeats merged: a repeated
// key keeps its first position and its last value.
func (v *value) members() ([]string, []*value) {
	if !v.isObject() {
		return nil, nil
	}
	var index map[string]int
	if len(v.keys) > 16 {
		index = make(map[string]int, len(v.keys))
	}
	find := func(keys []string, key string) (int, bool) {
		if index != nil {
			i, ok := index[key]
			return i, ok
		}
		for i, k := range keys {
			if k == key {
				return i, true
			}
		}
		return 0, false
	}
	for i, k := range v.keys {
		if _, dup := find(v.keys[:i], k); dup {
			// Rare: copy, then merge.
			keys, vals := slices.Clone(v.keys[:i]), slices.Clone(v.vals[:i])
			for j := i; j < len(v.keys); j++ {
				if at, ok := find(keys, v.keys[j]); ok {
					vals[at] = v.vals[j]
					continue
				}
				if index != nil {
					index[v.keys[j]] = len(keys)
				}
				keys = append(keys, v.keys[j])
				vals = append(vals, v.vals[j])
			}
			return keys, vals
		}
		if index != nil {
			index[k] = i
		}
	}
	return v.keys, v.vals
}

// isObject reports whether v is a JSON object.
func (v *value) isObject() bool { return v != nil && v.kind == kindObject }

// isArray reports whether v is a JSON array.
func (v *value) isArray() bool { return v != nil && v.kind == kindArray }

// stringValue returns the text of a JSON string and whether v is one.
func (v *value) stringValue() (string, bool) {
	if v == nil || v.kind != kindString {
		return "", false
	}
	return v.str, true
}

// isTrue reports whether v is the JSON literal true.
func (v *value) isTrue() bool { return v != nil && v.kind == kindBool && v.b }

var errSyntax = errors.New("tsschema: invalid JSON")

// maxValues bounds how many values one decode builds. Past it values become
// kindDeep and object members are dropped. The output limit lets far fewer
// values matter anyway.
const maxValues = 1 << 15

// parsers are reused: a parser keeps its buffers. A caller holds one for a
// whole rendering, not just the parse, so that collections while it renders
// do not empty the pool. Values are converted before the next parse.
var parsers fastjson.ParserPool

// decode parses one JSON document with p. Containers nested deeper than
// maxJSONDepth, and all values after the first maxValues, become kindDeep.
func decode(p *fastjson.Parser, data []byte) (*value, error) {
	return decodeWith(p, data, false)
}

// decodeSchema is decode for a schema whose own definitions ($defs,
// definitions) will be decoded on their own: their members stay unconverted
// (kindLazy), so they do not take the schema's share of maxValues.
func decodeSchema(p *fastjson.Parser, data []byte) (*value, error) {
	return decodeWith(p, data, true)
}

// decodeWith parses data with p and converts what it gets. Strings are read
// as fastjson reads them: a control character or an unknown escape in one is
// taken as it stands, and an escaped lone surrogate stays an escape. Numbers
// must be JSON numbers, since they are written out as they stand.
func decodeWith(p *fastjson.Parser, data []byte, lazyDefs bool) (*value, error) {
	root, err := p.ParseBytes(data)
	if err != nil {
		return nil, errSyntax
	}
	c := converter{lazyDefs: lazyDefs, validUTF8: utf8.Valid(data)}
	// The text is at most the document's, so a small one takes one chunk.
	c.text.Grow(grow(&c.chunks[3], min(len(data), textChunk), textChunk))
	v := c.value(root, 0)
	if c.badNumber {
		return nil, errSyntax
	}
	return v, nil
}

// converter builds values from a parsed document.
type converter struct {
	text      strings.Builder // holds the short strings, copied out of the parser's buffer
	scratch   []byte
	validUTF8 bool // the document is valid UTF-8, so its strings need no check
	lazyDefs  bool
	badNumber bool // a number is not a JSON number
	count     int  // values visited
	// Values and members are carved from these, many at a time.
	slab   []value
	strs   []string
	ptrs   []*value
	chunks [4]int // the last chunk sizes of slab, strs, ptrs and text
}

// grow sizes the next chunk of an arena: small for small documents, which
// are most, and doubling up to limit for large ones.
func grow(last *int, need, limit int) int {
	*last = max(need, min(2**last, limit), 8)
	return *last
}

// carve takes n elements from *arena, refilling it in chunks.
func carve[T any](arena *[]T, last *int, n int) []T {
	if n > 64 {
		return make([]T, n)
	}
	if len(*arena) < n {
		*arena = make([]T, grow(last, n, 512))
	}
	out := (*arena)[:n:n]
	*arena = (*arena)[n:]
	return out
}

func (c *converter) alloc(k kind) *value {
	v := &carve(&c.slab, &c.chunks[0], 1)[0]
	v.kind = k
	return v
}

// string copies b out of the parser's buffer. Invalid UTF-8 becomes U+FFFD,
// as in encoding/json.
func (c *converter) string(b []byte) string {
	if !c.validUTF8 && !utf8.Valid(b) {
		return string([]rune(string(b)))
	}
	if len(b) > 4096 {
		return string(b)
	}
	if c.text.Cap()-c.text.Len() < len(b) {
		c.text = strings.Builder{} // the strings cut from the last chunk keep it
		c.text.Grow(grow(&c.chunks[3], len(b), textChunk))
	}
	start := c.text.Len()
	c.text.Write(b)
	return c.text.String()[start:]
}

// textChunk is the largest chunk of text that short strings share.
const textChunk = 64 << 10

// elided stands for every value past maxValues. It is never modified.
var elided = value{kind: kindDeep}

func (c *converter) value(v *fastjson.Value, depth int) *value {
	c.count++
	if c.count > maxValues {
		return &elided
	}
	switch v.Type() {
	case fastjson.TypeObject:
		if depth >= maxJSONDepth {
			return c.alloc(kindDeep)
		}
		o, _ := v.Object()
		out := c.alloc(kindObject)
		room := min(o.Len(), maxValues-c.count) // members kept, at most
		out.keys = carve(&c.strs, &c.chunks[1], room)
		out.vals = carve(&c.ptrs, &c.chunks[2], room)
		n, size := 0, 2
		o.Visit(func(k []byte, m *fastjson.Value) {
			keep := c.count < maxValues // past the budget, members are dropped
			var member *value
			if depth == 0 && c.lazyDefs && (string(k) == "$defs" || string(k) == "definitions") {
				member = c.lazyMembers(m)
			} else {
				member = c.value(m, depth+1)
			}
			if keep {
				out.keys[n], out.vals[n] = c.string(k), member
				n++
				size += len(k) + 4 + member.size
			}
		})
		out.keys, out.vals, out.size = out.keys[:n], out.vals[:n], size
		return out
	case fastjson.TypeArray:
		if depth >= maxJSONDepth {
			return c.alloc(kindDeep)
		}
		elems, _ := v.Array()
		out := c.alloc(kindArray)
		out.vals = carve(&c.ptrs, &c.chunks[2], len(elems))
		out.size = 2
		for i, e := range elems {
			out.vals[i] = c.value(e, depth+1)
			out.size += out.vals[i].size + 1
		}
		return out
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		out := c.alloc(kindString)
		out.str, out.size = c.string(b), len(b)+2
		return out
	case fastjson.TypeNumber:
		c.scratch = v.MarshalTo(c.scratch[:0]) // the literal as written
		// The parser takes any run of digits, signs, dots and exponents,
		// and nan and inf; the validator does not.
		if fastjson.ValidateBytes(c.scratch) != nil {
			c.badNumber = true
		}
		out := c.alloc(kindNumber)
		out.str, out.size = c.string(c.scratch), len(c.scratch)
		return out
	case fastjson.TypeTrue:
		out := c.alloc(kindBool)
		out.b, out.size = true, 4
		return out
	case fastjson.TypeFalse:
		out := c.alloc(kindBool)
		out.size = 5
		return out
	default:
		out := c.alloc(kindNull)
		out.size = 4
		return out
	}
}

// lazyMembers converts an object whose member values stay unconverted, or
// any other value as usual. A member's JSON is taken before anything reads
// it, so it is the document's text less white space: fastjson unescapes in
// place, and would re-escape what was read.
func (c *converter) lazyMembers(v *fastjson.Value) *value {
	o, err := v.Object()
	if err != nil {
		return c.value(v, 1)
	}
	out := c.alloc(kindObject)
	o.Visit(func(k []byte, m *fastjson.Value) {
		keep := c.count < maxValues
		c.count++
		if !keep {
			return
		}
		c.scratch = m.MarshalTo(c.scratch[:0])
		lazy := c.alloc(kindLazy)
		lazy.str, lazy.size = c.string(c.scratch), len(c.scratch)
		out.keys = append(out.keys, c.string(k))
		out.vals = append(out.vals, lazy)
	})
	return out
}
