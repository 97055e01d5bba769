package tsschema

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxIdentifier caps the length of a generated identifier; a longer name is
// cut and, if that makes it collide, numbered like any other collision.
const maxIdentifier = 96

// reserved holds the words a definition may not be named after: the words
// TypeScript reserves or gives meaning in type positions, the globals this
// package's output refers to (Record), and the names tools.describe.tool adds
// next to a tool's own definitions.
var reserved = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		break case catch class const continue debugger default delete do else enum export
		extends false finally for function if import in instanceof new null return super
		switch this throw true try typeof var void while with
		as implements interface let package private protected public static yield
		any asserts async await bigint boolean constructor declare get infer intrinsic is
		keyof module namespace never number object of readonly require set string symbol
		type undefined unique unknown accessor out satisfies using global
		Record ToolError ToolHttpMeta ToolFile ToolResult`) {
		m[w] = true
	}
	return m
}()

// identLetter reports whether r may be part of a generated identifier: an
// ASCII letter, or a letter of a script whose letters have been in Unicode
// since its first versions. Letters added later are dropped, since the parser
// that reads our output (an agent's TypeScript toolchain) may predate them.
func identLetter(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	case r >= 0x00C0 && r <= 0x017F, // Latin-1 Supplement, Latin Extended-A
		r >= 0x0386 && r <= 0x03CE, // Greek
		r >= 0x0401 && r <= 0x045F, // Cyrillic
		r >= 0x3041 && r <= 0x3094, // Hiragana
		r >= 0x30A1 && r <= 0x30FA, // Katakana
		r >= 0x4E00 && r <= 0x9FA5, // CJK Unified Ideographs (Unicode 1.1)
		r >= 0xAC00 && r <= 0xD7A3: // Hangul syllables
		return unicode.IsLetter(r)
	}
	return false
}

// sanitize turns a name into a PascalCase TypeScript identifier: the runs of
// letters (see identLetter) and digits become words, each word gets an
// upper-case first letter, everything else is dropped. It does not avoid collisions or reserved words.
func sanitize(name string) string {
	var b strings.Builder
	upper := true
	for _, r := range name {
		switch {
		case identLetter(r):
			if upper {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
			upper = false
		case r >= '0' && r <= '9':
			if b.Len() == 0 {
				b.WriteByte('_') // an identifier cannot start with a digit
			}
			b.WriteRune(r)
			upper = true // "v2beta" reads as V2Beta
		default:
			upper = true
		}
		if b.Len() >= maxIdentifier {
			break
		}
	}
	if b.Len() == 0 {
		return "Type"
	}
	return b.String()
}

// Identifier returns the TypeScript identifier that stands for the
// definition called name, e.g. "pet-store.Pet v2" → "PetStorePetV2". The
// identifier is valid, never a reserved word, and stable: the same name gets
// the same identifier for the life of the Renderer. Names that sanitise to
// the same identifier are told apart by a numeric suffix (Pet, Pet2, …); the
// definitions given to NewRenderer are numbered in sorted order, later names
// in the order they are first seen.
func (r *Renderer) Identifier(name string) string {
	return r.ident(name)
}

// ident returns the identifier of a definition key, assigning one on first
// sight. Keys of shadowed local definitions carry a suffix after a NUL; the
// identifier is made from the name before it.
func (r *Renderer) ident(key string) string {
	if id, ok := r.idents[key]; ok {
		return id
	}
	name, _, _ := strings.Cut(key, "\x00")
	base := sanitize(name)
	id := base
	for n := 2; reserved[id] || r.taken[id]; n++ {
		id = base + strconv.Itoa(n)
	}
	r.idents[key] = id
	r.taken[id] = true
	return id
}
