package mcpupstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// stdioServer is the path of the test stdio MCP server, built once.
var stdioServer string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcpupstream-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stdioServer = filepath.Join(dir, "stdioserver")
	build := exec.Command("go", "build", "-o", stdioServer, "./testdata/stdioserver")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building testdata/stdioserver:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// quietLogger keeps test output readable; set MCPUPSTREAM_LOG=1 to see it.
func quietLogger() *slog.Logger {
	if os.Getenv("MCPUPSTREAM_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newKind returns a Kind closed when the test ends.
func newKind(t testing.TB, opts Options) *Kind {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	k := New(opts)
	t.Cleanup(func() { _ = k.Close() })
	return k
}

// egress stands in for the gateway's guarded client.
var egress = &http.Client{Timeout: integration.ResponseHeadersTimeout + integration.ResponseBodyTimeout}

var connSeq atomic.Int64

// connection returns a connection with cfg and a fresh key.
func connection(t testing.TB, cfg Config, cred integration.Credential) *integration.Connection {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := connSeq.Add(1)
	return &integration.Connection{
		Key:         fmt.Sprintf("org\x00\x00test\x00c%d", n),
		Integration: "test",
		Config:      raw,
		Owner:       "org",
		Name:        fmt.Sprintf("c%d", n),
		Credential:  cred,
		HTTP:        egress,
	}
}

// call calls the tool named name of cat through k.
func call(t testing.TB, k *Kind, c *integration.Connection, cat *integration.Catalog, name string, args any) *integration.Result {
	t.Helper()
	tool := findTool(t, cat, name)
	raw, _ := json.Marshal(args)
	res, err := k.Call(context.Background(), c, tool, raw)
	if err != nil {
		t.Fatalf("Call %s: %v", name, err)
	}
	return res
}

func findTool(t testing.TB, cat *integration.Catalog, name string) *integration.Tool {
	t.Helper()
	for i := range cat.Tools {
		if cat.Tools[i].Name == name {
			return &cat.Tools[i]
		}
	}
	t.Fatalf("no tool %q in %v", name, toolNames(cat))
	return nil
}

func toolNames(cat *integration.Catalog) []string {
	var out []string
	for _, t := range cat.Tools {
		out = append(out, t.Name)
	}
	return out
}

// produce lists c's tools or fails the test.
func produce(t testing.TB, k *Kind, c *integration.Connection) *integration.Catalog {
	t.Helper()
	cat, err := k.Produce(context.Background(), c)
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	return cat
}

// resultJSON is the result as the sandbox sees it.
func resultJSON(t testing.TB, r *integration.Result) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// text is the text of the first content block of a successful result.
func text(t testing.TB, r *integration.Result) string {
	t.Helper()
	if !r.OK {
		t.Fatalf("call failed: %s", resultJSON(t, r))
	}
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(r.Data.(json.RawMessage), &res); err != nil || len(res.Content) == 0 {
		t.Fatalf("unexpected data %s (%v)", r.Data, err)
	}
	return res.Content[0].Text
}

func statusOf(t testing.TB, k *Kind, key string) ConnectionStatus {
	t.Helper()
	for _, s := range k.Status() {
		if s.Key == key {
			return s
		}
	}
	t.Fatalf("no status for %q", key)
	return ConnectionStatus{}
}

// eventually retries cond until it holds or the time is up.
func eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		// pid (comm) state …: comm may hold spaces, so look after the last ')'.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			return s[i+2] != 'Z'
		}
		return true
	}
	return syscall.Kill(pid, 0) == nil
}

// --- test upstreams ---------------------------------------------------------

// upstreamOpts shape a test upstream.
type upstreamOpts struct {
	legacy      bool   // answer server/discover like a server before 2026-07-28
	pageSize    int    // tools/list page size
	listChanged bool   // declare tools.listChanged
	status      int    // answer every request with this status
	bearer      string // with status 401: a Bearer challenge with this resource_metadata
	// tsSessions makes forgotten sessions answer like the TypeScript SDK:
	// 400 with "Bad Request: No valid session ID provided".
	tsSessions bool
}

