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
	tokTooDeep // templates nested past maxNesting; ends the stream
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
			var deep bool
			if i, deep = skipTemplate(src, i, 0); deep {
				return append(toks, token{kind: tokTooDeep, start: start, end: n})
			}
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
// templates, strings and braces) included. nest is how many templates
// enclose this one; past maxNesting it gives up and reports deep.
func skipTemplate(src string, i, nest int) (end int, deep bool) {
	if nest > maxNesting {
		return len(src), true
	}
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '`':
			return i + 1, false
		case '$':
			if i+1 < len(src) && src[i+1] == '{' {
				if i, deep = skipSubstitution(src, i+2, nest); deep {
					return i, true
				}
				i--
			}
		}
	}
	return len(src), false
}

// skipSubstitution skips to just past the "}" closing a ${…} that starts at i.
func skipSubstitution(src string, i, nest int) (end int, deep bool) {
	depth := 1
	for i < len(src) {
		switch c := src[i]; {
		case c == '{':
			depth++
			if depth > maxNesting {
				return len(src), true
			}
		case c == '}':
			depth--
			if depth == 0 {
				return i + 1, false
			}
		case c == '"' || c == '\'':
			i = skipQuoted(src, i)
			continue
		case c == '`':
			if i, deep = skipTemplate(src, i, nest+1); deep {
				return i, true
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := indexFrom(src, "*/", i+2)
			if end < 0 {
				return len(src), false
			}
			i = end + 2
			continue
		}
		i++
	}
	return len(src), false
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

// maxNesting bounds how deeply a program may nest. esbuild parses by
// recursive descent on a goroutine stack, and Go kills the whole process
// (fatal error, not a panic) when a stack passes 1 GB: 300,000 nested "!"
// or "a=>" (300 KB of code) did it. No written program nests 3,000 deep.
const maxNesting = 3000

// tooDeep estimates how deeply esbuild would recurse on toks and reports
// whether it passes maxNesting. It counts brackets, and between them the
// tokens that make the parser recurse rather than loop: prefix operators,
// right-associative operators (assignments, =>, ?, **), generic brackets,
// statement keywords that take a statement (if, else, while…) and label
// chains. A run of those ends at "," or ";"; a bracket saves the run of its
// level, so that !(…!(…)) adds up.
func tooDeep(toks []token) bool {
	var saved []int
	sum, run := 0, 0
	for i, t := range toks {
		switch {
		case t.kind == tokTooDeep:
			return true
		case t.is("(") || t.is("[") || t.is("{"):
			saved = append(saved, run)
			sum += run
			run = 0
		case t.is(")") || t.is("]") || t.is("}"):
			if n := len(saved); n > 0 {
				run = saved[n-1]
				sum -= run
				saved = saved[:n-1]
			}
		case t.is(",") || t.is(";"):
			run = 0
		case recurses(toks, i):
			run++
		default:
			continue
		}
		if len(saved)+sum+run > maxNesting {
			return true
		}
	}
	return false
}

func recurses(toks []token, i int) bool {
	t := toks[i]
	switch t.kind {
	case tokIdent:
		switch t.text {
		case "typeof", "void", "delete", "await", "new", "yield", "keyof", "readonly", "infer",
			"if", "else", "while", "for", "do", "with":
			return true
		}
		return false
	case tokPunct:
	default:
		return false
	}
	switch t.text {
	case "!", "~", "=", "=>", "?", "<", "...":
		return true
	case "+", "-": // only as prefix operators
		if i == 0 {
			return true
		}
		p := toks[i-1]
		return p.kind == tokPunct && !p.is(")") && !p.is("]") && !p.is("}") || p.kind == tokIdent && regexpAfter[p.text]
	case "*": // the second * of **
		return i > 0 && toks[i-1].is("*")
	case ":": // a: b: c: labels
		return i >= 2 && toks[i-2].is(":")
	}
	return false
}
