package graphql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// Response size caps: an introspection result of a very large API (GitHub's
// is about 3 MiB) fits the first many times over.
const (
	maxIntrospectionBytes = 16 << 20
	maxResponseBytes      = 32 << 20
)

// failure is an expected failure of an exchange with the endpoint; Call shows
// it to the agent as a Result error, Introspect returns it as an error.
type failure struct {
	Code      string
	Message   string
	Status    int
	Retryable bool
}

func (f *failure) Error() string { return f.Message }

// exchange is the endpoint's answer to one POST.
type exchange struct {
	status int
	header http.Header
	body   []byte
}

// timeouts bound one exchange: the wait for response headers, then the wait
// for the body.
type timeouts struct {
	headers, body time.Duration
	maxBytes      int64
}

var (
	errHeadersTimeout = errors.New("response headers timeout")
	errBodyTimeout    = errors.New("response body timeout")
)

// newRequest builds the POST of a GraphQL request: the endpoint with its
// configured query parameters, the GraphQL-over-HTTP headers, then the
// configured headers (which may override them). A credential, if any, is
// applied by the caller after this, so it wins over everything.
func newRequest(ctx context.Context, endpoint string, query, headers map[string]string, body []byte) (*http.Request, error) {
	u, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if len(query) > 0 {
		q := u.Query()
		for k, v := range query {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the request to %s: %w", endpointLabel(u), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json, application/json")
	req.Header.Set("User-Agent", "executor")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// parseEndpoint accepts absolute http and https URLs only.
func parseEndpoint(endpoint string) (*url.URL, error) {
	if strings.TrimSpace(endpoint) == "" {
		return nil, errors.New("the GraphQL endpoint is empty: give the URL queries are POSTed to")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the GraphQL endpoint %q is not an http(s) URL", endpoint)
	}
	return u, nil
}

// endpointLabel names an endpoint in messages without its query string,
// which may carry a key.
func endpointLabel(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// send performs req with client and reads the body up to t.maxBytes. It
// returns a *failure for what the endpoint or the network did, and the
// context's error if ctx ended first.
func send(ctx context.Context, client *http.Client, req *http.Request, t timeouts) (*exchange, error) {
	if client == nil {
		return nil, errors.New("no HTTP client: GraphQL requests go through the gateway's egress client")
	}
	label := endpointLabel(req.URL)
	// The egress client enforces the cap while decompressing; the
	// LimitReader below covers any other client.
	cctx, cancel := context.WithCancelCause(egress.WithMaxResponseBytes(ctx, t.maxBytes))
	defer cancel(nil)
	headersTimer := time.AfterFunc(t.headers, func() { cancel(errHeadersTimeout) })
	resp, err := client.Do(req.WithContext(cctx))
	headersTimer.Stop()
	if err != nil {
		switch {
		case errors.Is(context.Cause(cctx), errHeadersTimeout):
			return nil, &failure{Code: "upstream_response_headers_timeout", Retryable: true,
				Message: fmt.Sprintf("The GraphQL endpoint %s sent no response within %s; try again later or ask for less.", label, t.headers)}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, &failure{Code: "upstream_unreachable", Retryable: true,
			Message: fmt.Sprintf("Could not reach the GraphQL endpoint %s: %s.", label, egress.Describe(err))}
	}
	defer resp.Body.Close()
	bodyTimer := time.AfterFunc(t.body, func() { cancel(errBodyTimeout) })
	defer bodyTimer.Stop()
	body, err := io.ReadAll(io.LimitReader(resp.Body, t.maxBytes+1))
	var tooLarge *egress.ResponseTooLarge
	if int64(len(body)) > t.maxBytes || errors.As(err, &tooLarge) {
		return nil, &failure{Code: "graphql_http_error", Status: resp.StatusCode,
			Message: fmt.Sprintf("The response of the GraphQL endpoint %s is larger than %s; select fewer fields or ask for fewer items.", label, sizeText(t.maxBytes))}
	}
	if err != nil {
		switch {
		case errors.Is(context.Cause(cctx), errBodyTimeout):
			return nil, &failure{Code: "upstream_response_body_timeout", Status: resp.StatusCode, Retryable: true,
				Message: fmt.Sprintf("The GraphQL endpoint %s did not finish its response within %s; try again later or ask for less.", label, t.body)}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, &failure{Code: "graphql_http_error", Status: resp.StatusCode, Retryable: true,
			Message: fmt.Sprintf("Reading the response of the GraphQL endpoint %s failed: %s.", label, egress.Describe(err))}
	}
	return &exchange{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// meta is the exchange's status and headers as the sandbox sees them.
func (e *exchange) meta() *integration.HTTPMeta {
	h := make(map[string]string, len(e.header))
	for k, v := range e.header {
		h[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return &integration.HTTPMeta{Status: e.status, Headers: h}
}

// ok reports a 2xx status.
func (e *exchange) ok() bool { return e.status >= 200 && e.status < 300 }

// excerpt is the start of a body for a message, as text.
func excerpt(body []byte) string {
	const max = 2000
	s := strings.ToValidUTF8(strings.TrimSpace(string(body)), "\uFFFD")
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}
