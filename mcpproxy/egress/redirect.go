package egress

import (
	"net/http"
	"net/url"
	"strings"
)

// safeHeaders survive a redirect to another origin; every other header,
// including Authorization, Cookie, Referer (which would carry the previous
// URL, query credentials and all) and API-key headers of any name, is
// dropped. net/http alone strips only Authorization and Cookie, and keeps
// them for subdomains.
var safeHeaders = map[string]bool{
	"Accept":               true,
	"Accept-Encoding":      true,
	"Accept-Language":      true,
	"Cache-Control":        true,
	"Content-Language":     true,
	"Content-Type":         true,
	"Mcp-Protocol-Version": true,
	"Pragma":               true,
	"User-Agent":           true,
}

// redirectChecker re-checks every hop: at most max hops, never from https to
// http, no credentials in the new URL, and no credential headers or request
// body carried to another origin. The scheme is checked by the transport
// and the address and port by the dialer, on this hop as on the first.
func redirectChecker(max int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > max { // via holds the first request too
			return errTooManyRedirects(max)
		}
		if r := checkScheme(req.URL); r != nil {
			return r
		}
		prev := via[len(via)-1]
		if prev.URL.Scheme == "https" && req.URL.Scheme == "http" {
			return &Refused{Host: req.URL.Host, Reason: "a redirect from https to http", Hint: "the upstream must redirect to an https URL"}
		}
		if req.URL.User != nil {
			return &Refused{Host: req.URL.Host, Reason: "a redirect to a URL with a user name or password"}
		}
		// net/http copies the first request's headers onto every hop, so
		// the decision is against the first origin, and once a chain has
		// left that origin it stays stripped even if it comes back.
		first := origin(via[0].URL)
		crossed := origin(req.URL) != first
		for _, r := range via[1:] {
			if origin(r.URL) != first {
				crossed = true
			}
		}
		if !crossed {
			return nil
		}
		if req.Body != nil && req.Body != http.NoBody {
			// A 307 or 308 re-sends the body, which for a token or
			// registration request holds the client secret.
			return &Refused{Host: req.URL.Host, Reason: "a redirect to another origin that would re-send the request body", Hint: "call the final URL directly"}
		}
		for name := range req.Header {
			if !safeHeaders[http.CanonicalHeaderKey(name)] {
				delete(req.Header, name)
			}
		}
		return nil
	}
}

// origin is scheme://host:port with the default port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		default:
			port = "80"
		}
	}
	return u.Scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}
