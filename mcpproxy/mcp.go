package mcpproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// MaxMCPBodyBytes caps one POST to /mcp. Code for execute is small; a larger
// body is refused with 413 before it is parsed.
const MaxMCPBodyBytes = 4 << 20

// supportedProtocols are the MCP versions /mcp speaks. A request naming any
// other version in MCP-Protocol-Version is refused with 400.
var supportedProtocols = []string{
	mcp.ProtocolVersion20260728,
	mcp.ProtocolVersion20251125,
	mcp.ProtocolVersion20250618,
	mcp.ProtocolVersion20250326,
	mcp.ProtocolVersion20241105,
}

// mcpEndpoint is mcp-go's streamable HTTP server behind our own transport
// checks: Origin, protocol version, body size, strict JSON, no batches, and
// sessions bound to the principal that created them.
type mcpEndpoint struct {
	g *Gateway
	// path is where the endpoint is served: "/mcp", or a connection's
	// direct endpoint. A session minted on one is unknown on the others.
	path string
	// direct marks a connection's direct endpoint, whose tools/call is one
	// tool call: Invoke counts it against the rate limits, not the transport.
	direct  bool
	server  *server.MCPServer
	http    *server.StreamableHTTPServer
	streams *streamSlots
}

// newMCPEndpoint builds the code-mode endpoint at /mcp.
func newMCPEndpoint(g *Gateway) *mcpEndpoint {
	e := newEndpoint(g, "/mcp", newStreamSlots(), func(e *mcpEndpoint) server.ToolFilterFunc { return e.filterTools })
	e.registerTools()
	return e
}

// newEndpoint builds an MCP endpoint at path; filter shapes its tool list
// per request. Every endpoint counts its event streams in streams.
func newEndpoint(g *Gateway, path string, streams *streamSlots, filter func(*mcpEndpoint) server.ToolFilterFunc, opts ...server.ServerOption) *mcpEndpoint {
	e := &mcpEndpoint{g: g, path: path, streams: streams}
	e.server = server.NewMCPServer("executor", "1.0.0", append([]server.ServerOption{
		server.WithToolCapabilities(true),
		server.WithRecovery(),
		server.WithElicitation(),
		server.WithToolFilter(filter(e)),
	}, opts...)...)
	e.http = server.NewStreamableHTTPServer(e.server,
		server.WithSessionIdManagerResolver(sessionResolver{reg: g.sessions, endpoint: path}),
		// Our own Origin and Host checks replace mcp-go's loopback guard, which
		// would refuse every proxied request that carries the public Host.
		server.WithDisableLocalhostProtection(true),
		server.WithStreamableHTTPLogger(g.logger.With("component", "mcp")),
		server.WithHeartbeatInterval(25*time.Second),
	)
	return e
}

func (e *mcpEndpoint) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.http.Shutdown(ctx)
}

