package mcpupstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// ProbeResult is what an unauthenticated handshake learned about an
// endpoint.
type ProbeResult struct {
	// Transport is "streamable-http" or "sse".
	Transport string `json:"transport"`
	// RequiresOAuth is set when the server answered 401 with a Bearer
	// challenge: connections need an OAuth access token.
	RequiresOAuth bool `json:"requiresOAuth"`
	// ResourceMetadata is the challenge's resource_metadata URL (RFC 9728),
	// where OAuth discovery starts.
	ResourceMetadata string `json:"resourceMetadata,omitempty"`
	ServerName       string `json:"serverName,omitempty"`
	ServerVersion    string `json:"serverVersion,omitempty"`
	ProtocolVersion  string `json:"protocolVersion,omitempty"`
}

// maxProbeBody bounds what Probe reads of a response.
const maxProbeBody = 1 << 20

// Probe sends an MCP initialize to endpoint with headers (no credential)
// through client, which should be the gateway's egress client. A 2xx JSON
// or event-stream answer, or a 401 with a Bearer challenge, identifies an
// MCP server; 404, 405, 406 and 415 mean the server may only speak the
// legacy HTTP+SSE transport, which is tried next. The session the server
// opened, if any, is ended; its id is never returned.
func Probe(ctx context.Context, client *http.Client, endpoint string, headers map[string]string) (*ProbeResult, error) {
	if client == nil {
		return nil, errors.New("mcpupstream: Probe needs an HTTP client")
	}
	if err := (Config{Transport: transportRemote, Endpoint: endpoint, Headers: headers}).validateRemote(); err != nil {
		return nil, err
	}
	redact := probeRedactor(headers)
	res, status, err := probeStreamable(ctx, client, endpoint, headers)
	switch {
	case err != nil:
		return nil, fmt.Errorf("probing %s: %s", redactURL(endpoint), redact(err.Error()))
	case res != nil:
		return res, nil
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed ||
		status == http.StatusNotAcceptable || status == http.StatusUnsupportedMediaType:
		res, err := probeSSE(ctx, client, endpoint, headers)
		if err != nil {
			return nil, fmt.Errorf("probing %s: streamable HTTP answered %d and the SSE transport failed too: %s",
				redactURL(endpoint), status, redact(err.Error()))
		}
		return res, nil
	case status == http.StatusUnauthorized:
		return nil, fmt.Errorf("probing %s: the server requires authentication (HTTP 401) but offers no OAuth (Bearer) challenge; connect with a credential such as an API key header", redactURL(endpoint))
	default:
		return nil, fmt.Errorf("probing %s: the server answered HTTP %d, which is not an MCP handshake", redactURL(endpoint), status)
	}
}

func probeRedactor(headers map[string]string) func(string) string {
	return func(s string) string {
		s = urlQuery.ReplaceAllString(s, "$1?[query redacted]")
		for _, v := range headers {
			if len(v) >= 4 {
				s = strings.ReplaceAll(s, v, "[redacted]")
			}
		}
		return s
	}
}

// probeStreamable POSTs initialize. It returns a result when the server
// is identified, else the status it answered with.
func probeStreamable(ctx context.Context, hc *http.Client, endpoint string, headers map[string]string) (*ProbeResult, int, error) {
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": 1, "method": "initialize",
		"params": map[string]any{
			"protocolVersion": mcp.LATEST_LEGACY_PROTOCOL_VERSION,
			"capabilities":    map[string]any{},
			"clientInfo":      clientInfo,
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
		defer endProbeSession(hc, endpoint, headers, sid, resp.Header.Get("Mcp-Protocol-Version"))
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if rm, ok := bearerChallenge(resp.Header.Values("WWW-Authenticate")); ok {
			return &ProbeResult{Transport: remoteStreamable, RequiresOAuth: true, ResourceMetadata: rm}, resp.StatusCode, nil
		}
		return nil, resp.StatusCode, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, resp.StatusCode, nil
	}
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var msg []byte
	switch media {
	case "application/json":
		msg, err = io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
		if err != nil {
			return nil, 0, err
		}
	case "text/event-stream":
		msg, err = firstSSEMessage(resp.Body)
		if err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, fmt.Errorf("the server answered %d with %q, not JSON or an event stream", resp.StatusCode, media)
	}
	var rpc struct {
		JSONRPC string                `json:"jsonrpc"`
		Result  *mcp.InitializeResult `json:"result"`
		Error   *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg, &rpc); err != nil || rpc.JSONRPC != "2.0" {
		return nil, 0, errors.New("the answer is not a JSON-RPC message: the endpoint does not look like an MCP server")
	}
	res := &ProbeResult{Transport: remoteStreamable}
	if rpc.Result != nil {
		res.ServerName = rpc.Result.ServerInfo.Name
		res.ServerVersion = rpc.Result.ServerInfo.Version
		res.ProtocolVersion = rpc.Result.ProtocolVersion
	}
	return res, resp.StatusCode, nil
}

// firstSSEMessage reads an event stream up to its first message's data.
func firstSSEMessage(r io.Reader) ([]byte, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxProbeBody))
	sc.Buffer(make([]byte, 0, 64<<10), maxProbeBody)
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) > 0 {
				return data, nil
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "data:"); ok {
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, strings.TrimPrefix(v, " ")...)
		}
	}
	if len(data) > 0 {
		return data, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("the event stream ended without a message")
}

// endProbeSession politely ends the session a probe opened.
func endProbeSession(hc *http.Client, endpoint string, headers map[string]string, sid, version string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, endpoint, nil)
	if err != nil {
		return
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Mcp-Session-Id", sid)
	if version != "" {
		req.Header.Set("Mcp-Protocol-Version", version)
	}
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
	}
}

var resourceMetadataParam = regexp.MustCompile(`(?i)resource_metadata\s*=\s*(?:"([^"]*)"|([^\s,]+))`)

// bearerChallenge finds a Bearer challenge and its resource_metadata.
func bearerChallenge(values []string) (string, bool) {
	for _, v := range values {
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "bearer") {
			continue
		}
		if m := resourceMetadataParam.FindStringSubmatch(v); m != nil {
			rm := m[1] + m[2]
			if u, err := url.Parse(rm); err == nil && u.IsAbs() {
				return rm, true
			}
		}
		return "", true
	}
	return "", false
}

// probeSSE runs the handshake over the legacy HTTP+SSE transport.
func probeSSE(ctx context.Context, hc *http.Client, endpoint string, headers map[string]string) (*ProbeResult, error) {
	t, err := transport.NewSSE(endpoint, transport.WithHTTPClient(hc), transport.WithHeaders(headers))
	if err != nil {
		return nil, err
	}
	cl := client.NewClient(t, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	defer cl.Close()
	if err := cl.Start(ctx); err != nil {
		var authErr *transport.AuthorizationRequiredError
		if errors.As(err, &authErr) {
			return &ProbeResult{Transport: remoteSSE, RequiresOAuth: true, ResourceMetadata: authErr.ResourceMetadataURL}, nil
		}
		return nil, err
	}
	res, err := cl.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ClientInfo: clientInfo}})
	if err != nil {
		return nil, err
	}
	return &ProbeResult{
		Transport:       remoteSSE,
		ServerName:      res.ServerInfo.Name,
		ServerVersion:   res.ServerInfo.Version,
		ProtocolVersion: res.ProtocolVersion,
	}, nil
}
