package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/mcpexecutor/executor/mcpproxy"
)

func localSite(storage, key, bind string, port int) string {
	keyLine := ""
	if key != "" {
		keyLine = "secret_key " + key
	}
	return fmt.Sprintf(`{
	admin off
	persist_config off
	executor {
		storage %s
		%s
	}
}
http://%s:%d {
	bind %s
	executor {
		access local
	}
}`, storage, keyLine, bind, port, bind)
}

// localSiteWith is localSite with one more line in the executor global
// option.
func localSiteWith(storage string, port int, line string) string {
	return strings.Replace(localSite(storage, "", "127.0.0.1", port), "storage "+storage, "storage "+storage+"\n\t\t"+line, 1)
}

// mustRefuse fails unless Caddy refuses text with an error naming word.
func mustRefuse(t *testing.T, text, word string) {
	t.Helper()
	if err := loadCaddyfile(t, text); err == nil || !strings.Contains(err.Error(), word) {
		_ = caddy.Stop()
		t.Fatalf("%s: %v", text, err)
	}
}

func TestLocalModeRefusesNonLoopbackListeners(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "executor.db")
	for _, bind := range []string{"0.0.0.0", "192.0.2.10"} {
		err := loadCaddyfile(t, localSite(storage, "", bind, freePort(t)))
		if err == nil {
			_ = caddy.Stop()
			t.Fatalf("local mode on %s started", bind)
		}
		if !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("the error does not say why: %v", err)
		}
	}
	// Without bind the Caddyfile listens on every interface.
	err := loadCaddyfile(t, strings.Replace(localSite(storage, "", "127.0.0.1", freePort(t)), "\tbind 127.0.0.1\n", "", 1))
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		_ = caddy.Stop()
		t.Fatalf("local mode on all interfaces: %v", err)
	}
}

