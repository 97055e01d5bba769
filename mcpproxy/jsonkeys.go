package mcpproxy

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// duplicateKey returns the first key of an object in body that equals an
// earlier key of the same object under encoding/json's case folding. body
// must be valid JSON (json.Valid), whose nesting encoding/json caps at 10,000.
//
// encoding/json matches struct fields case-insensitively and lets the last
// of several matching keys win, so {"name":"safe","Name":"delete_repo"} reads
// one way here and another way to a reader that takes the first key or
// compares exactly (security.md D8); such a message is refused outright.
//
// It is one pass over the bytes with no allocation for keys without
// escapes, as it runs on every MCP request: with json.Decoder.Token, which
// allocates for every token, checking a tools/call of execute took 20 µs
// in all (inspectMessage), now 6.
func duplicateKey(body []byte) (string, bool) {
	type frame struct {
		object, expectKey bool
		first             int             // this object's first key in keys
		folded            map[string]bool // once the object has many keys
	}
	var frameBuf [16]frame
	var keyBuf [32][]byte
	frames, keys := frameBuf[:0], keyBuf[:0] // keys of the open objects, innermost last
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{', '[':
			frames = append(frames, frame{object: c == '{', expectKey: c == '{', first: len(keys)})
		case '}', ']':
			keys = keys[:frames[len(frames)-1].first]
			frames = frames[:len(frames)-1]
		case ',':
			if top := &frames[len(frames)-1]; top.object {
				top.expectKey = true
			}
		case '"':
			start, escaped := i+1, false
			for i++; body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
					escaped = true
				}
			}
			if len(frames) == 0 {
				continue
			}
			top := &frames[len(frames)-1]
			if !top.object || !top.expectKey {
				continue
			}
			top.expectKey = false
			key := body[start:i]
			if escaped {
				var s string
				_ = json.Unmarshal(body[start-1:i+1], &s) // valid: json.Valid passed
				key = []byte(s)
			}
			if top.folded != nil {
				f := string(foldName(key))
				if top.folded[f] {
					return string(key), true
				}
				top.folded[f] = true
				continue
			}
			for _, k := range keys[top.first:] {
				if bytes.EqualFold(k, key) {
					return string(key), true
				}
			}
			keys = append(keys, key)
			if n := len(keys) - top.first; n > len(keyBuf) {
				// Comparing each new key with all earlier ones would be
				// quadratic in a large object.
				top.folded = make(map[string]bool, 2*n)
				for _, k := range keys[top.first:] {
					top.folded[string(foldName(k))] = true
				}
			}
		}
	}
	return "", false
}

// maxMessageValues caps the JSON values (objects, arrays, strings, numbers,
// literals) in one MCP message: no message this endpoint takes needs many,
// and a 4 MiB body of 10^6 tiny array elements costs every JSON decoder
// behind it tens of MB (security.md L9).
const maxMessageValues = 100_000

// jsonValues counts the values in body, which must be valid JSON, up to
// limit: one for the top-level value, and one for each array element and
// object member.
func jsonValues(body []byte, limit int) int {
	n := 1
	for i := 0; i < len(body) && n < limit; i++ {
		switch body[i] {
		case ',':
			n++
		case '[', '{':
			// The first element or member, if there is one.
			j := i + 1
			for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
				j++
			}
			if j < len(body) && body[j] != ']' && body[j] != '}' {
				n++
			}
		case '"':
			for i++; body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
		}
	}
	return n
}

// validUnicode reports whether body, valid JSON, is valid UTF-8 and escapes
// no lone UTF-16 surrogate (security.md D5).
func validUnicode(body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	for i := 0; i+5 < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		if body[i+1] != 'u' {
			i++ // an escaped character: skip it, so that \\u is not read as \u
			continue
		}
		r := hexRune(body[i+2 : i+6])
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if i+11 >= len(body) || body[i+6] != '\\' || body[i+7] != 'u' {
				return false
			}
			if low := hexRune(body[i+8 : i+12]); low < 0xDC00 || low > 0xDFFF {
				return false
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return false
		default:
			i += 5
		}
	}
	return true
}

// hexRune reads four hex digits (valid JSON has them after \u).
func hexRune(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		default:
			r = r<<4 | rune(c-'A'+10)
		}
	}
	return r
}

// validID reports whether a JSON-RPC id is one that survives a round trip
// through any decoder: a string, or an integer JavaScript can hold exactly
// (security.md D7). mcp-go reads numeric ids as float64, so 2^63 came back
// as 9223372036854775808 rounded; fractions, exponents, -0, null, objects
// and arrays are not ids MCP allows.
func validID(id json.RawMessage) bool {
	switch s := string(id); {
	case s[0] == '"':
		return true
	case s == "-0":
		return false
	default:
		n, err := strconv.ParseInt(s, 10, 64)
		return err == nil && n >= -(1<<53) && n <= 1<<53
	}
}

// foldName returns a form of name such that foldName(x) == foldName(y)
// exactly when bytes.EqualFold(x, y), as encoding/json folds field names.
func foldName(name []byte) []byte {
	out := make([]byte, 0, len(name))
	for i := 0; i < len(name); {
		if c := name[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(name[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

// foldRune returns the smallest rune of r's case-folding orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
