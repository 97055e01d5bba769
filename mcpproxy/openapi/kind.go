package openapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// Config is an OpenAPI integration's kind-specific configuration, stored
// by the gateway as JSON.
type Config struct {
	// BaseURL, when set, replaces the document's servers.
	BaseURL string `json:"baseUrl,omitempty"`
	// Servers are the document's server URLs, for display and validation.
	Servers []string `json:"servers,omitempty"`
	// Headers are sent on every request (before the credential, which wins).
	Headers map[string]string `json:"headers,omitempty"`
	// QueryParams are added to every request's query.
	QueryParams map[string]string `json:"queryParams,omitempty"`
	// SourceURL is where the document was fetched from; relative server
	// URLs resolve against it.
	SourceURL string `json:"sourceUrl,omitempty"`
}

// Kind is the "openapi" integration kind. Its zero value uses the reference
// limits; the fields exist so tests can shorten them.
type Kind struct {
	// HeadersTimeout bounds the wait for response headers; zero means
	// integration.ResponseHeadersTimeout (110 s).
	HeadersTimeout time.Duration
	// BodyTimeout bounds reading a response body; zero means
	// integration.ResponseBodyTimeout (60 s).
	BodyTimeout time.Duration
	// MaxResponseBytes caps a response body after decompression; zero
	// means 32 MiB.
	MaxResponseBytes int64
	// StreamBytes and StreamTimeout cap a streaming (NDJSON or
	// server-sent events) body, which is returned as far as it got; zero
	// means 1 MB and 10 s.
	StreamBytes   int64
	StreamTimeout time.Duration
}

const (
	defaultMaxResponseBytes = 32 << 20
	defaultStreamBytes      = 1 << 20
	defaultStreamTimeout    = 10 * time.Second
)

func (k Kind) headersTimeout() time.Duration {
	return orDefault(k.HeadersTimeout, integration.ResponseHeadersTimeout)
}
func (k Kind) bodyTimeout() time.Duration {
	return orDefault(k.BodyTimeout, integration.ResponseBodyTimeout)
}
func (k Kind) maxResponseBytes() int64 { return orDefault(k.MaxResponseBytes, defaultMaxResponseBytes) }
func (k Kind) streamBytes() int64      { return orDefault(k.StreamBytes, defaultStreamBytes) }
func (k Kind) streamTimeout() time.Duration {
	return orDefault(k.StreamTimeout, defaultStreamTimeout)
}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Name is "openapi".
func (Kind) Name() string { return "openapi" }

// Produce returns the catalog built from the document when the integration
// was added: an OpenAPI connection's tools do not depend on its credential.
func (Kind) Produce(_ context.Context, c *integration.Connection) (*integration.Catalog, error) {
	if c == nil || c.Base == nil {
		return nil, errors.New("the OpenAPI integration has no catalog; add its document again")
	}
	return c.Base, nil
}

// Call performs the tool's operation as one HTTP request through c.HTTP.
// Expected failures (bad arguments, HTTP errors, an unreachable upstream,
// timeouts) are a Result; the error is for defects only.
func (k Kind) Call(ctx context.Context, c *integration.Connection, tool *integration.Tool, args json.RawMessage) (*integration.Result, error) {
	if c == nil || c.HTTP == nil {
		return nil, errors.New("openapi: the connection has no HTTP client")
	}
	req, red, res, err := prepare(ctx, c, tool, args)
	switch {
	case err != nil:
		return nil, err
	case res != nil:
		return res, nil
	}
	c.Credential.Apply(req)
	return k.do(ctx, c.HTTP, req, red), nil
}

// Target is the request Call would send for args, method and URL, with the
// credential left out and anything of it in the URL redacted; "" when the
// arguments would not make a request.
func (Kind) Target(c *integration.Connection, tool *integration.Tool, args json.RawMessage) string {
	if c == nil {
		return ""
	}
	req, red, res, err := prepare(context.Background(), c, tool, args)
	if err != nil || res != nil {
		return ""
	}
	return red.str(req.Method + " " + req.URL.String())
}

// prepare builds the request a call of tool with args sends, without the
// credential, and the redactor for what comes back. Expected failures (bad
// arguments, a misconfigured integration) are a redacted Result; the error
// is for defects only.
func prepare(ctx context.Context, c *integration.Connection, tool *integration.Tool, args json.RawMessage) (*http.Request, *redactor, *integration.Result, error) {
	if tool == nil {
		return nil, nil, nil, errors.New("openapi: no tool")
	}
	var meta opMeta
	if err := json.Unmarshal(tool.Meta, &meta); err != nil || meta.Method == "" || meta.Path == "" {
		return nil, nil, nil, fmt.Errorf("openapi: tool %q carries no operation (meta %q)", tool.Name, tool.Meta)
	}
	var cfg Config
	if len(c.Config) > 0 && string(c.Config) != "null" {
		if err := json.Unmarshal(c.Config, &cfg); err != nil {
			return nil, nil, integration.Fail("integration_misconfigured", "The integration's configuration is not valid JSON; fix it in the integration's settings."), nil
		}
	}
	red := newRedactor(c.Credential, cfg)
	a, res := readArgs(&meta, args)
	if res != nil {
		return nil, red, red.result(res), nil
	}
	req, res := buildRequest(ctx, &meta, &cfg, a)
	if res != nil {
		return nil, red, red.result(res), nil
	}
	return req, red, nil, nil
}

// Interface guards.
var (
	_ integration.Kind     = Kind{}
	_ integration.Targeter = Kind{}
)
