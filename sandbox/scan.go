package sandbox

// A light JavaScript/TypeScript tokenizer, just enough to find the top-level
// shape of a program (is it one function? does it `export default`?) without
// being fooled by strings, comments, templates or regular expressions. It is
// not a parser: esbuild has the last word on syntax.

type tokKind uint8

const (
	tokIdent  tokKind = iota // identifiers and keywords
	tokPunct                 // operators and brackets
	tokString                // '…', "…", `…` (a whole template, substitutions included)
	tokNumber
	tokRegexp
)

type token struct {
	kind       tokKind
	start, end int // byte offsets in the source
	depth      int // bracket depth before the token ((, [, {)
	text       string
}

// keywords after which a "/" starts a regular expression.
var regexpAfter = map[string]bool{
	"return": true, "typeof": true, "instanceof": true, "in": true, "of": true, "new": true,
	"delete": true, "void": true, "throw": true, "case": true, "do": true, "else": true,
	"yield": true, "await": true,
}

// scan tokenizes src. Unterminated constructs end the token stream quietly.
func scan(src string) []token {
	var toks []token
	depth := 0
	n := len(src)
	regexpOK := true // at the start, a "/" begins a regular expression
	for i := 0; i < n; {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			i++
			continue
		case c == '/' && i+1 < n && src[i+1] == '/':
			for i < n && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < n && src[i+1] == '*':
			end := indexFrom(src, "*/", i+2)
			if end < 0 {
				return toks
			}
			i = end + 2
			continue
		}
		start := i
		t := token{start: start, depth: depth}
		switch {
		case isIdentStart(c):
			for i < n && isIdentPart(src[i]) {
				i++
			}
			t.kind = tokIdent
			t.text = src[start:i]
			regexpOK = regexpAfter[t.text]
		case c >= '0' && c <= '9' || c == '.' && i+1 < n && src[i+1] >= '0' && src[i+1] <= '9':
			for i < n && (isIdentPart(src[i]) || src[i] == '.') {
				i++
			}
			t.kind = tokNumber
			regexpOK = false
		case c == '"' || c == '\'':
			i = skipQuoted(src, i)
			t.kind = tokString
			regexpOK = false
		case c == '`':
			i = skipTemplate(src, i)
			t.kind = tokString
			regexpOK = false
		case c == '/' && regexpOK:
			i = skipRegexp(src, i)
			t.kind = tokRegexp
			regexpOK = false
		default:
			i = punctEnd(src, i)
			t.kind = tokPunct
			t.text = src[start:i]
			switch t.text {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth--
				t.depth = depth
			}
			regexpOK = t.text != ")" && t.text != "]" && t.text != "}"
		}
		if i > n {
			i = n
		}
		t.end = i
		toks = append(toks, t)
	}
	return toks
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$' || c == '#' || c >= 0x80
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9'
}

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func skipQuoted(src string, i int) int {
	q := src[i]
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case q:
			return i + 1
		case '\n':
			return i
		}
	}
	return len(src)
}

// skipTemplate skips a template literal, substitutions (which may nest
// templates, strings and braces) included.
func skipTemplate(src string, i int) int {
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '`':
			return i + 1
		case '$':
			if i+1 < len(src) && src[i+1] == '{' {
				i = skipSubstitution(src, i+2) - 1
			}
		}
	}
	return len(src)
}

// skipSubstitution skips to just past the "}" closing a ${…} that starts at i.
func skipSubstitution(src string, i int) int {
	depth := 1
	for i < len(src) {
		switch c := src[i]; {
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		case c == '"' || c == '\'':
			i = skipQuoted(src, i)
			continue
		case c == '`':
			i = skipTemplate(src, i)
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := indexFrom(src, "*/", i+2)
			if end < 0 {
				return len(src)
			}
			i = end + 2
			continue
		}
		i++
	}
	return len(src)
}

func skipRegexp(src string, i int) int {
	inClass := false
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '[':
			inClass = true
		case ']':
			inClass = false
		case '\n':
			return i
		case '/':
			if !inClass {
				i++
				for i < len(src) && isIdentPart(src[i]) {
					i++
				}
				return i
			}
		}
	}
	return len(src)
}

// punctEnd returns the end of the operator at i; only the operators the
// shape checks care about ("=>", "...", "?.") need to be whole.
func punctEnd(src string, i int) int {
	for _, op := range []string{"...", "=>", "?.", "===", "!==", "==", "!=", "<=", ">=", "&&", "||", "??"} {
		if len(src)-i >= len(op) && src[i:i+len(op)] == op {
			return i + len(op)
		}
	}
	return i + 1
}

// matching returns the index of the token closing the bracket at toks[i], or -1.
func matching(toks []token, i int) int {
	open := toks[i].text
	var close string
	switch open {
	case "(":
		close = ")"
	case "[":
		close = "]"
	case "{":
		close = "}"
	default:
		return -1
	}
	for j := i + 1; j < len(toks); j++ {
		if toks[j].kind == tokPunct && toks[j].text == close && toks[j].depth == toks[i].depth {
			return j
		}
	}
	return -1
}

func (t token) is(text string) bool {
	return (t.kind == tokPunct || t.kind == tokIdent) && t.text == text
}
