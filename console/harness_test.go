package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/graph-gophers/graphql-go"
	"github.com/graph-gophers/graphql-go/relay"
)

// The browser tests drive Debian's chromium against one gateway started from
// the real binary in local mode. Tests share that gateway and use their own
// integrations, so they run one after another.

const chromiumPath = "/usr/bin/chromium"

var (
	gw      *gateway
	browser context.Context // a chromedp context whose browser is running
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "console-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "executor")
	build := exec.Command("go", "build", "-o", bin, "../cmd/executor")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the executor binary:", err)
		return 1
	}
	gw, err = startGateway(bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer gw.stop()
	if _, err := os.Stat(chromiumPath); err == nil {
		cancel, err := startBrowser(filepath.Join(dir, "chromium"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "starting chromium:", err)
			return 1
		}
		defer cancel()
	}
	return m.Run()
}

// ---- the gateway ----

type gateway struct {
	base string
	cmd  *exec.Cmd
	out  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startGateway(bin, dir string) (*gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "home")
	work := filepath.Join(dir, "work")
	for _, d := range []string{home, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "run")
	cmd.Dir = work
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "XDG_DATA_HOME=", "XDG_CONFIG_HOME=",
		fmt.Sprintf("EXECUTOR_PORT=%d", port), fmt.Sprintf("EXECUTOR_ADMIN=localhost:%d", admin)}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gateway{base: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, out: out}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(g.base + "/api/account/me")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return g, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.stop()
	return nil, fmt.Errorf("the gateway did not start; output:\n%s", out.String())
}

func (g *gateway) stop() {
	_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	_, _ = g.cmd.Process.Wait()
}

// api calls the gateway's JSON API as a same-origin client would.
func (g *gateway) api(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s = %d %s: %v", method, path, res.StatusCode, b, err)
		}
	}
	return res.StatusCode
}

// mustAPI is api that fails the test on any status but 200.
func (g *gateway) mustAPI(t *testing.T, method, path string, body any, out any) {
	t.Helper()
	var raw json.RawMessage
	if code := g.api(t, method, path, body, &raw); code != 200 {
		t.Fatalf("%s %s = %d %s", method, path, code, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
}

// ---- an upstream API with an OpenAPI description ----

// petAPI serves an OpenAPI description with an apiKey header scheme and the
// API it describes, and records what it was asked.
type petAPI struct {
	*httptest.Server
	key   string
	mu    sync.Mutex
	calls []petCall
}

type petCall struct {
	Method, Path, Key string
	Body              string
}

func newPetAPI(t *testing.T, title, tag, summary, description string) *petAPI {
	t.Helper()
	p := &petAPI{key: "sk-test-" + strings.ReplaceAll(t.Name(), "/", "-")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(petSpec(p.URL, title, tag, summary, description))
	})
	mux.HandleFunc("/pets", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.calls = append(p.calls, petCall{r.Method, r.URL.Path, r.Header.Get("X-API-Key"), string(b)})
		p.mu.Unlock()
		if r.Header.Get("X-API-Key") != p.key {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"bad key"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			_, _ = fmt.Fprintf(w, `{"id":7,"created":%s}`, b)
			return
		}
		_, _ = w.Write([]byte(`[{"id":1,"name":"Rex"},{"id":2,"name":"Tom"}]`))
	})
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

func (p *petAPI) callsTo(method string) []petCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []petCall
	for _, c := range p.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func petSpec(server, title, tag, summary, description string) map[string]any {
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": title, "version": "1.0.0", "description": description},
		"servers": []any{map[string]any{"url": server}},
		"components": map[string]any{
			"securitySchemes": map[string]any{"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"}},
			"schemas": map[string]any{"Pet": map[string]any{"type": "object", "required": []any{"name"}, "description": description,
				"properties": map[string]any{"id": map[string]any{"type": "integer"}, "name": map[string]any{"type": "string", "description": description}}}},
		},
		"security": []any{map[string]any{"apiKey": []any{}}},
		"tags":     []any{map[string]any{"name": tag, "description": description}},
		"paths": map[string]any{
			"/pets": map[string]any{
				"get": map[string]any{
					"operationId": "listPets", "tags": []any{tag}, "summary": summary, "description": description,
					"responses": map[string]any{"200": map[string]any{"description": "The pets",
						"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Pet"}}}}}},
				},
				"post": map[string]any{
					"operationId": "createPet", "tags": []any{tag}, "summary": "Create a pet", "description": description,
					"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Pet"}}}},
					"responses":   map[string]any{"201": map[string]any{"description": "Created"}},
				},
			},
		},
	}
}

// addPetIntegration adds the API through the API (not the console) with an
// organization connection "main" using its key, and returns the tools'
// address prefix.
func addPetIntegration(t *testing.T, p *petAPI, slug string) string {
	t.Helper()
	gw.mustAPI(t, "POST", "/api/openapi/specs", map[string]any{"spec": map[string]any{"kind": "url", "url": p.URL + "/openapi.json"}, "slug": slug}, nil)
	gw.mustAPI(t, "POST", "/api/connections", map[string]any{"owner": "org", "name": "main", "integration": slug, "template": "apikey-0", "value": p.key}, nil)
	t.Cleanup(func() {
		gw.api(t, "DELETE", "/api/integrations/"+slug, nil, nil)
		var rules []struct{ ID, Owner, Pattern string }
		gw.api(t, "GET", "/api/policies", nil, &rules)
		for _, r := range rules {
			if strings.HasPrefix(r.Pattern, slug+".") {
				gw.api(t, "DELETE", "/api/policies/"+r.ID, map[string]any{"owner": r.Owner}, nil)
			}
		}
	})
	return "tools." + slug + ".org.main."
}

// toolAddress finds the address of a tool by the last segment of its name.
func toolAddress(t *testing.T, slug, leaf string) string {
	t.Helper()
	var tools []struct {
		Address string `json:"address"`
	}
	gw.mustAPI(t, "GET", "/api/tools?includeBlocked=true&integration="+slug, nil, &tools)
	for _, x := range tools {
		if strings.HasSuffix(x.Address, "."+leaf) {
			return x.Address
		}
	}
	t.Fatalf("no tool %s in %s: %v", leaf, slug, tools)
	return ""
}

// ---- an MCP agent ----

// agent is a minimal MCP client over streamable HTTP.
type agent struct {
	t       *testing.T
	url     string
	session string
	id      int
}

func newAgent(t *testing.T, mode string) *agent {
	t.Helper()
	a := &agent{t: t, url: gw.base + "/mcp"}
	if mode != "" {
		a.url += "?elicitation_mode=" + mode
	}
	res, hdr := a.rpc(context.Background(), "initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "console-test", "version": "0"}})
	if res == nil {
		t.Fatal("initialize returned nothing")
	}
	a.session = hdr.Get("Mcp-Session-Id")
	a.notify("notifications/initialized")
	return a
}

func (a *agent) post(ctx context.Context, body []byte) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", a.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if a.session != "" {
		req.Header.Set("Mcp-Session-Id", a.session)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	return http.DefaultClient.Do(req)
}

func (a *agent) notify(method string) {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method})
	res, err := a.post(context.Background(), b)
	if err != nil {
		a.t.Fatal(err)
	}
	res.Body.Close()
}

func (a *agent) rpc(ctx context.Context, method string, params any) (json.RawMessage, http.Header) {
	a.id++
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": a.id, "method": method, "params": params})
	res, err := a.post(ctx, b)
	if err != nil {
		if ctx.Err() == nil { // a call cut short by the test's end is not a failure
			a.t.Errorf("%s: %v", method, err)
		}
		return nil, nil
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		var last string
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok && strings.Contains(d, `"jsonrpc"`) {
				last = strings.TrimSpace(d)
			}
		}
		raw = []byte(last)
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Error != nil {
		a.t.Errorf("%s = %d %s", method, res.StatusCode, raw)
		return nil, res.Header
	}
	return env.Result, res.Header
}

// toolResult is what a tools/call returned.
type toolResult struct {
	Content []struct {
		Text string `json:"text"`
	} `json:"content"`
	Structured map[string]any `json:"structuredContent"`
	IsError    bool           `json:"isError"`
}

func (r toolResult) text() string {
	var s []string
	for _, c := range r.Content {
		s = append(s, c.Text)
	}
	return strings.Join(s, "\n")
}

func (a *agent) call(ctx context.Context, tool string, args map[string]any) toolResult {
	raw, _ := a.rpc(ctx, "tools/call", map[string]any{"name": tool, "arguments": args})
	var r toolResult
	if raw != nil {
		if err := json.Unmarshal(raw, &r); err != nil {
			a.t.Errorf("tools/call %s: %v in %s", tool, err, raw)
		}
	}
	return r
}

func (a *agent) execute(code string) toolResult {
	return a.call(context.Background(), "execute", map[string]any{"code": code})
}

// ---- the browser ----

func startBrowser(dataDir string) (func(), error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancelCtx()
		cancelAlloc()
		return nil, err
	}
	browser = ctx
	return func() { cancelCtx(); cancelAlloc() }, nil
}

// needBrowser skips the test when chromium is not installed, unless CI=true.
func needBrowser(t *testing.T) {
	t.Helper()
	if browser != nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing; CI must install Debian's chromium (apt-get install -y chromium)", chromiumPath)
	}
	t.Skipf("%s is not installed: the browser tests need Debian's chromium (apt-get install -y chromium)", chromiumPath)
}

// tab opens a new browser tab for the test, at laptop size.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T) *tab {
	t.Helper()
	needBrowser(t)
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The first action opens the tab, which lives as long as the context of
	// that call: it must not be one with a deadline.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx}
}

// do runs steps with a deadline, failing the test with the page's state.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.fail(err)
	}
}

