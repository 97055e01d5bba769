package mcpupstream

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// The mcp-go client decodes results into its own types, which would drop
// fields it does not know and reshape content blocks. A tap sits between the
// client and its transport and keeps, for the request a context asks about,
// the result or JSON-RPC error exactly as the upstream sent it. It also
// answers the upstream's own requests that the gateway cannot serve yet.

// exchange receives the raw outcome of one request sent with its context.
type exchange struct {
	method string
	result json.RawMessage
	rpcErr *mcp.JSONRPCErrorDetails
	sent   bool // the transport took the request (it may or may not have reached the upstream)
}

type exchangeKey struct{}

// withExchange returns a context whose requests of method are recorded in x.
func withExchange(ctx context.Context, x *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, x)
}

// tap wraps a transport. The optional interfaces the client looks for
// (bidirectional requests, protocol version headers, lost connections) are
// provided by the wrappers below, one per transport type.
type tap struct {
	transport.Interface
	// refused is told about each upstream request the gateway declined.
	refused func(method string)
}

// SendRequest records the raw response for a context that asks for it.
func (t *tap) SendRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	if x != nil && x.method == req.Method {
		x.sent = true
	}
	resp, err := t.Interface.SendRequest(ctx, req)
	if x != nil && x.method == req.Method && err == nil && resp != nil {
		if resp.Error != nil {
			e := *resp.Error
			x.rpcErr, x.result = &e, nil
		} else {
			x.result, x.rpcErr = resp.Result, nil
			if req.Method == string(mcp.MethodToolsCall) {
				// The caller reads x.result. The client would decode the whole
				// result into its own types only for them to be dropped: a
				// large result cost its size twice.
				r := *resp
				r.Result = emptyToolResult
				resp = &r
			}
		}
	}
	return resp, err
}

// emptyToolResult is what the client decodes in place of a tools/call
// result recorded in an exchange.
var emptyToolResult = json.RawMessage(`{"content":[]}`)

// wrapRequests declines what the upstream asks of us that nobody can answer
// yet: elicitation (a human's input) and sampling (an LLM). The upstream gets
// an immediate answer instead of waiting for one that never comes.
func (t *tap) wrapRequests(next transport.RequestHandler) transport.RequestHandler {
	return func(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
		switch req.Method {
		case string(mcp.MethodElicitationCreate):
			if t.refused != nil {
				t.refused(req.Method)
			}
			return transport.NewJSONRPCResultResponse(req.ID, json.RawMessage(`{"action":"decline"}`)), nil
		case string(mcp.MethodSamplingCreateMessage):
			if t.refused != nil {
				t.refused(req.Method)
			}
			return nil, errors.New("sampling is not supported by this gateway")
		}
		return next(ctx, req)
	}
}

// httpTap wraps the streamable HTTP transport. It deliberately does not
// report RequiresLegacyProtocol: the transport listens on a GET stream for
// notifications, which only legacy sessions have, and skips it by itself on
// a 2026-07-28 connection, where we listen with subscriptions/listen.
type httpTap struct {
	*tap
	h *transport.StreamableHTTP
}

func (t *httpTap) SetRequestHandler(h transport.RequestHandler) {
	t.h.SetRequestHandler(t.wrapRequests(h))
}

func (t *httpTap) SetProtocolVersion(v string) { t.h.SetProtocolVersion(v) }

// sseTap wraps the legacy HTTP+SSE transport, which cannot answer upstream
// requests at all.
type sseTap struct {
	*tap
	s *transport.SSE
}

func (t *sseTap) SetProtocolVersion(v string) { t.s.SetProtocolVersion(v) }

func (t *sseTap) SetConnectionLostHandler(h func(error)) { t.s.SetConnectionLostHandler(h) }

// stdioTap wraps the stdio transport.
type stdioTap struct {
	*tap
	s *transport.Stdio
}

func (t *stdioTap) SetRequestHandler(h transport.RequestHandler) {
	t.s.SetRequestHandler(t.wrapRequests(h))
}

var (
	_ transport.BidirectionalInterface = (*httpTap)(nil)
	_ transport.HTTPConnection         = (*httpTap)(nil)
	_ transport.HTTPConnection         = (*sseTap)(nil)
	_ transport.BidirectionalInterface = (*stdioTap)(nil)
)