// testUpstream is an MCP server on 127.0.0.1 speaking streamable HTTP at
// /mcp and HTTP+SSE at /sse, which records what reaches it.
type testUpstream struct {
	t    testing.TB
	opts upstreamOpts
	addr string
	MCP  *server.MCPServer

	mu       sync.Mutex
	methods  map[string]int
	gets     int
	headers  http.Header // of the last tools/call
	query    url.Values
	srv      *http.Server
	handler  http.Handler
	sessions *forgetfulSessions
	lastBody map[string][]byte // last raw response per JSON-RPC method (JSON answers only)
}

func newTestUpstream(t testing.TB, opts upstreamOpts) *testUpstream {
	t.Helper()
	u := &testUpstream{t: t, opts: opts, methods: map[string]int{}, lastBody: map[string][]byte{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	u.build()
	u.serve(ln)
	t.Cleanup(u.stop)
	return u
}

func (u *testUpstream) URL() string    { return "http://" + u.addr + "/mcp" }
func (u *testUpstream) SSEURL() string { return "http://" + u.addr + "/sse" }

// build makes a fresh MCP server, as a restarted process would have.
func (u *testUpstream) build() {
	opts := []server.ServerOption{server.WithToolCapabilities(u.opts.listChanged)}
	if u.opts.pageSize > 0 {
		opts = append(opts, server.WithPaginationLimit(u.opts.pageSize))
	}
	s := server.NewMCPServer("test-upstream", "9.9.9", opts...)
	addTestTools(s)
	u.MCP = s
	u.sessions = &forgetfulSessions{valid: map[string]bool{}, forgotten: map[string]bool{}}
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s, server.WithSessionIdManager(u.sessions)))
	sse := server.NewSSEServer(s)
	mux.Handle("/sse", sse.SSEHandler())
	mux.Handle("/message", sse.MessageHandler())
	u.mu.Lock()
	u.handler = mux
	u.mu.Unlock()
}

func (u *testUpstream) serve(ln net.Listener) {
	srv := &http.Server{Handler: u}
	u.mu.Lock()
	u.srv = srv
	u.mu.Unlock()
	go srv.Serve(ln)
}

func (u *testUpstream) stop() {
	u.mu.Lock()
	srv := u.srv
	u.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// restart stops the server and starts a new one on the same address: every
// session and connection is gone, as after an upstream deploy.
func (u *testUpstream) restart() {
	u.t.Helper()
	u.stop()
	u.build()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", u.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		u.t.Fatalf("relistening on %s: %v", u.addr, err)
	}
	u.serve(ln)
}

// forget makes the server forget every session, as when it expires them.
func (u *testUpstream) forget() { u.sessions.forgetAll() }

func (u *testUpstream) count(method string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.methods[method]
}

func (u *testUpstream) getCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gets
}

func (u *testUpstream) lastCall() (http.Header, url.Values) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.headers, u.query
}

func (u *testUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	_ = json.Unmarshal(body, &msg)
	u.mu.Lock()
	if r.Method == http.MethodGet {
		u.gets++
	}
	if msg.Method != "" {
		u.methods[msg.Method]++
	}
	if msg.Method == "tools/call" {
		u.headers, u.query = r.Header.Clone(), r.URL.Query()
	}
	h := u.handler
	u.mu.Unlock()

	if u.opts.status != 0 {
		if u.opts.status == http.StatusUnauthorized && u.opts.bearer != "" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="mcp", resource_metadata="%s"`, u.opts.bearer))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(u.opts.status)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"%s"}}`, http.StatusText(u.opts.status))
		return
	}
	if u.opts.legacy && msg.Method == "server/discover" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"Method not found"}}`, msg.ID)
		return
	}
	if sid := r.Header.Get("Mcp-Session-Id"); sid != "" && u.opts.tsSessions && u.sessions.isForgotten(sid) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":%s}`, orNull(msg.ID))
		return
	}
	rec := &recorder{ResponseWriter: w}
	h.ServeHTTP(rec, r)
	if msg.Method != "" && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		u.mu.Lock()
		u.lastBody[msg.Method] = rec.body.Bytes()
		u.mu.Unlock()
	}
}

func orNull(id json.RawMessage) string {
	if len(id) == 0 {
		return "null"
	}
	return string(id)
}

// lastResult is the raw "result" of the last JSON answer to method.
func (u *testUpstream) lastResult(method string) json.RawMessage {
	u.mu.Lock()
	defer u.mu.Unlock()
	var msg struct {
		Result json.RawMessage `json:"result"`
	}
	_ = json.Unmarshal(u.lastBody[method], &msg)
	return msg.Result
}

