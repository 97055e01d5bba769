package mcpproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/sandbox"
	"github.com/mcpexecutor/executor/store"
)

// engine is one sandbox engine for the whole package (the compiled QuickJS
// module is process-wide anyway).
var engine *sandbox.Engine

func TestMain(m *testing.M) {
	var err error
	engine, err = sandbox.New(sandbox.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	code := m.Run()
	engine.Close()
	os.Exit(code)
}

// testKind is an integration kind that exists only in tests. Its tools
// behave as their names say: echo returns its arguments, sleep waits for
// args.ms, fail returns an upstream error, defect returns a Go error.
type testKind struct {
	calls atomic.Int64
	// perTool counts calls by tool name.
	perTool map[string]*atomic.Int64
}

func newTestKind() *testKind { return &testKind{perTool: map[string]*atomic.Int64{}} }

func (k *testKind) Name() string { return "test" }

func (k *testKind) Produce(ctx context.Context, c *integration.Connection) (*integration.Catalog, error) {
	var cat integration.Catalog
	err := json.Unmarshal(c.Config, &cat)
	return &cat, err
}

func (k *testKind) Call(ctx context.Context, c *integration.Connection, tool *integration.Tool, args json.RawMessage) (*integration.Result, error) {
	k.calls.Add(1)
	if n, ok := k.perTool[tool.Name]; ok {
		n.Add(1)
	}
	var a struct {
		MS int `json:"ms"`
	}
	_ = json.Unmarshal(args, &a)
	switch {
	case strings.HasSuffix(tool.Name, "sleep"):
		select {
		case <-time.After(time.Duration(a.MS) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return integration.Succeed(map[string]any{"slept": a.MS}, nil), nil
	case strings.HasSuffix(tool.Name, "fail"):
		return &integration.Result{Error: &integration.ToolError{Code: "upstream_http_error", Message: `{"error":"nope"}`, Status: 404, Details: map[string]any{"error": "nope"}}}, nil
	case strings.HasSuffix(tool.Name, "defect"):
		return nil, fmt.Errorf("connection refused to http://10.0.0.1/secret-path")
	case strings.HasSuffix(tool.Name, "credential"):
		return integration.Succeed(map[string]any{"values": len(c.Credential.Values)}, nil), nil
	}
	return integration.Succeed(json.RawMessage(args), &integration.HTTPMeta{Status: 200, Headers: map[string]string{"x-test": "1"}}), nil
}

// tool is a shorthand for a test tool with an object input schema.
func tool(name, description string, props string, required ...string) integration.Tool {
	req, _ := json.Marshal(required)
	if len(required) == 0 {
		req = []byte("[]")
	}
	return integration.Tool{Name: name, Description: description,
		InputSchema: json.RawMessage(`{"type":"object","properties":{` + props + `},"required":` + string(req) + `}`)}
}

// testGateway is a Gateway over a temporary store with the test kind, served
// over real HTTP by a handler that takes the principal from X-Test-Principal
// (the job caddymodule does with Access tokens).
type testGateway struct {
	*Gateway
	kind *testKind
	srv  *httptest.Server
	db   *store.DB
}

func newTestGateway(t testing.TB, cfg Config) *testGateway {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "executor.db"), store.Options{SecretKey: "test-secret-key-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	kind := newTestKind()
	cfg.Store = db
	if cfg.HTTPClient == nil {
		// Test upstreams listen on 127.0.0.1; production mode is tested by
		// passing a client without AllowLocalNetwork.
		cfg.AllowLocalNetwork = true
		cfg.HTTPClient = egress.NewClient(egress.Options{AllowLocalNetwork: true})
	}
	cfg.Kinds = append(cfg.Kinds, kind)
	if cfg.Sandbox == nil {
		cfg.Sandbox = engine
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{Gateway: g, kind: kind, db: db}
	tg.srv = serve(t, g)
	t.Cleanup(func() {
		tg.srv.Close()
		g.Close()
		db.Close()
	})
	return tg
}

// serve puts g behind a test HTTP server that takes the principal from
// X-Test-Principal (caddymodule's job with Access tokens).
func serve(t testing.TB, g *Gateway) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Test-Principal")
		if id == "" {
			id = "alice"
		}
		ctx := WithPrincipal(r.Context(), Principal{ID: id, Email: id + "@example.com", Name: id, Kind: KindUser})
		r = r.WithContext(ctx)
		switch {
		case r.URL.Path == "/mcp":
			g.ServeMCP(w, r)
		case strings.HasPrefix(r.URL.Path, "/mcp/"):
			g.ServeDirectMCP(w, r)
		case strings.HasPrefix(r.URL.Path, "/api/"):
			g.ServeAPI(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
}

// connect stores an integration of the test kind and a connection to it.
func (tg *testGateway) connect(t testing.TB, slug, owner, subject, name string, tools ...integration.Tool) {
	t.Helper()
	cat := &integration.Catalog{Tools: tools}
	cfg, _ := json.Marshal(cat)
	now := time.Now().UTC()
	in := Integration{Slug: slug, Name: slug, Kind: "test", Config: cfg, AuthMethods: []AuthMethod{{Template: "none", Kind: "none"}}, CreatedAt: now, UpdatedAt: now}
	if err := tg.store.Update(func(tx store.Tx) error { return tx.PutJSON(store.Integrations, slug, in) }); err != nil {
		t.Fatal(err)
	}
	for _, tl := range tools {
		if _, ok := tg.kind.perTool[tl.Name]; !ok {
			tg.kind.perTool[tl.Name] = new(atomic.Int64)
		}
	}
	conn := Connection{Owner: owner, Subject: subject, Integration: slug, Name: name, Template: "none", CreatedAt: now, UpdatedAt: now}
	if err := tg.saveConnectionTools(conn, "test", cat); err != nil {
		t.Fatal(err)
	}
}

// mcpClient speaks streamable HTTP to the test gateway as one principal.
type mcpClient struct {
	t         testing.TB
	url       string
	principal string
	session   string
	protocol  string
	headers   map[string]string
	nextID    int
}

func (tg *testGateway) client(t testing.TB, principal string) *mcpClient {
	return &mcpClient{t: t, url: tg.srv.URL + "/mcp", principal: principal, protocol: "2025-06-18", headers: map[string]string{}}
}

type rpcResponse struct {
	status int
	header http.Header
	raw    string
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// post sends one raw body and decodes a JSON or SSE answer.
func (c *mcpClient) post(body string) rpcResponse {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("X-Test-Principal", c.principal)
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
		req.Header.Set("Mcp-Protocol-Version", c.protocol)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := rpcResponse{status: res.StatusCode, header: res.Header, raw: string(b)}
	payload := b
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		payload = nil
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") && strings.Contains(line, `"id"`) {
				payload = []byte(strings.TrimPrefix(line, "data: "))
			}
		}
	}
	if len(payload) > 0 {
		_ = json.Unmarshal(payload, &out)
	}
	return out
}

func (c *mcpClient) initialize() {
	c.t.Helper()
	res := c.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"test","version":"0"}}}`, c.protocol))
	if res.status != 200 {
		c.t.Fatalf("initialize: %d %s", res.status, res.raw)
	}
	c.session = res.header.Get("Mcp-Session-Id")
	c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

func (c *mcpClient) call(method string, params any) rpcResponse {
	c.t.Helper()
	c.nextID++
	p, _ := json.Marshal(params)
	return c.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, c.nextID, method, p))
}

// toolResult is a decoded CallToolResult.
type toolResult struct {
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent"`
	IsError           bool            `json:"isError"`
}

