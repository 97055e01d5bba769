package access

import (
	"bytes"
	"encoding/json"
	"math"
	"time"
)

// Claims is what a verified token says about its bearer. Every field comes from
// a token whose signature, issuer, audience, lifetime and type have been checked.
type Claims struct {
	Subject    string // sub: stable per user per account; "" for service tokens
	Email      string // email: set for users, absent for service tokens
	Name       string // name if it is a string, else common_name
	CommonName string // common_name: the service token's client ID
	Type       string // type: "app" for Cloudflare application tokens
	Issuer     string // iss

	Audience []string // aud, always as a list
	Groups   []string // groups if it is an array, each element as a string

	ExpiresAt time.Time // exp
	IssuedAt  time.Time // iat; zero if absent
	NotBefore time.Time // nbf; zero if absent (service tokens carry none)
}

// ID is the stable principal key: sub, else email, else common_name.
// Verify never returns Claims whose ID is empty.
func (c *Claims) ID() string {
	switch {
	case c.Subject != "":
		return c.Subject
	case c.Email != "":
		return c.Email
	default:
		return c.CommonName
	}
}

// IsServiceToken reports whether the token was issued for a Cloudflare service
// token (sub "" and a common_name) rather than a user. Service tokens should be
// refused unless their CommonName is allow-listed.
func (c *Claims) IsServiceToken() bool { return c.Subject == "" && c.CommonName != "" }

// maxNumericDate is 9999-12-31T23:59:59Z; larger dates are not plausible and would
// overflow time arithmetic.
const maxNumericDate = 253402300799

// claimSet is a decoded JSON payload; each claim is decoded only when checked.
type claimSet map[string]json.RawMessage

func isNull(raw json.RawMessage) bool { return raw == nil || bytes.Equal(raw, []byte("null")) }

// str returns the string claim name. Absent and null are not present; any other
// non-string is !ok.
func (cs claimSet) str(name string) (s string, present, ok bool) {
	raw := cs[name]
	if isNull(raw) {
		return "", false, true
	}
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", true, false
	}
	return s, true, true
}

// date returns the NumericDate claim name (RFC 7519 §2: seconds, possibly fractional).
func (cs claimSet) date(name string) (t time.Time, present, ok bool) {
	raw := cs[name]
	if isNull(raw) {
		return time.Time{}, false, true
	}
	var f float64
	if c := raw[0]; ((c < '0' || c > '9') && c != '-') || json.Unmarshal(raw, &f) != nil {
		return time.Time{}, true, false
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true, true
}

// audience returns aud as a list: a string becomes a one-element list. Absent,
// null, [] and lists holding non-strings are !ok.
func (cs claimSet) audience() ([]string, bool) {
	raw := cs["aud"]
	if isNull(raw) {
		return nil, false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return []string{s}, true
	case '[':
		var list []string
		if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
			return nil, false
		}
		return list, true
	}
	return nil, false
}

// groups returns the groups claim if it is an array, each element stringified
// (strings as themselves, anything else as its JSON text).
func (cs claimSet) groups() []string {
	raw := cs["groups"]
	if isNull(raw) || raw[0] != '[' {
		return nil
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return nil
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		var s string
		if len(e) > 0 && e[0] == '"' && json.Unmarshal(e, &s) == nil {
			out = append(out, s)
			continue
		}
		var buf bytes.Buffer
		if json.Compact(&buf, e) != nil {
			continue
		}
		out = append(out, buf.String())
	}
	return out
}