func TestLocalModeRefusesForeignHostHeaders(t *testing.T) {
	port := freePort(t)
	// A site for any host name, so that only the handler's own check stands
	// between a foreign Host and the local administrator.
	cfg := strings.Replace(localSite(filepath.Join(t.TempDir(), "db"), "", "127.0.0.1", port), fmt.Sprintf("http://127.0.0.1:%d {", port), fmt.Sprintf("http://:%d {", port), 1)
	mustRun(t, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, host := range []string{"", "localhost:1234", "[::1]"} {
		h := map[string]string{}
		if host != "" {
			h["Host"] = host
		}
		if res := do(t, "GET", base+"/api/account/me", h, ""); res.status != 200 || !strings.Contains(res.body, `"id":"local"`) {
			t.Fatalf("local administrator with Host %q: %d %s", host, res.status, res.body)
		}
	}
	// A DNS-rebinding page, or a tunnel forwarding a public name to the loopback port.
	for _, host := range []string{"evil.example", "127.0.0.1.evil.example"} {
		res := do(t, "GET", base+"/api/account/me", map[string]string{"Host": host}, "")
		if res.status != 403 || strings.Contains(res.body, `"id":"local"`) {
			t.Fatalf("Host %s reached the API as the local administrator: %d %s", host, res.status, res.body)
		}
	}
}

func TestProductionRequiresASecretKey(t *testing.T) {
	f := newFakeAccess(t)
	cfg := fmt.Sprintf(`{
	admin off
	persist_config off
	executor {
		storage %s
	}
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	executor {
		access cloudflare {
			team_domain %s
			aud %s
			certs_url %s
		}
	}
}`, filepath.Join(t.TempDir(), "db"), freePort(t), f.team, consoleAUD, f.certsURL())
	err := loadCaddyfile(t, cfg)
	if err == nil {
		_ = caddy.Stop()
		t.Fatal("production started without secret_key")
	}
	if !strings.Contains(err.Error(), "secret_key is required") || !strings.Contains(err.Error(), "EXECUTOR_SECRET_KEY") {
		t.Fatalf("the error does not say how to fix it: %v", err)
	}
	short := strings.Replace(cfg, "storage ", "secret_key short\n\t\tstorage ", 1)
	if err := loadCaddyfile(t, short); err == nil || !strings.Contains(err.Error(), "at least 16 characters") {
		_ = caddy.Stop()
		t.Fatalf("a short key: %v", err)
	}
}

func TestEmptyAccessSettingsAreProvisionErrors(t *testing.T) {
	for name, block := range map[string]string{
		"no team domain": "access cloudflare {\n aud x\n }",
		"no audience":    "access cloudflare {\n team_domain " + testTeam + "\n }",
		"no access":      "",
	} {
		t.Run(name, func(t *testing.T) {
			err := loadCaddyfile(t, fmt.Sprintf(`{
	admin off
	persist_config off
	executor {
		storage %s
		secret_key %s
	}
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	executor {
		%s
	}
}`, filepath.Join(t.TempDir(), "db"), testKey, freePort(t), block))
			if err == nil {
				_ = caddy.Stop()
				t.Fatal("started")
			}
		})
	}
}

func TestReloadWithTheSameStorageKeepsStateAndNeverHangs(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "executor.db")
	port := freePort(t)
	cfg := localSite(storage, testKey, "127.0.0.1", port)
	mustRun(t, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`
	h := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	res := do(t, "POST", base+"/mcp", h, init)
	sid := res.header.Get("Mcp-Session-Id")
	if res.status != 200 || sid == "" {
		t.Fatalf("initialize: %d %s", res.status, res.body)
	}
	for i := 0; i < 2; i++ {
		done := make(chan error, 1)
		go func() {
			done <- loadCaddyfile(t, strings.Replace(cfg, "persist_config off", fmt.Sprintf("persist_config off\n\t# reload %d", i), 1))
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("reload %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reload %d hung", i)
		}
	}
	h["Mcp-Session-Id"] = sid
	h["Mcp-Protocol-Version"] = "2025-06-18"
	// tools/list changes nothing: safe to send again if the reload's
	// listener handover drops the connection.
	res, err := tryDo("POST", base+"/mcp", h, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.status != 200 {
		t.Fatalf("the session did not survive two reloads: %d %s", res.status, res.body)
	}
}

func TestAWrongSecretKeyIsReportedAtStart(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "executor.db")
	mustRun(t, localSite(storage, testKey, "127.0.0.1", freePort(t)))
	_ = caddy.Stop()
	err := loadCaddyfile(t, localSite(storage, "another-secret-key-0123456789", "127.0.0.1", freePort(t)))
	if err == nil {
		_ = caddy.Stop()
		t.Fatal("started with the wrong key")
	}
	if !strings.Contains(err.Error(), "secret") {
		t.Fatalf("the error does not name the key: %v", err)
	}
}

func TestApprovalModesFromTheCaddyfile(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "executor.db")
	site := func(line string, port int) string { return localSiteWith(storage, port, line) }
	for _, bad := range []string{"approval_modes", "approval_modes browser email"} {
		mustRefuse(t, site(bad, freePort(t)), "approval_modes")
	}
	port := freePort(t)
	mustRun(t, site("approval_modes browser native", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	res := do(t, "GET", base+"/api/config", nil, "")
	if res.status != 200 || !strings.Contains(res.body, `"approvalModes":["browser","native"]`) {
		t.Fatalf("/api/config: %d %s", res.status, res.body)
	}
	// An agent asking for model mode gets browser mode: its resume tool
	// waits for the console's decision and takes no action of its own.
	h := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	res = do(t, "POST", base+"/mcp?elicitation_mode=model", h,
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`)
	if res.status != 200 || res.header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: %d %s", res.status, res.body)
	}
	h["Mcp-Session-Id"], h["Mcp-Protocol-Version"] = res.header.Get("Mcp-Session-Id"), "2025-06-18"
	res = do(t, "POST", base+"/mcp?elicitation_mode=model", h, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if res.status != 200 || !strings.Contains(res.body, `"resume"`) || strings.Contains(res.body, `"action"`) {
		t.Fatalf("tools/list in a session that asked for model mode: %d %s", res.status, res.body)
	}
}

