package openapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// Causes of a call's context ending, told apart with context.Cause.
var (
	errHeadersTimeout = errors.New("response headers timeout")
	errBodyTimeout    = errors.New("response body timeout")
	errStreamWindow   = errors.New("stream window over")
)

// toolFile is a binary response body as the sandbox sees it.
type toolFile struct {
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
	Size     int    `json:"size"`
	Base64   string `json:"base64"`
}

const (
	maxMessage      = 1000
	maxTextDetails  = 64 << 10
	maxJSONDetails  = 1 << 20
	redactedPattern = "[REDACTED]"
)

// do sends the request and maps the response.
func (k Kind) do(ctx context.Context, hc *http.Client, req *http.Request, red *redactor) *integration.Result {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req = req.WithContext(ctx)
	host := req.URL.Host

	client := *hc
	client.CheckRedirect = sameOriginRedirects(hc.CheckRedirect)
	headersTimer := time.AfterFunc(k.headersTimeout(), func() { cancel(errHeadersTimeout) })
	resp, err := client.Do(req)
	headersTimer.Stop()
	if err != nil {
		return red.result(transportFailure(ctx, err, host, k.headersTimeout(), red))
	}
	defer resp.Body.Close()
	bodyTimer := time.AfterFunc(k.bodyTimeout(), func() { cancel(errBodyTimeout) })
	defer bodyTimer.Stop()

	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mt = strings.ToLower(mt)
	var r io.Reader = resp.Body
	if enc := strings.ToLower(resp.Header.Get("Content-Encoding")); !resp.Uncompressed && (enc == "gzip" || enc == "x-gzip") {
		if zr, err := gzip.NewReader(resp.Body); err == nil {
			r = zr
			resp.Header.Del("Content-Encoding")
		}
	}

	var body []byte
	if isStream(mt) {
		streamTimer := time.AfterFunc(k.streamTimeout(), func() { cancel(errStreamWindow) })
		body, err = io.ReadAll(io.LimitReader(r, k.streamBytes()))
		streamTimer.Stop()
		if err != nil && context.Cause(ctx) == errStreamWindow {
			err = nil // a stream is returned as far as it got
		}
	} else {
		body, err = io.ReadAll(io.LimitReader(r, k.maxResponseBytes()+1))
		if err == nil && int64(len(body)) > k.maxResponseBytes() {
			return integration.Fail("upstream_response_too_large", fmt.Sprintf(
				"The response from %s is larger than %d MiB; ask for less (filters, pagination, a smaller page size).", host, k.maxResponseBytes()>>20))
		}
	}
	if err != nil {
		if cause := context.Cause(ctx); cause == errBodyTimeout || cause == errHeadersTimeout {
			return &integration.Result{Error: &integration.ToolError{
				Code: "upstream_response_body_timeout", Retryable: true,
				Message: fmt.Sprintf("%s did not finish sending its response within %s; try again, or ask for less.", host, k.bodyTimeout()),
			}}
		}
		if ctx.Err() != nil {
			return cancelled()
		}
		return red.result(integration.Fail("upstream_unreachable", fmt.Sprintf("The connection to %s failed while reading the response: %s", host, cleanError(err, req.URL))))
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return integration.Succeed(successData(resp, req.URL, mt, body, red), &integration.HTTPMeta{Status: resp.StatusCode, Headers: responseHeaders(resp.Header, red)})
	}
	return red.result(httpFailure(resp, mt, body, red))
}

// sameOriginRedirects follows redirects only within the request's origin
// (then through the client's own policy): the request may carry
// credentials in custom headers, which Go's client does not strip on a
// redirect to another host (security F9). A redirect elsewhere is returned
// as the response.
func sameOriginRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && origin(req.URL) != origin(via[0].URL) {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

func isStream(mt string) bool {
	switch mt {
	case "text/event-stream", "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/json-seq":
		return true
	}
	return false
}

func cancelled() *integration.Result {
	return integration.Fail("request_cancelled", "The call was cancelled before the upstream answered.")
}

// transportFailure describes a request that got no response: a timeout,
// a refused or unresolvable host, or the egress guard's refusal. It names
// the host, never the URL (which may carry a query credential).
func transportFailure(ctx context.Context, err error, host string, headersTimeout time.Duration, red *redactor) *integration.Result {
	switch context.Cause(ctx) {
	case errHeadersTimeout:
		return &integration.Result{Error: &integration.ToolError{
			Code: "upstream_response_headers_timeout", Retryable: true,
			Message: fmt.Sprintf("%s did not answer within %s; try again later.", host, headersTimeout),
		}}
	}
	if ctx.Err() != nil {
		return cancelled()
	}
	te := &integration.ToolError{Code: "upstream_unreachable"}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		te.Retryable = true
	}
	var ue *url.Error
	reason := err
	if errors.As(err, &ue) {
		reason = ue.Err
	}
	te.Message = fmt.Sprintf("Could not reach %s: %s", host, cleanError(reason, nil))
	return &integration.Result{Error: te}
}

// cleanError is an error's text without any URL it quotes (a url.Error
// prints the full URL, query credentials included; security I2).
func cleanError(err error, u *url.URL) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if u != nil {
		msg = strings.ReplaceAll(msg, u.String(), u.Host)
	}
	return msg
}

