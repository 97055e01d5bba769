package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// protocolVersion is what the benchmark clients negotiate: a session-based
// version every MCP server speaks, so the gateway and the upstream are
// driven the same way.
const protocolVersion = "2025-06-18"

// newHTTPClient is one simulated agent's HTTP client: its own keep-alive
// connection, no compression, no proxy from the environment.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		Timeout: 2 * time.Minute,
	}
}

// session is a minimal MCP client over streamable HTTP: initialize, then
// JSON-RPC requests carrying the session id. It is deliberately small so
// that what the clients spend does not blur the difference between the
// gateway and the upstream; it is not safe for concurrent use.
type session struct {
	url    string
	client *http.Client
	id     string // Mcp-Session-Id
	next   int64
}

// openSession runs the initialize handshake against url.
func openSession(ctx context.Context, url string) (*session, error) {
	s := &session{url: url, client: newHTTPClient()}
	init := fmt.Sprintf(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":%q,`+
		`"capabilities":{},"clientInfo":{"name":"executor-bench","version":"1"}}}`, protocolVersion)
	body, hdr, err := s.post(ctx, []byte(init))
	if err != nil {
		s.client.CloseIdleConnections()
		return nil, fmt.Errorf("initialize at %s: %w", url, err)
	}
	if _, err := rpcResult(body); err != nil {
		s.client.CloseIdleConnections()
		return nil, fmt.Errorf("initialize at %s: %w", url, err)
	}
	s.id = hdr.Get("Mcp-Session-Id")
	if s.id == "" {
		s.client.CloseIdleConnections()
		return nil, fmt.Errorf("initialize at %s: the response has no Mcp-Session-Id header", url)
	}
	if _, _, err := s.post(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
		s.close()
		return nil, fmt.Errorf("notifications/initialized at %s: %w", url, err)
	}
	return s, nil
}

// toolCall returns a function that sends tools/call name(args) on s and
// returns the raw JSON-RPC response. The request body is prepared once, so
// a call only appends a fresh id.
func (s *session) toolCall(name string, args any) (func(context.Context) ([]byte, error), error) {
	params, err := json.Marshal(map[string]any{"name": name, "arguments": args})
	if err != nil {
		return nil, err
	}
	prefix := append([]byte(`{"jsonrpc":"2.0","method":"tools/call","params":`), params...)
	prefix = append(prefix, `,"id":`...)
	buf := make([]byte, 0, len(prefix)+24)
	return func(ctx context.Context) ([]byte, error) {
		s.next++
		buf = strconv.AppendInt(append(buf[:0], prefix...), s.next, 10)
		buf = append(buf, '}')
		body, _, err := s.post(ctx, buf)
		return body, err
	}, nil
}

// post sends one JSON-RPC message and returns the response message (the
// JSON body, or the response event of an SSE stream).
func (s *session) post(ctx context.Context, msg []byte) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(msg))
	if err != nil {
		return nil, nil, err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["Accept"] = []string{"application/json, text/event-stream"}
	if s.id != "" {
		req.Header["Mcp-Session-Id"] = []string{s.id}
		req.Header["Mcp-Protocol-Version"] = []string{protocolVersion}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusAccepted:
		return nil, resp.Header, nil
	default:
		return nil, nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, clip(string(body), 300))
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, err = sseResponse(body)
	}
	return body, resp.Header, err
}

// close ends the session on the server and drops the connection.
func (s *session) close() {
	if s.id != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.url, nil)
		if err == nil {
			req.Header.Set("Mcp-Session-Id", s.id)
			req.Header.Set("Mcp-Protocol-Version", protocolVersion)
			if resp, err := s.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		cancel()
	}
	s.client.CloseIdleConnections()
}

// sseResponse picks the JSON-RPC response out of an event stream (a server
// may stream notifications before it).
func sseResponse(stream []byte) ([]byte, error) {
	for _, line := range bytes.Split(stream, []byte("\n")) {
		data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data:"))
		if !ok {
			continue
		}
		data = bytes.TrimSpace(data)
		var m struct {
			ID     json.RawMessage `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if json.Unmarshal(data, &m) == nil && len(m.ID) > 0 && (m.Result != nil || m.Error != nil) {
			return data, nil
		}
	}
	return nil, fmt.Errorf("the event stream holds no JSON-RPC response: %s", clip(string(stream), 300))
}

// rpcResult returns the result of a JSON-RPC response, or its error.
func rpcResult(body []byte) (json.RawMessage, error) {
	var m struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("the response is not JSON-RPC (%v): %s", err, clip(string(body), 300))
	}
	if m.Error != nil {
		return nil, fmt.Errorf("JSON-RPC error %d: %s", m.Error.Code, m.Error.Message)
	}
	if m.Result == nil {
		return nil, fmt.Errorf("the response has no result: %s", clip(string(body), 300))
	}
	return m.Result, nil
}

// toolResult is the part of a CallToolResult the checks read.
type toolResult struct {
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent"`
	IsError           bool            `json:"isError"`
}

// callToolResult decodes a tools/call response; a result flagged isError
// is an error carrying its text.
func callToolResult(body []byte) (*toolResult, error) {
	raw, err := rpcResult(body)
	if err != nil {
		return nil, err
	}
	var r toolResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decoding the tool result: %v", err)
	}
	if r.IsError {
		text := ""
		if len(r.Content) > 0 {
			text = r.Content[0].Text
		}
		return nil, fmt.Errorf("the tool returned an error: %s", clip(text, 300))
	}
	return &r, nil
}

// executeResult decodes the response to an execute call and returns the
// value the code returned, or why the execution did not complete.
func executeResult(body []byte) (json.RawMessage, error) {
	r, err := callToolResult(body)
	if err != nil {
		return nil, err
	}
	var sc struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(r.StructuredContent, &sc); err != nil {
		return nil, fmt.Errorf("decoding structuredContent: %v", err)
	}
	if sc.Status != "completed" {
		return nil, fmt.Errorf("execution %s: %s", sc.Status, clip(sc.Error, 300))
	}
	return sc.Result, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