// security.md J4, J5, J7, J8, J12: the console and the API as a browser
// meets them.
func TestConsoleAndAPIResponsesAreHardened(t *testing.T) {
	port := freePort(t)
	mustRun(t, localSite(filepath.Join(t.TempDir(), "executor.db"), "", "127.0.0.1", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	// security.md J9: no page redirects to a URL a query names.
	for _, path := range []string{"/?next=https://evil.example", "/resume/x?next=https://evil.example&redirect=https://evil.example",
		"/api/oauth/callback?next=https://evil.example"} {
		if res := do(t, "GET", base+path, nil, ""); res.header.Get("Location") != "" || strings.Contains(res.body, "evil.example") {
			t.Errorf("%s: %d, Location %q", path, res.status, res.header.Get("Location"))
		}
	}
	for _, path := range []string{"/", "/integrations", "/assets/app.js", "/api/account/me", "/api/nothing-here"} {
		res := do(t, "GET", base+path, nil, "")
		h := res.header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" ||
			!strings.Contains(h.Get("Permissions-Policy"), "camera=()") || h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: nosniff %q, X-Frame-Options %q, Referrer-Policy %q", path, h.Get("X-Content-Type-Options"), h.Get("X-Frame-Options"), h.Get("Referrer-Policy"))
		}
		if h.Get("Content-Type") == "" {
			t.Errorf("%s: no Content-Type", path)
		}
		if !strings.HasPrefix(path, "/api/") && !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, h.Get("Content-Security-Policy"))
		}
	}
	if ct := do(t, "GET", base+"/assets/app.js", nil, "").header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("app.js is served as %q", ct)
	}

	// Static files come from the embedded console only.
	for _, path := range []string{"/../../etc/passwd", "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd",
		"/%252e%252e/%252e%252e/etc/passwd", "/assets/..;/..;/etc/passwd", "/assets/..%5c..%5cetc%5cpasswd", "/etc/passwd"} {
		res := do(t, "GET", base+path, nil, "")
		if strings.Contains(res.body, "root:") || (res.status != 404 && !strings.Contains(res.body, `<script type="module" src="/assets/app.js">`)) {
			t.Errorf("%s: %d %.80q", path, res.status, res.body)
		}
	}

	// security.md B10: a method override header changes nothing.
	res := do(t, "POST", base+"/api/policies", map[string]string{"Content-Type": "application/json"}, `{"owner":"org","pattern":"override.*","action":"block"}`)
	var rule struct{ ID string }
	if err := json.Unmarshal([]byte(res.body), &rule); err != nil || res.status != 200 || rule.ID == "" {
		t.Fatalf("creating a policy: %d %s", res.status, res.body)
	}
	for _, m := range []string{"GET", "POST"} {
		do(t, m, base+"/api/policies/"+rule.ID, map[string]string{"X-HTTP-Method-Override": "DELETE", "X-HTTP-Method": "DELETE", "X-Method-Override": "DELETE"}, "")
	}
	if res := do(t, "GET", base+"/api/policies", nil, ""); !strings.Contains(res.body, rule.ID) {
		t.Fatalf("a method override header deleted the policy: %s", res.body)
	}

	// No state changes through GET, nothing but GET and HEAD on the console.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/connections/org/pets/main/refresh"},
		{"GET", "/api/oauth/start"},
		{"GET", "/api/executions/exec_x/resume"},
		{"POST", "/integrations"},
		{"DELETE", "/"},
	} {
		// The API answers a method a route does not take like an unknown
		// path (JSON 404); the console says 405.
		if res := do(t, c.method, base+c.path, nil, ""); res.status != 405 && !(strings.HasPrefix(c.path, "/api/") && res.status == 404) {
			t.Errorf("%s %s: %d, want 405 (or 404 on the API)", c.method, c.path, res.status)
		}
	}
}