// recorder copies a response body and keeps streaming working.
type recorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.body.Len() < 1<<20 {
		r.body.Write(p)
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// forgetfulSessions is a stateful session manager that can forget.
type forgetfulSessions struct {
	mu        sync.Mutex
	valid     map[string]bool
	forgotten map[string]bool
}

func (f *forgetfulSessions) Generate() string {
	id := uuid.NewString()
	f.mu.Lock()
	f.valid[id] = true
	f.mu.Unlock()
	return id
}

func (f *forgetfulSessions) Validate(id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.valid[id] {
		return false, fmt.Errorf("unknown session %q", id)
	}
	return false, nil
}

func (f *forgetfulSessions) Terminate(id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.valid, id)
	return false, nil
}

func (f *forgetfulSessions) forgetAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range f.valid {
		f.forgotten[id] = true
	}
	f.valid = map[string]bool{}
}

func (f *forgetfulSessions) isForgotten(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forgotten[id]
}

// tinyPNG is a 1×1 PNG.
const tinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// addTestTools gives s the tools the tests call.
func addTestTools(s *server.MCPServer) {
	report := func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		b, _ := json.Marshal(map[string]any{"tool": r.Params.Name, "args": r.GetArguments()})
		return mcp.NewToolResultText(string(b)), nil
	}
	// Names that collide once sanitised, and one outside [A-Za-z0-9_.-].
	for _, name := range []string{"echo", "Get-User", "get_user", "get user", "GET.USER", "café ☕"} {
		s.AddTool(mcp.NewTool(name, mcp.WithDescription("Reports its name and arguments."), mcp.WithString("text"),
			mcp.WithDestructiveHintAnnotation(false)), report)
	}
	// mcp-go sends the spec's default hints, destructiveHint true among them.
	s.AddTool(mcp.NewTool("no_description"), report)
	s.AddTool(mcp.NewTool("fail", mcp.WithDescription("Always fails.")), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultError("the widget is broken"), nil
	})
	s.AddTool(mcp.NewTool("delete_everything",
		mcp.WithDescription("Deletes everything."),
		mcp.WithTitleAnnotation("Delete everything"),
		mcp.WithDestructiveHintAnnotation(true)), report)
	s.AddTool(mcp.NewTool("read_only", mcp.WithReadOnlyHintAnnotation(true), mcp.WithDestructiveHintAnnotation(false)), report)
	s.AddTool(mcp.NewTool("image"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res := mcp.NewToolResultImage("a pixel", tinyPNG, "image/png")
		res.Content = append(res.Content, mcp.NewEmbeddedResource(mcp.TextResourceContents{URI: "file:///a.txt", MIMEType: "text/plain", Text: "hello"}))
		return res, nil
	})
	s.AddTool(mcp.NewTool("whoami"), func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultError("you are " + r.Header.Get("Authorization") + " with key " + r.Header.Get("X-Api-Key")), nil
	})
	s.AddTool(mcp.NewTool("structured", mcp.WithRawOutputSchema(json.RawMessage(
		`{"type":"object","properties":{"pet":{"$ref":"#/$defs/Pet"}},"$defs":{"Pet":{"type":"object","properties":{"name":{"type":"string"}}}}}`))),
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultStructured(map[string]any{"pet": map[string]any{"name": "Rex"}}, `{"pet":{"name":"Rex"}}`), nil
		})
	s.AddTool(mcp.NewTool("slow", mcp.WithNumber("ms")), func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-time.After(time.Duration(r.GetInt("ms", 50)) * time.Millisecond):
		case <-ctx.Done():
		}
		return mcp.NewToolResultText("done"), nil
	})
	s.AddTool(mcp.NewTool("ask"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := s.RequestElicitation(ctx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{
			Message:         "Which one?",
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": "string"}}},
		}})
		if err != nil {
			return mcp.NewToolResultError("elicitation failed: " + err.Error()), nil
		}
		return mcp.NewToolResultText("action=" + string(res.Action)), nil
	})
}

// pidOf parses a pid a tool reported.
func pidOf(t testing.TB, s string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a pid: %q", s)
	}
	return pid
}