func (e *mcpEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := PrincipalFrom(r.Context())
	if !ok {
		WriteRPCError(w, http.StatusUnauthorized, -32001, "Unauthorized")
		return
	}
	if !originAllowed(r) {
		WriteRPCError(w, http.StatusForbidden, -32000, "Forbidden: Origin not allowed")
		return
	}
	if r.Method == http.MethodOptions {
		e.preflight(w, r)
		return
	}
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Access-Control-Expose-Headers", "Mcp-Session-Id, WWW-Authenticate")
		w.Header().Add("Vary", "Origin")
	}
	if v := r.Header.Values(mcp.HeaderProtocolVersion); len(v) > 1 || (len(v) == 1 && !slices.Contains(supportedProtocols, v[0])) {
		WriteRPCError(w, http.StatusBadRequest, mcp.INVALID_REQUEST, "Bad Request: Unsupported protocol version: "+strings.Join(v, ", ")+
			"; supported versions are "+strings.Join(supportedProtocols, ", "))
		return
	}
	sid := r.Header.Get(server.HeaderKeySessionID)
	if sid != "" && !validSessionIDSyntax(sid) {
		WriteRPCError(w, http.StatusBadRequest, mcp.INVALID_REQUEST, "Bad Request: malformed Mcp-Session-Id")
		return
	}
	modern := r.Header.Get(mcp.HeaderProtocolVersion) == mcp.ProtocolVersion20260728
	mode := e.g.config().sessionMode(requestedMode(r))
	r = r.WithContext(WithSite(context.WithValue(r.Context(), modeKey{}, mode), siteFrom(r)))

	switch r.Method {
	case http.MethodPost:
		if !acceptsMCP(r.Header.Values("Accept")) {
			WriteRPCError(w, http.StatusNotAcceptable, mcp.INVALID_REQUEST,
				"Not Acceptable: the Accept header must allow application/json and text/event-stream")
			return
		}
		body, ok := readMCPBody(w, r)
		if !ok {
			return
		}
		method, isModern, err := inspectMessage(body)
		if err != nil {
			WriteRPCError(w, http.StatusBadRequest, err.code, err.msg)
			return
		}
		modern = modern || isModern
		if method != string(mcp.MethodSubscriptionsListen) { // a stream, not work
			defer e.g.work()()
		}
		if method != string(mcp.MethodInitialize) && !modern && !e.checkSession(w, sid, p, true) {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if method == string(mcp.MethodToolsCall) {
			if !e.direct {
				if limited := e.g.limits.Load().take(p.ID, "", e.g.now()); limited != nil {
					w.Header().Set("Retry-After", strconv.Itoa(limited.retryAfterSeconds()))
					WriteRPCError(w, http.StatusTooManyRequests, -32000, "Too Many Requests: "+limited.describe())
					return
				}
			}
			r = r.WithContext(context.WithValue(r.Context(), toolCallKey{}, true))
		}
	case http.MethodGet:
		if !modern && !e.checkSession(w, sid, p, true) {
			return
		}
		release, why := e.streams.open(p.ID, sid)
		switch why {
		case streamSessionBusy:
			WriteRPCError(w, http.StatusConflict, -32000, "Conflict: this session already has an open event stream; close it before opening another")
			return
		case streamTooMany:
			w.Header().Set("Retry-After", "30")
			WriteRPCError(w, http.StatusTooManyRequests, -32000, fmt.Sprintf("Too Many Requests: at most %d open event streams per principal; close one before opening another", e.streams.perPrincipal))
			return
		}
		defer release()
		ctx, cancel := context.WithTimeout(r.Context(), e.streams.maxAge)
		defer cancel()
		r = r.WithContext(ctx)
	case http.MethodDelete:
		if sid == "" && !modern {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !modern && !e.checkSession(w, sid, p, true) {
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST, DELETE, OPTIONS")
		WriteRPCError(w, http.StatusMethodNotAllowed, -32000, "Method not allowed.")
		return
	}
	e.http.ServeHTTP(w, r)
}

// checkSession enforces that a legacy request names a live session owned by
// the caller: absent → 400, unknown → 404 -32001, another principal's → 403 -32003.
func (e *mcpEndpoint) checkSession(w http.ResponseWriter, sid string, p Principal, required bool) bool {
	if sid == "" {
		if !required {
			return true
		}
		WriteRPCError(w, http.StatusBadRequest, -32000, "Bad Request: Mcp-Session-Id header is required")
		return false
	}
	s, ok := e.g.sessions.lookup(sid)
	if !ok || s.endpoint() != e.path {
		WriteRPCError(w, http.StatusNotFound, -32001, "Session not found")
		return false
	}
	if s.Owner != p.ID {
		e.g.logger.Warn("MCP session used by another principal", "principal", p.ID)
		WriteRPCError(w, http.StatusForbidden, -32003, "MCP session does not belong to the current bearer")
		return false
	}
	return true
}

func (e *mcpEndpoint) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Add("Vary", "Origin")
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Mcp-Session-Id, Accept, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID")
	h.Set("Access-Control-Expose-Headers", "Mcp-Session-Id, WWW-Authenticate")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// validSessionIDSyntax accepts visible ASCII up to 256 bytes (MCP spec).
func validSessionIDSyntax(s string) bool {
	if len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// acceptsMCP reports whether a POST's Accept header allows what the
// endpoint answers with, JSON or an event stream (security.md D12). A
// request without one accepts anything.
func acceptsMCP(accept []string) bool {
	if len(accept) == 0 {
		return true
	}
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			media, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.ToLower(strings.TrimSpace(media)) {
			case "application/json", "text/event-stream", "application/*", "text/*", "*/*":
				return true
			}
		}
	}
	return false
}

func readMCPBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/json") {
		WriteRPCError(w, http.StatusUnsupportedMediaType, mcp.INVALID_REQUEST, "Unsupported Media Type: Content-Type must be application/json")
		return nil, false
	}
	if ce := strings.TrimSpace(r.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		// Never decompressed: a small compressed body could expand past
		// any cap before it is parsed.
		WriteRPCError(w, http.StatusUnsupportedMediaType, mcp.INVALID_REQUEST, "Unsupported Media Type: compressed request bodies (Content-Encoding "+strconv.Quote(ce)+") are not accepted")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMCPBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteRPCError(w, http.StatusRequestEntityTooLarge, mcp.INVALID_REQUEST, "Request Entity Too Large: the limit is 4 MiB")
		} else {
			WriteRPCError(w, http.StatusBadRequest, mcp.PARSE_ERROR, "Parse error: could not read the request body")
		}
		return nil, false
	}
	return body, true
}