func (r toolResult) text() string {
	var b strings.Builder
	for _, c := range r.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

func (c *mcpClient) execute(code string) toolResult {
	c.t.Helper()
	res := c.call("tools/call", map[string]any{"name": "execute", "arguments": map[string]any{"code": code}})
	if res.status != 200 || res.Error != nil {
		c.t.Fatalf("execute: %d %s", res.status, res.raw)
	}
	var tr toolResult
	if err := json.Unmarshal(res.Result, &tr); err != nil {
		c.t.Fatalf("execute result: %v %s", err, res.raw)
	}
	return tr
}

// structured decodes structuredContent.
func (r toolResult) structured(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.StructuredContent, &m); err != nil {
		t.Fatalf("structuredContent: %v %s", err, r.StructuredContent)
	}
	return m
}

// getMCP opens the standalone GET stream and returns the status (the
// stream is closed at once).
func getMCP(t testing.TB, tg *testGateway, session, principal string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", tg.srv.URL+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Test-Principal", principal)
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func deleteMCP(t testing.TB, tg *testGateway, session, principal string) int {
	t.Helper()
	req, _ := http.NewRequest("DELETE", tg.srv.URL+"/mcp", nil)
	req.Header.Set("X-Test-Principal", principal)
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// api calls the JSON API as principal and decodes the answer into out (if
// not nil); it returns the status and the raw body.
func (tg *testGateway) api(t testing.TB, principal, method, path string, body any, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, tg.srv.URL+path, rd)
	req.Header.Set("X-Test-Principal", principal)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return res.StatusCode, string(b)
}
