package access

import (
	"net/http"
	"strings"
)

// HeaderName is the request header Cloudflare Access puts the application token in.
const HeaderName = "Cf-Access-Jwt-Assertion"

// TokenFromHeader returns the token from the single Cf-Access-Jwt-Assertion header
// of h, with surrounding white space removed. It fails with ReasonMissing when the
// header is absent, empty or blank, and with ReasonMultiple when it appears more than
// once. It never reads cookies (CF_Authorization) or query parameters: the header is
// the only source Cloudflare guarantees.
func TokenFromHeader(h http.Header) (string, error) {
	values := h.Values(HeaderName)
	switch len(values) {
	case 0:
		return "", reject(ReasonMissing)
	case 1:
	default:
		return "", reject(ReasonMultiple)
	}
	token := strings.TrimSpace(values[0])
	if token == "" {
		return "", reject(ReasonMissing)
	}
	return token, nil
}
