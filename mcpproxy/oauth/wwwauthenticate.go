package oauth

import "strings"

// ParseWWWAuthenticate returns the parameters of the first Bearer challenge
// in a WWW-Authenticate header value (RFC 9110 §11.6.1, RFC 6750 §3), such as
// resource_metadata (RFC 9728 §5.1), scope, error and error_description.
// Names are lower-cased; quoted values are unquoted. Other schemes' challenges
// in the same value are skipped. It returns nil when there is no Bearer
// challenge; a Bearer challenge without parameters gives an empty map. Join
// several header lines with ", " first.
//
// The values come from the upstream: a resource_metadata URL is a place to
// start a fresh discovery (which checks it), never a place to send a token.
func ParseWWWAuthenticate(h string) map[string]string {
	var params map[string]string
	inBearer := false
	p := challengeParser{s: h}
	for {
		p.skip(" \t,")
		if p.done() {
			return params
		}
		name := p.token()
		if name == "" {
			p.i++ // a stray character; step over it
			continue
		}
		p.skip(" \t")
		if p.peek() == '=' && !p.token68End() {
			p.i++ // '='
			p.skip(" \t")
			value := p.value()
			if inBearer {
				name = strings.ToLower(name)
				if _, seen := params[name]; !seen {
					params[name] = value
				}
			}
			continue
		}
		if p.peek() == '=' { // the end of a token68 credential, such as "Basic dXNlcg=="
			p.skip("=")
			continue
		}
		// A new challenge starts with its scheme.
		if inBearer {
			return params // only the first Bearer challenge counts
		}
		if strings.EqualFold(name, "Bearer") {
			inBearer = true
			params = map[string]string{}
		}
	}
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) done() bool { return p.i >= len(p.s) }

func (p *challengeParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *challengeParser) skip(chars string) {
	for !p.done() && strings.IndexByte(chars, p.s[p.i]) >= 0 {
		p.i++
	}
}

// token reads a token (RFC 9110 tchar), plus '/' so that a token68 is read
// whole.
func (p *challengeParser) token() string {
	start := p.i
	for !p.done() && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68End reports whether the '=' at the cursor ends a token68 (followed
// by more '=', a comma or nothing) rather than introducing a value.
func (p *challengeParser) token68End() bool {
	j := p.i
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	for j < len(p.s) && (p.s[j] == ' ' || p.s[j] == '\t') {
		j++
	}
	return j-p.i > 1 || j == len(p.s) || p.s[j] == ','
}

// value reads a quoted-string (undoing backslash escapes) or a token.
func (p *challengeParser) value() string {
	if p.peek() != '"' {
		return p.token()
	}
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String()
		case c == '\\' && !p.done():
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String() // unterminated: keep what there is
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~/", c) >= 0
}