type rpcProblem struct {
	code int
	msg  string
}

// inspectMessage checks that body is exactly one JSON-RPC message with no
// duplicate or case-variant keys (Go's decoder would silently take the last
// one), and returns its method and whether it declares protocol 2026-07-28.
func inspectMessage(body []byte) (method string, modern bool, problem *rpcProblem) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return "", false, &rpcProblem{mcp.INVALID_REQUEST, "Invalid Request: JSON-RPC batches are not supported"}
	}
	if !json.Valid(body) {
		return "", false, &rpcProblem{mcp.PARSE_ERROR, "Parse error: the body is not valid JSON"}
	}
	if !validUnicode(body) {
		// Decoders replace these with U+FFFD, each at its own discretion:
		// two readers of one message could see different text.
		return "", false, &rpcProblem{mcp.PARSE_ERROR, "Parse error: the body is not valid UTF-8, or escapes a lone UTF-16 surrogate"}
	}
	if n := jsonValues(body, maxMessageValues+1); n > maxMessageValues {
		return "", false, &rpcProblem{mcp.INVALID_REQUEST, fmt.Sprintf("Invalid Request: the message holds more than %d JSON values", maxMessageValues)}
	}
	if key, dup := duplicateKey(body); dup {
		return "", false, &rpcProblem{mcp.INVALID_REQUEST, "Invalid Request: duplicate key " + strconv.Quote(key)}
	}
	var msg struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  json.RawMessage `json:"method"`
		Params  *struct {
			Meta struct {
				ProtocolVersion string `json:"io.modelcontextprotocol/protocolVersion"`
			} `json:"_meta"`
		} `json:"params"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return "", false, &rpcProblem{mcp.INVALID_REQUEST, "Invalid Request: the message must be a JSON object"}
	}
	if msg.JSONRPC != "2.0" {
		return "", false, &rpcProblem{mcp.INVALID_REQUEST, `Invalid Request: "jsonrpc" must be "2.0"`}
	}
	if len(msg.ID) > 0 && !validID(msg.ID) {
		return "", false, &rpcProblem{mcp.INVALID_REQUEST, `Invalid Request: "id" must be a string or an integer between -2^53 and 2^53`}
	}
	if len(msg.Method) > 0 {
		if err := json.Unmarshal(msg.Method, &method); err != nil {
			return "", false, &rpcProblem{mcp.INVALID_REQUEST, `Invalid Request: "method" must be a string`}
		}
	}
	if msg.Params != nil {
		modern = msg.Params.Meta.ProtocolVersion == mcp.ProtocolVersion20260728
	}
	return method, modern, nil
}

// WriteRPCError writes {"jsonrpc":"2.0","error":{"code":…,"message":…},"id":null},
// the shape MCP clients expect for transport-level failures.
func WriteRPCError(w http.ResponseWriter, status, code int, message string) {
	type rpcError struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		JSONRPC string   `json:"jsonrpc"`
		Error   rpcError `json:"error"`
		ID      any      `json:"id"`
	}{"2.0", rpcError{code, message}, nil})
}