// security.md L6: rate limits from the Caddyfile, off by default in local
// mode and on by default behind access.
func TestRateLimitsFromTheCaddyfile(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "executor.db")
	site := func(line string, port int) string { return localSiteWith(storage, port, line) }
	for _, bad := range []string{
		"rate_limit", "rate_limit principal", "rate_limit user 5/s 10", "rate_limit principal 5/h 10",
		"rate_limit principal 5/s", "rate_limit principal 5/s many", "rate_limit principal 0/s 0",
		"rate_limit connection -5/s 10", "rate_limit connection 5/s 0", "rate_limit connection off 10",
	} {
		mustRefuse(t, site(bad, freePort(t)), "rate_limit")
	}

	port := freePort(t)
	mustRun(t, site("", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if res := do(t, "GET", base+"/api/config", nil, ""); !strings.Contains(res.body, `"rateLimits":{"connection":{},"principal":{}}`) {
		t.Fatalf("local default /api/config: %s", res.body)
	}
	_ = caddy.Stop()

	port = freePort(t)
	mustRun(t, site("rate_limit principal 60/m 1\n\t\trate_limit connection 5/s 20", port))
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	if res := do(t, "GET", base+"/api/config", nil, ""); !strings.Contains(res.body, `"rateLimits":{"connection":{"rate":5,"burst":20},"principal":{"rate":1,"burst":1}}`) {
		t.Fatalf("configured /api/config: %s", res.body)
	}
	h := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	res := do(t, "POST", base+"/mcp", h,
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`)
	h["Mcp-Session-Id"], h["Mcp-Protocol-Version"] = res.header.Get("Mcp-Session-Id"), "2025-06-18"
	execute := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute","arguments":{"code":"return 1"}}}`
	if res := do(t, "POST", base+"/mcp", h, execute); res.status != 200 {
		t.Fatalf("first execute: %d %s", res.status, res.body)
	}
	res = do(t, "POST", base+"/mcp", h, execute)
	if res.status != 429 || res.header.Get("Retry-After") != "1" || !strings.Contains(res.body, "Too Many Requests") {
		t.Fatalf("second execute: %d Retry-After %q %s", res.status, res.header.Get("Retry-After"), res.body)
	}
}

func TestRateLimitDefaults(t *testing.T) {
	local := &App{reg: &registry{handlers: []*Handler{{LocalAdmin: true}}}}
	prod := &App{reg: &registry{handlers: []*Handler{{LocalAdmin: true}, {}}}}
	off, custom := &mcpproxy.RateLimit{}, &mcpproxy.RateLimit{Rate: 2, Burst: 3}
	tests := []struct {
		name       string
		app        *App
		configured *mcpproxy.RateLimit
		want       mcpproxy.RateLimit
	}{
		{"local mode", local, nil, mcpproxy.RateLimit{}},
		{"behind access", prod, nil, DefaultPrincipalRateLimit},
		{"turned off behind access", prod, off, mcpproxy.RateLimit{}},
		{"configured in local mode", local, custom, *custom},
	}
	for _, tt := range tests {
		if got := tt.app.rateLimit(tt.configured, DefaultPrincipalRateLimit); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// security.md L7: a header bomb, one huge header or very many, gets 431
// before anything of the gateway runs; an overlong URI gets 414.
func TestHeaderBombsGet431(t *testing.T) {
	port := freePort(t)
	mustRun(t, localSite(filepath.Join(t.TempDir(), "executor.db"), "", "127.0.0.1", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	many := map[string]string{}
	for i := range 20_000 {
		many[fmt.Sprintf("X-Many-%05d", i)] = strings.Repeat("v", 60)
	}
	for name, h := range map[string]map[string]string{
		"one huge header": {"X-Huge": strings.Repeat("a", 2<<20)},
		"many headers":    many,
	} {
		if res := do(t, "POST", base+"/mcp", h, "{}"); res.status != 431 {
			t.Errorf("%s: %d %s", name, res.status, res.body)
		}
	}
	// security.md C7: an overlong query, on a public document or anywhere.
	// The server refuses 100 KB before the gateway sees it (431); the
	// gateway refuses anything over 8 KB that gets through (414).
	for _, path := range []string{"/.well-known/oauth-protected-resource", "/mcp", "/api/config"} {
		if res := do(t, "GET", base+path+"?q="+strings.Repeat("x", 100<<10), nil, ""); res.status != 431 && res.status != 414 {
			t.Errorf("a 100 KB query on %s: %d", path, res.status)
		}
		if res := do(t, "GET", base+path+"?q="+strings.Repeat("x", 9<<10), nil, ""); res.status != 414 {
			t.Errorf("a 9 KB query on %s: %d", path, res.status)
		}
	}
	if res := do(t, "GET", base+"/api/config", nil, ""); res.status != 200 {
		t.Fatalf("the gateway after the bombs: %d", res.status)
	}
}

// security.md L2, L3: with the timeouts of deploy/Caddyfile.access (here a
// second each), a client that stalls in its headers or its body is cut off;
// and (B11) ambiguous framing is a 400.
func TestSlowClientsAreCutOff(t *testing.T) {
	port := freePort(t)
	storage := filepath.Join(t.TempDir(), "executor.db")
	mustRun(t, fmt.Sprintf(`{
	admin off
	persist_config off
	servers {
		timeouts {
			read_header 1s
			read_body 1s
		}
	}
	executor {
		storage %s
	}
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	executor {
		access local
	}
}`, storage, port))
	// security.md B11: framing the server cannot read one way only.
	for name, raw := range map[string]string{
		"Content-Length and chunked": "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"chunked, identity":          "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
		"two Content-Lengths":        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
	} {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write([]byte(raw))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		status, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		// Go answers an encoding it does not implement with 501: refused all the same.
		if !strings.HasPrefix(status, "HTTP/1.1 400") && !strings.HasPrefix(status, "HTTP/1.1 501") {
			t.Errorf("%s: %q, want 400 (or 501)", name, status)
		}
	}
	for name, partial := range map[string]string{
		"headers": "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n",
		"body":    "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"",
	} {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(partial)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(io.Discard, conn) // until the server closes the connection
		conn.Close()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("a client stalled in its %s held the connection for %v", name, d)
		}
	}
}