// successData is a 2xx body as the sandbox sees it: JSON passed through
// untouched, text as a string, null for an empty body, else a ToolFile.
func successData(resp *http.Response, u *url.URL, mt string, body []byte, red *redactor) any {
	if len(body) == 0 || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusResetContent {
		return nil
	}
	kind := classify(mt)
	if mt == "" {
		switch {
		case json.Valid(body):
			kind = mediaJSON
		case utf8.Valid(body):
			kind = mediaText
		}
	}
	switch {
	case kind == mediaJSON && json.Valid(body):
		if redacted := red.json(body); json.Valid(redacted) {
			return json.RawMessage(redacted)
		}
		return red.str(string(body))
	case (kind == mediaJSON || kind == mediaText || kind == mediaForm) && utf8.Valid(body):
		return red.str(string(body))
	}
	return toolFile{Name: filename(resp, u), MimeType: orString(mt, "application/octet-stream"), Size: len(body), Base64: base64.StdEncoding.EncodeToString(body)}
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// filename is the Content-Disposition filename, else the URL's last path
// segment.
func filename(resp *http.Response, u *url.URL) string {
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		return path.Base(params["filename"])
	}
	if base := path.Base(u.Path); base != "/" && base != "." && base != "" {
		return base
	}
	return "download"
}

// responseHeaders are all response headers, names lower-case, repeated
// values joined with ", ".
func responseHeaders(h http.Header, red *redactor) map[string]string {
	out := make(map[string]string, len(h))
	for name, values := range h {
		out[strings.ToLower(name)] = red.str(strings.Join(values, ", "))
	}
	return out
}

// httpFailure maps a non-2xx response: 401 and 403 reject the connection's
// credential (403 with insufficient_scope: the OAuth grant lacks a scope),
// anything else is upstream_http_error with the body as message and
// details. 429, 502, 503 and 504 are worth retrying.
func httpFailure(resp *http.Response, mt string, body []byte, red *redactor) *integration.Result {
	text := ""
	if utf8.Valid(body) {
		text = strings.TrimSpace(string(body))
	} else {
		text = fmt.Sprintf("(%d bytes of binary content)", len(body))
	}
	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	te := &integration.ToolError{Code: "upstream_http_error", Status: resp.StatusCode, Message: truncate(text, maxMessage)}
	if te.Message == "" {
		te.Message = "The upstream answered " + strings.TrimSpace(status) + " with an empty body."
	}
	switch {
	case len(body) == 0:
	case json.Valid(body) && len(body) <= maxJSONDetails:
		te.Details = json.RawMessage(body)
	default:
		te.Details = truncate(text, maxTextDetails)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		te.Code = "connection_rejected"
		te.Message = fmt.Sprintf("The upstream refused the request (HTTP %s); check the connection's credential and its permissions.", status)
		if resp.StatusCode == http.StatusForbidden && strings.Contains(strings.ToLower(resp.Header.Get("WWW-Authenticate")), "insufficient_scope") {
			te.Code = "oauth_scope_insufficient"
			te.Message = fmt.Sprintf("The connection's OAuth grant lacks a scope this operation needs (HTTP %s); reconnect and grant it.", status)
		}
		if text != "" {
			te.Message += " Upstream said: " + truncate(text, maxMessage)
		}
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		te.Retryable = true
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc, err := resp.Location(); err == nil {
			te.Message = fmt.Sprintf("The upstream redirected to %s; redirects that leave the API's host are not followed.", loc.Host)
		}
	}
	return &integration.Result{Error: te}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// redactor removes credential values from anything shown to the agent.
type redactor struct {
	secrets []string // longest first
}

// secretNames are configuration header and query names whose values are
// treated as secrets.
var secretNames = []string{"key", "token", "auth", "secret", "password", "signature", "session", "cookie", "credential"}

func newRedactor(cred integration.Credential, cfg Config) *redactor {
	var forms []string
	add := func(s string) {
		if len(s) < 4 {
			return
		}
		for _, f := range []string{s, url.QueryEscape(s), strings.Trim(string(mustJSON(s)), `"`)} {
			if !contains(forms, f) {
				forms = append(forms, f)
			}
		}
	}
	for _, s := range cred.Secrets() {
		add(s)
	}
	for _, m := range []map[string]string{cfg.Headers, cfg.QueryParams} {
		for name, v := range m {
			lower := strings.ToLower(name)
			for _, s := range secretNames {
				if strings.Contains(lower, s) {
					add(v)
					break
				}
			}
		}
	}
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return &redactor{secrets: forms}
}

func mustJSON(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

func (r *redactor) str(s string) string {
	for _, secret := range r.secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redactedPattern)
		}
	}
	return s
}

// json redacts a JSON text; secrets are replaced inside strings, which
// keeps it valid.
func (r *redactor) json(b []byte) []byte {
	for _, secret := range r.secrets {
		if bytes.Contains(b, []byte(secret)) {
			b = bytes.ReplaceAll(b, []byte(secret), []byte(redactedPattern))
		}
	}
	return b
}

// result redacts a failed Result's message and details.
func (r *redactor) result(res *integration.Result) *integration.Result {
	if res == nil || res.Error == nil || len(r.secrets) == 0 {
		return res
	}
	res.Error.Message = r.str(res.Error.Message)
	switch d := res.Error.Details.(type) {
	case string:
		res.Error.Details = r.str(d)
	case json.RawMessage:
		redacted := r.json(d)
		if json.Valid(redacted) {
			res.Error.Details = json.RawMessage(redacted)
		} else {
			res.Error.Details = r.str(string(d))
		}
	}
	return res
}
