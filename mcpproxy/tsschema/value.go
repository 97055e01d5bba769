package tsschema

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
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
	// past maxValues). It is skipped, not decoded, so hostile nesting costs
	// one scan and no stack.
	kindDeep
	// kindLazy is a value left undecoded in raw, to be decoded on its own.
	kindLazy
)

// maxJSONDepth bounds how deep the decoder builds values. A schema level
// takes at most three JSON levels (properties → name → schema), so this is
// well past the point where rendering gives up anyway (maxDepth).
const maxJSONDepth = 128

// value is a decoded JSON value that, unlike map[string]any, keeps object
// keys in the order the document gives them: property order is part of the
// rendered type.
type value struct {
	kind       kind
	b          bool     // kindBool
	start, end int32    // where the value is in the document
	str        string   // kindString: the text; kindNumber: the literal as written
	keys       []string // kindObject: member names, in order, repeats included
	vals       []*value // kindObject: member values; kindArray: elements
}

// size is the length of the value's JSON text.
func (v *value) size() int { return int(v.end - v.start) }

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

// maxValues bounds how many values one decode builds. Past it the rest of the
// document is only scanned: values become kindDeep and object members are
// dropped. The output limit lets far fewer values matter anyway.
const maxValues = 1 << 15

// decode parses one JSON document. Containers nested deeper than
// maxJSONDepth, and all containers after the first maxValues values, become
// kindDeep values: the bytes inside them are only scanned for balance.
func decode(data []byte) (*value, error) {
	return decodeWith(data, false)
}

// decodeSchema is decode for a schema whose own definitions ($defs,
// definitions) will be decoded on their own: their members stay undecoded
// (kindLazy), so they do not take the schema's share of maxValues.
func decodeSchema(data []byte) (*value, error) {
	return decodeWith(data, true)
}

func decodeWith(data []byte, lazyDefs bool) (*value, error) {
	if len(data) > math.MaxInt32 { // offsets are int32
		return nil, errSyntax
	}
	d := decoder{data: data, src: string(data), lazyDefs: lazyDefs, validUTF8: utf8.Valid(data)}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.pos != len(d.data) {
		return nil, errSyntax
	}
	return v, nil
}

type decoder struct {
	data      []byte
	src       string // data as a string: unescaped strings are cut from it without copying
	pos       int
	validUTF8 bool // data is valid UTF-8, so unescaped strings need no check
	lazyDefs  bool
	count     int      // values built
	slab      []value  // values are allocated from here, many at a time
	keyStack  []string // members of the containers being decoded
	valStack  []*value
	keyArena  []string // small containers' members are carved from these
	valArena  []*value
	chunks    [3]int // the last chunk sizes of slab, keyArena and valArena
}

// grow sizes the next chunk of an arena: small for small documents, which
// are most, and doubling up to a few KiB for large ones.
func grow(last *int, need int) int {
	*last = max(need, min(2**last, 512), 8)
	return *last
}

// keepKeys copies the members of a finished object out of the stack.
func (d *decoder) keepKeys(src []string) []string {
	n := len(src)
	if n == 0 || n > 64 {
		return slices.Clone(src)
	}
	if len(d.keyArena) < n {
		d.keyArena = make([]string, grow(&d.chunks[1], n))
	}
	out := d.keyArena[:n:n]
	d.keyArena = d.keyArena[n:]
	copy(out, src)
	return out
}

// keepVals copies the values of a finished container out of the stack.
func (d *decoder) keepVals(src []*value) []*value {
	n := len(src)
	if n == 0 || n > 64 {
		return slices.Clone(src)
	}
	if len(d.valArena) < n {
		d.valArena = make([]*value, grow(&d.chunks[2], n))
	}
	out := d.valArena[:n:n]
	d.valArena = d.valArena[n:]
	copy(out, src)
	return out
}

func (d *decoder) alloc(k kind) *value {
	if len(d.slab) == 0 {
		d.slab = make([]value, grow(&d.chunks[0], 1))
	}
	v := &d.slab[0]
	d.slab = d.slab[1:]
	v.kind = k
	return v
}

