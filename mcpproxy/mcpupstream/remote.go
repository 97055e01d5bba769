package mcpupstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// upstreamHTTP is the RoundTripper the mcp-go transports send through. Each
// request gets the configured headers and query parameters, then the
// connection's current credential — last, so configuration cannot override
// it — and goes out through the gateway's egress client, which guards
// addresses and redirects.
type upstreamHTTP struct {
	cfg  Config
	cred *atomic.Pointer[integration.Credential]
	// egress is the connection's client. stream is the same client without
	// its overall Timeout, for the long-lived event streams (the SSE
	// transport's stream, the GET notification stream, subscriptions/listen)
	// that a total deadline would cut every few minutes; each call still has
	// its own deadline.
	egress, stream *http.Client
	// status is the last HTTP status seen, so a failed handshake can tell a
	// refused credential (401/403) from a transport that does not fit.
	status atomic.Int32
}

func newUpstreamHTTP(cfg Config, cred *atomic.Pointer[integration.Credential], egress *http.Client) *upstreamHTTP {
	stream := *egress
	stream.Timeout = 0
	return &upstreamHTTP{cfg: cfg, cred: cred, egress: egress, stream: &stream}
}

// client is the *http.Client handed to mcp-go. Redirects are left to the
// egress client, which re-validates every hop.
func (u *upstreamHTTP) client() *http.Client {
	return &http.Client{
		Transport:     u,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (u *upstreamHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	for name, v := range u.cfg.Headers {
		out.Header.Set(name, v)
	}
	if len(u.cfg.QueryParams) > 0 {
		q := out.URL.Query()
		for name, v := range u.cfg.QueryParams {
			q.Set(name, v)
		}
		out.URL.RawQuery = q.Encode()
	}
	if cred := u.cred.Load(); cred != nil {
		cred.Apply(out)
	}
	c := u.egress
	if isStream(out) {
		c = u.stream
	}
	resp, err := c.Do(out)
	if err != nil {
		return nil, err
	}
	u.status.Store(int32(resp.StatusCode))
	return resp, nil
}

func isStream(r *http.Request) bool {
	if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return true
	}
	return r.Header.Get("Mcp-Method") == "subscriptions/listen"
}

// remoteTransport builds the transport for one attempt with kind
// "streamable-http" or "sse".
func (s *session) remoteTransport(kind string, rt *upstreamHTTP, callTimeout time.Duration) (transport.Interface, error) {
	switch kind {
	case remoteSSE:
		t, err := transport.NewSSE(s.u.cfg.Endpoint,
			transport.WithHTTPClient(rt.client()),
			transport.WithResponseTimeout(callTimeout),
			transport.WithSSELogger(s.u.k.log))
		if err != nil {
			return nil, err
		}
		return &sseTap{tap: &tap{Interface: t, refused: s.u.refused}, s: t}, nil
	default:
		t, err := transport.NewStreamableHTTP(s.u.cfg.Endpoint,
			transport.WithHTTPBasicClient(rt.client()),
			transport.WithContinuousListening(),
			transport.WithHTTPLogger(s.u.k.log))
		if err != nil {
			return nil, err
		}
		return &httpTap{tap: &tap{Interface: t, refused: s.u.refused}, h: t}, nil
	}
}

// connectRemote opens a client to a remote server, trying the transports
// the configuration allows. With "auto", SSE is tried only when streamable
// HTTP failed as a transport: never after 401 or 403, which would fail the
// same way.
func (s *session) connectRemote(ctx context.Context, egress *http.Client) error {
	if egress == nil {
		return errors.New("the gateway gave this connection no HTTP client")
	}
	kinds := []string{remoteStreamable, remoteSSE}
	switch s.u.cfg.RemoteTransport {
	case remoteStreamable:
		kinds = kinds[:1]
	case remoteSSE:
		kinds = kinds[1:]
	default:
		if s.u.remoteKind() == remoteSSE { // learned on an earlier connect
			kinds = kinds[1:]
		}
	}
	var firstErr error
	for _, kind := range kinds {
		rt := newUpstreamHTTP(s.u.cfg, &s.u.cred, egress)
		t, err := s.remoteTransport(kind, rt, s.u.k.opts.CallTimeout)
		if err == nil {
			err = s.start(ctx, t)
		}
		if err == nil {
			s.transport = kind
			s.u.setRemoteKind(kind)
			return nil
		}
		status := int(rt.status.Load())
		if authRefused(err, status) {
			return &connectError{status: status, err: err}
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", kind, err)
		} else {
			firstErr = fmt.Errorf("%w; %s: %w", firstErr, kind, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return firstErr
}

// authRefused reports whether a handshake failed on the credential.
func authRefused(err error, status int) bool {
	var authErr *transport.AuthorizationRequiredError
	return errors.As(err, &authErr) || client.IsOAuthAuthorizationRequiredError(err) ||
		status == http.StatusUnauthorized || status == http.StatusForbidden
}

// connectError is a handshake the upstream refused with an HTTP status.
type connectError struct {
	status int
	err    error
}

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }
