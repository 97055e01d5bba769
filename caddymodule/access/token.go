package access

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// maxKIDBytes bounds the kid header; Cloudflare's are 64 hex characters.
const maxKIDBytes = 256

// compactJWS is a compact-serialised JWS split and decoded, not yet verified.
type compactJWS struct {
	signingInput string // "<header>.<payload>" exactly as received
	payload      []byte // decoded, not yet parsed
	signature    []byte
	alg, kid     string
	crit         bool
}

var b64 = base64.RawURLEncoding.Strict()

// isB64URL reports whether c is in the unpadded base64url alphabet.
func isB64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// parseCompact splits token into exactly three unpadded base64url parts and reads
// the protected header. Every byte is checked against the alphabet first, because
// the standard decoder silently skips CR and LF. The JSON serialisation, padding
// and white space all fail here.
func parseCompact(token string) (*compactJWS, *Error) {
	dots := 0
	for i := 0; i < len(token); i++ {
		if c := token[i]; c == '.' {
			dots++
		} else if !isB64URL(c) {
			return nil, reject(ReasonMalformed)
		}
	}
	if dots != 2 {
		return nil, reject(ReasonMalformed)
	}
	h, rest, _ := strings.Cut(token, ".")
	p, s, _ := strings.Cut(rest, ".")
	if h == "" || p == "" {
		return nil, reject(ReasonMalformed)
	}
	header, err := b64.DecodeString(h)
	if err != nil {
		return nil, reject(ReasonMalformed)
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return nil, reject(ReasonMalformed)
	}
	sig, err := b64.DecodeString(s)
	if err != nil {
		return nil, reject(ReasonSignature)
	}
	var hdr map[string]json.RawMessage
	if json.Unmarshal(header, &hdr) != nil || hdr == nil {
		return nil, reject(ReasonMalformed)
	}
	jws := &compactJWS{
		signingInput: token[:len(h)+1+len(p)],
		payload:      payload,
		signature:    sig,
	}
	// jku, jwk, x5u and x5c are deliberately never read: keys come only from JWKSURL.
	_, jws.crit = hdr["crit"]
	jws.alg, _ = headerString(hdr["alg"])
	jws.kid, _ = headerString(hdr["kid"])
	return jws, nil
}

// headerString decodes a JSON string header value; anything else yields "".
func headerString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// validKID reports whether kid is non-empty, at most 256 bytes and printable ASCII,
// so it is safe as a map key and in a log line.
func validKID(kid string) bool {
	if kid == "" || len(kid) > maxKIDBytes {
		return false
	}
	for i := 0; i < len(kid); i++ {
		if c := kid[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