func (d *decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (*value, error) {
	d.space()
	if d.pos >= len(d.data) {
		return nil, errSyntax
	}
	start := d.pos
	d.count++
	if d.count > maxValues {
		if err := d.skip(); err != nil {
			return nil, err
		}
		return &elided, nil
	}
	var v *value
	var err error
	switch c := d.data[d.pos]; {
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			if err := d.skipContainer(); err != nil {
				return nil, err
			}
			v = d.alloc(kindDeep)
		} else if c == '{' {
			v, err = d.object(depth)
		} else {
			v, err = d.array(depth)
		}
	case c == '"':
		var s string
		s, err = d.string()
		v = d.alloc(kindString)
		v.str = s
	case c == 't':
		err = d.literal("true")
		v = d.alloc(kindBool)
		v.b = true
	case c == 'f':
		err = d.literal("false")
		v = d.alloc(kindBool)
	case c == 'n':
		err = d.literal("null")
		v = d.alloc(kindNull)
	case c == '-' || (c >= '0' && c <= '9'):
		err = d.number()
		v = d.alloc(kindNumber)
		v.str = d.src[start:d.pos]
	default:
		return nil, errSyntax
	}
	if err != nil {
		return nil, err
	}
	v.start, v.end = int32(start), int32(d.pos)
	return v, nil
}

// elided stands for every value past maxValues. It is never modified.
var elided = value{kind: kindDeep}

// lazy scans past one value and returns it undecoded.
func (d *decoder) lazy() (*value, error) {
	d.space()
	start := d.pos
	if err := d.skip(); err != nil {
		return nil, err
	}
	v := d.alloc(kindLazy)
	v.start, v.end = int32(start), int32(d.pos)
	return v, nil
}

// skip moves past one value without decoding it.
func (d *decoder) skip() error {
	if d.pos >= len(d.data) {
		return errSyntax
	}
	var err error
	switch c := d.data[d.pos]; {
	case c == '{' || c == '[':
		err = d.skipContainer()
	case c == '"':
		err = d.skipString()
	case c == 't':
		err = d.literal("true")
	case c == 'f':
		err = d.literal("false")
	case c == 'n':
		err = d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		err = d.number()
	default:
		err = errSyntax
	}
	return err
}

func (d *decoder) object(depth int) (*value, error) {
	d.pos++ // {
	v := d.alloc(kindObject)
	// Arrays push values only, so the two stacks have their own bases.
	base, vbase := len(d.keyStack), len(d.valStack)
	defer func() {
		d.keyStack = d.keyStack[:base]
		d.valStack = d.valStack[:vbase]
	}()
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return v, nil
	}
	for {
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, errSyntax
		}
		key, err := d.string()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, errSyntax
		}
		d.pos++
		keep := d.count < maxValues // past the budget, members are dropped
		var member *value
		if depth == 0 && d.lazyDefs && (key == "$defs" || key == "definitions") {
			member, err = d.lazyMembers()
		} else {
			member, err = d.value(depth + 1)
		}
		if err != nil {
			return nil, err
		}
		if keep {
			d.keyStack = append(d.keyStack, key)
			d.valStack = append(d.valStack, member)
		}
		d.space()
		if d.pos >= len(d.data) {
			return nil, errSyntax
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			v.keys = d.keepKeys(d.keyStack[base:])
			v.vals = d.keepVals(d.valStack[vbase:])
			return v, nil
		default:
			return nil, errSyntax
		}
	}
}

// lazyMembers decodes an object whose member values stay undecoded, or any
// other value as usual.
func (d *decoder) lazyMembers() (*value, error) {
	d.space()
	if d.pos >= len(d.data) || d.data[d.pos] != '{' {
		return d.value(1)
	}
	start := d.pos
	d.pos++
	v := d.alloc(kindObject)
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		v.start, v.end = int32(start), int32(d.pos)
		return v, nil
	}
	for {
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, errSyntax
		}
		key, err := d.string()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, errSyntax
		}
		d.pos++
		keep := d.count < maxValues
		d.count++
		member, err := d.lazy()
		if err != nil {
			return nil, err
		}
		if keep {
			v.keys = append(v.keys, key)
			v.vals = append(v.vals, member)
		}
		d.space()
		if d.pos >= len(d.data) {
			return nil, errSyntax
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			v.start, v.end = int32(start), int32(d.pos)
			return v, nil
		default:
			return nil, errSyntax
		}
	}
}

