// Package oauth is the gateway's OAuth 2.1 client for upstream MCP servers
// and OAuth-protected APIs: discovery (RFC 9728 protected-resource metadata,
// then RFC 8414 or OpenID Connect authorization-server metadata), dynamic
// client registration (RFC 7591), the authorization-code flow with PKCE S256
// and resource indicators (RFC 7636, RFC 8707, RFC 9207), the
// client-credentials grant and refresh.
//
// A connection goes through these steps:
//
//	ep, err := oauth.Discover(ctx, client, upstreamURL, wwwAuthenticate, oauth.DiscoverOptions{})
//	cl, err := oauth.Register(ctx, client, ep, callbackURL, "Executor", scopes) // or a pre-registered Client
//	az, err := oauth.StartAuthorization(ep, cl, scopes)                       // send the user to az.URL
//	code, err := oauth.CallbackCheck(callbackQuery, ep, az.State)
//	tok, err := oauth.Exchange(ctx, client, ep, cl, code, az.Verifier)
//	tok, err = oauth.Refresh(ctx, client, ep, cl, tok.RefreshToken)           // later, before expiry
//
// The package holds no state. The caller keeps, per flow, the state and the
// verifier (bound to the signed-in user, single use, about ten minutes), and
// per connection the tokens; it runs one refresh at a time per credential
// (RefreshGroup helps) and stores a rotated refresh token before using the
// new access token.
//
// Every request goes through the *http.Client the caller passes, which in
// the gateway is the egress client (mcpproxy/egress): the URLs here are chosen
// by upstream servers, so every fetch is SSRF-sensitive. Bound each call with
// ctx (the upstream gateway allows 20 s). Token and registration requests
// never follow redirects. Authorization, token and registration endpoints
// must be https, or http on a loopback host (local development; the egress
// client closes loopback in production). Error messages never contain a
// client secret, a code, a verifier or a token, and URLs in transport errors
// are cut down to their origin.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
)

// maxBody caps every metadata, registration and token response.
const maxBody = 1 << 20

var errNoClient = errors.New("oauth: no HTTP client given; pass the gateway's egress client")

// checkEndpoint accepts an absolute https URL, or an http one whose host is
// loopback when allowHTTPLoopback is set (local development and tests). It
// refuses every other scheme (javascript:, data:, file:, …), user info and
// fragments. name says which URL it is, for the error.
func checkEndpoint(name, raw string, allowHTTPLoopback bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("the %s %s is not an absolute URL", name, quote(raw))
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !allowHTTPLoopback || !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("the %s %s uses plain http; only https is allowed (http only on loopback in development)", name, quote(raw))
		}
	default:
		return nil, fmt.Errorf("the %s %s uses the %q scheme; only https is allowed", name, quote(raw), u.Scheme)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("the %s %s has no host", name, quote(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("the %s %s carries a user name or password; refusing it", name, quote(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf("the %s %s has a fragment; refusing it", name, quote(raw))
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameURL reports whether a and b name the same resource or issuer: scheme
// and host compare case-insensitively, a default port equals none, and an
// empty path equals "/". Anything else must match exactly (RFC 9728 §3.3,
// RFC 8414 §3.3 ask for identical values; this only forgives spellings of
// the same URL).
func sameURL(a, b string) bool {
	if a == b {
		return true
	}
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	norm := func(u *url.URL) string {
		scheme := strings.ToLower(u.Scheme)
		host := strings.ToLower(u.Hostname())
		port := u.Port()
		if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
			port = ""
		}
		if port != "" {
			host = net.JoinHostPort(host, port)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		return scheme + "://" + host + path + "?" + u.RawQuery + "#" + u.Fragment
	}
	return norm(ua) == norm(ub)
}

// origin returns scheme://host of u.
func origin(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}

// fetchError is a response that was not usable JSON. Discovery treats it as
// "no document here" and tries the next location.
type fetchError struct{ msg string }

func (e *fetchError) Error() string { return e.msg }

// getJSON GETs u and decodes a 2xx JSON body into v. A transport failure is
// returned as is (the caller stops); a non-2xx status or a body that is not
// JSON is a *fetchError.
func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("building a request for %s: %w", quote(u), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return errors.New(egress.Describe(err))
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body)
	if err != nil {
		return fmt.Errorf("reading %s: %s", quote(u), egress.Describe(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &fetchError{fmt.Sprintf("%s answered HTTP %d", quote(u), resp.StatusCode)}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &fetchError{fmt.Sprintf("%s did not answer with a JSON document (%s)", quote(u), mediaType(resp))}
	}
	return nil
}

// readCapped reads at most maxBody bytes and fails beyond.
func readCapped(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, errors.New("the response is larger than 1 MiB, more than any OAuth document needs")
	}
	return body, nil
}

func mediaType(resp *http.Response) string {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt == "" {
		return "no content type"
	}
	return mt
}

// quote prints a server-chosen string for an error message: quoted, on one
// line, and cut to a readable length.
func quote(s string) string {
	return fmt.Sprintf("%q", clip(s, 120))
}

// clip cuts s to n runes and drops control characters, so that text an
// authorization server chose cannot forge lines in a log.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// redact replaces each secret in msg by "[redacted]": a belt over the braces
// of never formatting secrets, for text an authorization server echoed back.
func redact(msg string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
			msg = strings.ReplaceAll(msg, url.QueryEscape(s), "[redacted]")
		}
	}
	return msg
}