func (tb *tab) fail(err error) {
	tb.t.Helper()
	tb.screenshot("FAILED-" + strings.ReplaceAll(tb.t.Name(), "/", "-"))
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	tb.t.Fatalf("%v\npage:\n%s", err, text)
}

// open loads a console page and waits for it to render.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(gw.base+path), tb.settled())
}

// settled waits until the page is not busy (no region has aria-busy).
func (tb *tab) settled() chromedp.Action[chromedp.Void] {
	return tb.waitJS(`document.readyState === "complete" && document.querySelector("main h1") && !document.querySelector("[aria-busy=true]")`)
}

// waitJS waits until a JavaScript expression is truthy, across page loads.
func (tb *tab) waitJS(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := chromedp.Poll[any](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline)))(ctx, t)
			if err == nil {
				return chromedp.Void{}, nil
			}
			// A navigation ends the poll; poll again in the new page.
			if time.Now().After(deadline) || ctx.Err() != nil || !strings.Contains(err.Error(), "navigated") && !strings.Contains(err.Error(), "context") {
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", expr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// eval evaluates an expression and decodes its value.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fail(fmt.Errorf("evaluating %s: %w", expr, err))
	}
	return v
}

// text is the text of the first element matching sel.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

// click clicks the element matching sel when it is visible.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// clickText clicks the button or link whose text is exactly label.
func (tb *tab) clickText(label string) {
	tb.t.Helper()
	expr := fmt.Sprintf(`[...document.querySelectorAll("button, a")].find(e => e.textContent.trim() === %q && e.offsetParent !== null && !e.disabled)`, label)
	tb.do(tb.waitJS(expr))
	tb.do(chromedp.Click(chromedp.JSPath(expr), chromedp.NodeVisible))
}

// fill types value into the input matching sel, replacing what it holds.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	eval[bool](tb, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.focus(); e.value = ""; e.dispatchEvent(new Event("input", {bubbles: true})); return true })()`, sel))
	tb.do(chromedp.SendKeys(chromedp.CSS(sel), value, chromedp.NodeVisible))
}

// choose sets a <select> to value as a person would, firing change.
func (tb *tab) choose(sel, value string) {
	tb.t.Helper()
	tb.do(tb.waitJS(fmt.Sprintf(`document.querySelector(%q)`, sel)))
	eval[bool](tb, fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.focus(); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); return s.value === %q })()`, sel, value, value))
}

// screenshot saves the whole page under artifacts/screenshots.
func (tb *tab) screenshot(name string) {
	dir := filepath.Join("..", "artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Log(err)
		return
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	// Grow the window to the page's height, so the capture shows the page
	// as a tall window would (sticky and fixed parts in place).
	size, err := chromedp.Run(ctx, chromedp.Evaluate[[]int64](`[innerWidth, innerHeight, document.documentElement.scrollHeight]`))
	if err == nil && size[2] > size[1] {
		_ = chromedp.Do(ctx, chromedp.EmulateViewport(size[0], size[2]))
		defer chromedp.Do(ctx, chromedp.EmulateViewport(size[0], size[1]))
	}
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
		tb.t.Log(err)
	}
}

// viewport sets the page size; dark switches prefers-color-scheme.
func (tb *tab) viewport(w, h int64, dark bool) {
	tb.t.Helper()
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	tb.do(chromedp.EmulateViewport(w, h), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

// noXSS fails when any injected script ran.
func (tb *tab) noXSS(where string) {
	tb.t.Helper()
	if v := eval[string](tb, `typeof window.__xss`); v != "undefined" {
		tb.t.Errorf("%s: window.__xss is %s: upstream markup ran as script", where, v)
	}
	if n := eval[int](tb, `document.querySelectorAll('img[src="x"], script:not([src])').length`); n != 0 {
		tb.t.Errorf("%s: %d elements were created from upstream markup", where, n)
	}
}

// jsPath writes a tool address as a JavaScript expression, with brackets
// for segments that are not identifiers (slugs may hold '-').
func jsPath(address string) string {
	segs := strings.Split(strings.TrimPrefix(address, "tools."), ".")
	var b strings.Builder
	b.WriteString("tools")
	for _, s := range segs {
		ident := s != "" && !strings.ContainsAny(s[:1], "0123456789")
		for _, r := range s {
			if !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				ident = false
			}
		}
		if ident {
			b.WriteString("." + s)
		} else {
			fmt.Fprintf(&b, "[%q]", s)
		}
	}
	return b.String()
}

// graphQLServer is a tiny GraphQL endpoint at /graphql that allows
// introspection.
func graphQLServer(t *testing.T) *httptest.Server {
	t.Helper()
	schema := graphql.MustParseSchema(`type Query { hello(name: String!): String! }`, &greeter{})
	mux := http.NewServeMux()
	mux.Handle("/graphql", &relay.Handler{Schema: schema})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type greeter struct{}

func (*greeter) Hello(args struct{ Name string }) string { return "Hello, " + args.Name }