func (d *decoder) array(depth int) (*value, error) {
	d.pos++ // [
	v := d.alloc(kindArray)
	base := len(d.valStack)
	defer func() { d.valStack = d.valStack[:base] }()
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return v, nil
	}
	for {
		elem, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		d.valStack = append(d.valStack, elem)
		d.space()
		if d.pos >= len(d.data) {
			return nil, errSyntax
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			v.vals = d.keepVals(d.valStack[base:])
			return v, nil
		default:
			return nil, errSyntax
		}
	}
}

// skipContainer moves past one object or array without decoding it,
// checking only that brackets balance outside strings.
func (d *decoder) skipContainer() error {
	var stack []byte
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; c {
		case '{', '[':
			stack = append(stack, c)
			d.pos++
		case '}', ']':
			if len(stack) == 0 || (c == '}') != (stack[len(stack)-1] == '{') {
				return errSyntax
			}
			stack = stack[:len(stack)-1]
			d.pos++
			if len(stack) == 0 {
				return nil
			}
		case '"':
			if err := d.skipString(); err != nil {
				return err
			}
		default:
			d.pos++
		}
	}
	return errSyntax
}

// skipString moves past one string without decoding it.
func (d *decoder) skipString() error {
	for p := d.pos + 1; p < len(d.data); p++ {
		switch d.data[p] {
		case '\\':
			p++
		case '"':
			d.pos = p + 1
			return nil
		}
	}
	return errSyntax
}

func (d *decoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return errSyntax
	}
	d.pos += len(word)
	return nil
}

// number checks the JSON number grammar, so that the text can be used as a
// TypeScript literal type as it stands (no leading zeros, no bare dots).
func (d *decoder) number() error {
	p := d.pos
	if p < len(d.data) && d.data[p] == '-' {
		p++
	}
	switch {
	case p < len(d.data) && d.data[p] == '0':
		p++
	case p < len(d.data) && d.data[p] >= '1' && d.data[p] <= '9':
		for p < len(d.data) && isDigit(d.data[p]) {
			p++
		}
	default:
		return errSyntax
	}
	if p < len(d.data) && d.data[p] == '.' {
		p++
		if p >= len(d.data) || !isDigit(d.data[p]) {
			return errSyntax
		}
		for p < len(d.data) && isDigit(d.data[p]) {
			p++
		}
	}
	if p < len(d.data) && (d.data[p] == 'e' || d.data[p] == 'E') {
		p++
		if p < len(d.data) && (d.data[p] == '+' || d.data[p] == '-') {
			p++
		}
		if p >= len(d.data) || !isDigit(d.data[p]) {
			return errSyntax
		}
		for p < len(d.data) && isDigit(d.data[p]) {
			p++
		}
	}
	d.pos = p
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// string decodes a JSON string starting at the opening quote. Invalid UTF-8
// and lone surrogates become U+FFFD, as in encoding/json.
func (d *decoder) string() (string, error) {
	p := d.pos + 1
	start := p
	for p < len(d.data) {
		c := d.data[p]
		if c == '"' {
			d.pos = p + 1
			if s := d.src[start:p]; d.validUTF8 || utf8.ValidString(s) {
				return s, nil
			}
			return string([]rune(d.src[start:p])), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", errSyntax
		}
		p++
	}
	// Slow path: the string has escapes.
	buf := make([]byte, 0, p-start+16)
	buf = append(buf, d.data[start:p]...)
	for p < len(d.data) {
		c := d.data[p]
		switch {
		case c == '"':
			d.pos = p + 1
			if utf8.Valid(buf) {
				return string(buf), nil
			}
			return string([]rune(string(buf))), nil
		case c < 0x20:
			return "", errSyntax
		case c != '\\':
			buf = append(buf, c)
			p++
			continue
		}
		if p+1 >= len(d.data) {
			return "", errSyntax
		}
		p++
		switch d.data[p] {
		case '"', '\\', '/':
			buf = append(buf, d.data[p])
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(d.data, p+1)
			if !ok {
				return "", errSyntax
			}
			p += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(d.data, p+3); ok && d.data[p+1] == '\\' && d.data[p+2] == 'u' {
					if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
						r = pair
						p += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", errSyntax
		}
		p++
	}
	return "", errSyntax
}

// hex4 reads four hex digits at data[at:].
func hex4(data []byte, at int) (rune, bool) {
	if at < 0 || at+4 > len(data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[at:at+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}
