package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const (
	consoleAUD = "console-aud-0123456789"
	mcpAUD     = "mcp-aud-9876543210"
	testKey    = "test-secret-key-0123456789abcdef"
)

// productionSite runs a site protected by the fake Access team, with
// separate console and MCP audiences, and returns its base URL.
func productionSite(t *testing.T, f *fakeAccess, extra string) string {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	mustRun(t, fmt.Sprintf(`{
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
		access cloudflare {
			team_domain %s
			aud %s
			mcp_aud %s
			certs_url %s
			allow_service_tokens allowed-client.access
		}
		%s
	}
}`, filepath.Join(dir, "executor.db"), testKey, port, f.team, consoleAUD, mcpAUD, f.certsURL(), extra))
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

func TestAccessTokensThroughTheHandlerChain(t *testing.T) {
	f := newFakeAccess(t)
	base := productionSite(t, f, "")
	valid := f.sign(f.claims(consoleAUD, nil), nil)
	validMCP := f.sign(f.claims(mcpAUD, nil), nil)
	now := time.Now().Unix()
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`
	mcpHeaders := func(tok string) map[string]string {
		return map[string]string{"Cf-Access-Jwt-Assertion": tok, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	}
	hs256 := func() string {
		// HS256 "signed" with the RSA public key's modulus as the secret.
		parts := strings.Split(f.sign(f.claims(consoleAUD, nil), map[string]any{"alg": "HS256"}), ".")
		return parts[0] + "." + parts[1] + "." + b64([]byte("not-a-real-mac"))
	}

	tests := []struct {
		name    string
		path    string
		method  string
		headers map[string]string
		body    string
		status  int
		want    string
	}{
		{"a valid console token opens the API", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": valid}, "", 200, `"id":"user-bob"`},
		{"no token on the API is 401 JSON", "/api/account/me", "GET", nil, "", 401, `{"error":"Unauthorized"}`},
		{"a blank header is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": "   "}, "", 401, "Unauthorized"},
		{"garbage is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": "e30.e30.e30"}, "", 401, "Unauthorized"},
		{"the CF_Authorization cookie alone is 401", "/api/account/me", "GET", map[string]string{"Cookie": "CF_Authorization=" + valid}, "", 401, "Unauthorized"},
		// security.md A22: the header decides; a cookie for someone else changes nothing.
		{"a header for Bob and a cookie for Mallory are Bob", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": valid,
			"Cookie": "CF_Authorization=" + f.sign(f.claims(consoleAUD, map[string]any{"sub": "user-mallory", "email": "mallory@example.com"}), nil)}, "", 200, `"id":"user-bob"`},
		// security.md B12: naming the token header as hop-by-hop neither
		// removes it before the check nor lets a request without it in.
		{"Connection: Cf-Access-Jwt-Assertion with the token is still Bob", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": valid, "Connection": "Cf-Access-Jwt-Assertion"}, "", 200, `"id":"user-bob"`},
		{"Connection: Cf-Access-Jwt-Assertion without the token is 401", "/api/account/me", "GET", map[string]string{"Connection": "Cf-Access-Jwt-Assertion"}, "", 401, "Unauthorized"},
		{"a token in the query string is 401", "/api/account/me?token=" + valid + "&CF_Authorization=" + valid, "GET", nil, "", 401, "Unauthorized"},
		{"alg none is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": strings.Join(strings.Split(f.sign(f.claims(consoleAUD, nil), map[string]any{"alg": "none"}), ".")[:2], ".") + "."}, "", 401, "Unauthorized"},
		{"HS256 is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": hs256()}, "", 401, "Unauthorized"},
		{"an expired token is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, map[string]any{"exp": now - 120}), nil)}, "", 401, "Unauthorized"},
		{"a token without exp is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, map[string]any{"exp": nil}), nil)}, "", 401, "Unauthorized"},
		{"nbf in the future is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, map[string]any{"nbf": now + 600}), nil)}, "", 401, "Unauthorized"},
		{"another team's issuer is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, map[string]any{"iss": "https://evil.cloudflareaccess.com"}), nil)}, "", 401, "Unauthorized"},
		{"a wrong audience is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims("other-app", nil), nil)}, "", 401, "Unauthorized"},
		{"a missing kid is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, nil), map[string]any{"kid": nil})}, "", 401, "Unauthorized"},
		{"an unknown kid is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, nil), map[string]any{"kid": "unknown"})}, "", 401, "Unauthorized"},
		{"an org token is 401", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, map[string]any{"type": "org"}), nil)}, "", 401, "Unauthorized"},
		{"the MCP application's token on the API is 403", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": validMCP}, "", 403, "Forbidden"},
		{"the console token on /mcp is 403", "/mcp", "POST", mcpHeaders(valid), init, 403, `"code":-32003`},
		{"the MCP token opens /mcp", "/mcp", "POST", mcpHeaders(validMCP), init, 200, `"serverInfo"`},
		{"no token on /mcp is a JSON-RPC 401", "/mcp", "POST", mcpHeaders(""), init, 401, `{"jsonrpc":"2.0","error":{"code":-32001,"message":"Unauthorized"},"id":null}`},
		// Direct endpoints are /mcp: the MCP application's token, JSON answers.
		{"the MCP token reaches the direct endpoints", "/mcp/direct/pets/org/main", "POST", mcpHeaders(validMCP), init, 404, `no connection pets/org/main`},
		{"the console token on a direct endpoint is 403", "/mcp/direct/pets/org/main", "POST", mcpHeaders(valid), init, 403, `"code":-32003`},
		{"no token on a direct endpoint is a JSON-RPC 401", "/mcp/direct/pets/org/main", "POST", mcpHeaders(""), init, 401, `"code":-32001`},
		{"anything else under /mcp/ is a JSON-RPC 404, not the console", "/mcp/other", "GET", mcpHeaders(validMCP), "", 404, `"jsonrpc":"2.0"`},
		{"the console without a token shows the sign-in page", "/", "GET", nil, "", 401, "/cdn-cgi/access/login"},
		{"the console with a token serves the shell", "/integrations/pets", "GET", map[string]string{"Cf-Access-Jwt-Assertion": valid}, "", 200, `<script type="module" src="/assets/app.js">`},
		{"an allowed service token signs in as a service", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, map[string]any{"sub": "", "email": nil, "name": nil, "nbf": nil, "common_name": "allowed-client.access"}), nil)}, "", 200, `"kind":"service"`},
		{"a service token not allowed is 403", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, map[string]any{"sub": "", "email": nil, "name": nil, "nbf": nil, "common_name": "other.access"}), nil)}, "", 403, "Forbidden"},
		{"a spoofed identity header does not change who you are", "/api/account/me", "GET", map[string]string{"Cf-Access-Jwt-Assertion": valid, "Cf-Access-Authenticated-User-Email": "admin@example.com", "X-Forwarded-Email": "admin@example.com"}, "", 200, `"email":"bob@example.com"`},
		{"dot segments resolve before the public allow-list", "/.well-known/oauth-protected-resource/../../api/account/me", "GET", nil, "", 401, "Unauthorized"},
		{"a doubled slash still needs a token", "//api/account/me", "GET", nil, "", 401, "Unauthorized"},
		{"a trailing slash on /mcp still needs a token", "/mcp/", "POST", mcpHeaders(""), init, 401, `"code":-32001`},
		{"the protected-resource document is public JSON", "/.well-known/oauth-protected-resource/mcp", "GET", nil, "", 200, `"authorization_servers":["https://` + testTeam + `"]`},
		{"the authorization-server document is a JSON 404", "/.well-known/oauth-authorization-server", "GET", nil, "", 404, `"error":"not_found"`},
		{"writes to well-known paths are 405", "/.well-known/oauth-protected-resource", "POST", nil, "", 405, "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, tc.method, base+tc.path, tc.headers, tc.body)
			if res.status != tc.status || !strings.Contains(res.body, tc.want) {
				t.Fatalf("got %d %q; want %d containing %q", res.status, res.body, tc.status, tc.want)
			}
			if strings.HasPrefix(tc.path, "/mcp") && strings.Contains(res.header.Get("Content-Type"), "html") {
				t.Fatalf("an MCP client got HTML")
			}
		})
	}

	// security.md B8: no spelling of a protected path gets past the token
	// check by looking like a public one.
	t.Run("path tricks never reach a protected path without a token", func(t *testing.T) {
		for _, path := range []string{
			"/.well-known/oauth-protected-resource/../../mcp", "/.well-known/%2e%2e/mcp", "/.well-known/oauth-protected-resource/%2e%2e/%2e%2e/api/account/me",
			"//mcp", "/MCP", "/mcp/", "/mcp;x", "/mcp%2f", "/mcp%00", "/%2e/mcp", "/mcp%5c", "/Api/account/me", "/api%2faccount%2fme",
			"/api/account/me;.well-known", "/.well-known/oauth-protected-resource;/../../api/account/me",
		} {
			for _, method := range []string{"GET", "POST"} {
				res := do(t, method, base+path, mcpHeaders(""), init)
				if res.status != 401 && res.status != 404 && res.status != 400 && res.status != 405 {
					t.Errorf("%s %s without a token: %d %q", method, path, res.status, res.body)
				}
				if strings.Contains(res.body, `"serverInfo"`) || strings.Contains(res.body, `"id":"user-`) {
					t.Errorf("%s %s without a token answered as if signed in: %q", method, path, res.body)
				}
			}
		}
	})
	// security.md D17, D18: a session id is no credential.
	t.Run("a session id without a valid token is refused", func(t *testing.T) {
		res := do(t, "POST", base+"/mcp", mcpHeaders(validMCP), init)
		sid := res.header.Get("Mcp-Session-Id")
		if res.status != 200 || sid == "" {
			t.Fatalf("initialize: %d %s", res.status, res.body)
		}
		list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
		expired := f.sign(f.claims(mcpAUD, map[string]any{"exp": now - 120}), nil)
		for name, tok := range map[string]string{"no token": "", "an expired token": expired, "the console's token": valid} {
			h := mcpHeaders(tok)
			h["Mcp-Session-Id"], h["Mcp-Protocol-Version"] = sid, "2025-06-18"
			want := 401
			if tok == valid {
				want = 403 // a valid token, of the console's application
			}
			if res := do(t, "POST", base+"/mcp", h, list); res.status != want || strings.Contains(res.body, `"tools"`) {
				t.Errorf("%s with a live session id: %d %s", name, res.status, res.body)
			}
		}
		h := mcpHeaders(validMCP)
		h["Mcp-Session-Id"], h["Mcp-Protocol-Version"] = sid, "2025-06-18"
		if res := do(t, "POST", base+"/mcp", h, list); res.status != 200 || !strings.Contains(res.body, `"execute"`) {
			t.Fatalf("the same session with its token: %d %s", res.status, res.body)
		}
	})
	t.Run("the MCP 401 challenge names the resource metadata", func(t *testing.T) {
		res := do(t, "POST", base+"/mcp", mcpHeaders(""), init)
		want := fmt.Sprintf(`Bearer resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, base)
		if got := res.header.Get("WWW-Authenticate"); got != want {
			t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
		}
	})
	t.Run("the resource is this origin's /mcp", func(t *testing.T) {
		res := do(t, "GET", base+"/.well-known/oauth-protected-resource", map[string]string{"X-Forwarded-Host": "evil.example"}, "")
		var doc map[string]any
		_ = json.Unmarshal([]byte(res.body), &doc)
		if doc["resource"] != base+"/mcp" {
			t.Fatalf("resource = %v, want %s/mcp", doc["resource"], base)
		}
		// security.md C1: public, and it sets nothing.
		if res.header.Get("Set-Cookie") != "" || res.status != 200 {
			t.Fatalf("the public document: %d, Set-Cookie %q", res.status, res.header.Get("Set-Cookie"))
		}
	})
}

func TestOAuthPassthroughRelaysOnlyJSON(t *testing.T) {
	f := newFakeAccess(t)
	var seenCookie, seenJWT string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenCookie, seenJWT = r.Header.Get("Cookie"), r.Header.Get("Cf-Access-Jwt-Assertion")
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"issuer":"https://test.cloudflareaccess.com"}`)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>login</html>")
		}
	}))
	defer origin.Close()
	base := productionSite(t, f, "oauth_passthrough "+origin.URL)

	res := do(t, "GET", base+"/.well-known/oauth-authorization-server", map[string]string{"Cookie": "CF_Authorization=x", "Cf-Access-Jwt-Assertion": "y"}, "")
	if res.status != 200 || !strings.Contains(res.body, `"issuer"`) {
		t.Fatalf("proxied document: %d %s", res.status, res.body)
	}
	if seenCookie != "" || seenJWT != "" {
		t.Fatalf("client credentials reached the passthrough origin: cookie=%q jwt=%q", seenCookie, seenJWT)
	}
	res = do(t, "GET", base+"/.well-known/oauth-protected-resource", nil, "")
	if res.status != http.StatusBadGateway || !strings.Contains(res.header.Get("Content-Type"), "json") {
		t.Fatalf("an HTML answer upstream must become a JSON 502, got %d %s %s", res.status, res.header.Get("Content-Type"), res.body)
	}
}

// productionLogBlock returns the log block of deploy/Caddyfile.access with
// its output redirected to file, so the test checks what operators deploy.
func productionLogBlock(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile("../deploy/Caddyfile.access")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "(access_log) {")
	if start < 0 {
		t.Fatal("deploy/Caddyfile.access has no (access_log) snippet")
	}
	block := text[start+len("(access_log) {"):]
	block = block[:strings.Index(block, "\n}\n")]
	return strings.Replace(block, "output file /var/log/executor/access.log", "output file "+file, 1)
}

func TestAccessLogsNeverHoldTheToken(t *testing.T) {
	f := newFakeAccess(t)
	logFile := filepath.Join(t.TempDir(), "access.log")
	port := freePort(t)
	dir := t.TempDir()
	mustRun(t, fmt.Sprintf(`{
	admin off
	persist_config off
	executor {
		storage %s
		secret_key %s
	}
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	%s
	executor {
		access cloudflare {
			team_domain %s
			aud %s
			certs_url %s
		}
	}
}`, filepath.Join(dir, "executor.db"), testKey, port, productionLogBlock(t, logFile), f.team, consoleAUD, f.certsURL()))
	tok := f.sign(f.claims(consoleAUD, nil), nil)
	res := do(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/api/account/me", port), map[string]string{"Cf-Access-Jwt-Assertion": tok, "X-Probe": "logged",
		"Authorization": "Bearer SENTINEL-bearer-51f0", "Cookie": "CF_Authorization=SENTINEL-cookie-51f0", "Mcp-Session-Id": "SENTINEL-session-51f0"}, "")
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var logged []byte
	for i := 0; i < 50 && !strings.Contains(string(logged), "X-Probe"); i++ {
		time.Sleep(20 * time.Millisecond)
		logged, _ = os.ReadFile(logFile)
	}
	if !strings.Contains(string(logged), "X-Probe") {
		t.Fatalf("the request was not logged: %s", logged)
	}
	signature := tok[strings.LastIndex(tok, ".")+1:]
	if strings.Contains(string(logged), signature) || strings.Contains(string(logged), "Cf-Access-Jwt-Assertion") {
		t.Fatalf("the access log holds the token: %s", logged)
	}
	// security.md I1: nor any other credential a client sends.
	if strings.Contains(string(logged), "SENTINEL") {
		t.Fatalf("the access log holds a credential header: %s", logged)
	}
}

// security.md B1–B3: headers a client could use to claim an identity are
// removed before anything reads them, in any case or underscore spelling.
func TestIdentityHeadersAreStripped(t *testing.T) {
	h := http.Header{}
	claims := []string{"Cf-Access-Authenticated-User-Email", "Cf_Access_Authenticated_User_Email", "CF-ACCESS-AUTHENTICATED-USER-ID",
		"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Groups", "Remote-User", "Remote_User",
		"Remote-Email", "Remote-Groups", "X-Auth-Request-User", "X-Auth-Request-Email", "X-User-Id", "X-User-Email", "X-Remote-User", "X-Executor-Principal"}
	for _, name := range claims {
		h[name] = []string{"admin@example.com"} // as sent, not canonicalised
	}
	keep := []string{"Content-Type", "Accept", "Cf-Access-Jwt-Assertion", "Mcp-Session-Id", "X-Forwarded-For", "User-Agent"}
	for _, name := range keep {
		h.Set(name, "v")
	}
	stripIdentityHeaders(h)
	for _, name := range claims {
		if _, ok := h[name]; ok {
			t.Errorf("%s survived", name)
		}
	}
	for _, name := range keep {
		if h.Get(name) != "v" {
			t.Errorf("%s was removed", name)
		}
	}
}

// security.md C4: a production site that answers any Host must name its
// origin in the configuration; the metadata then never echoes a Host.
func TestCatchAllProductionSiteNeedsPublicOrigin(t *testing.T) {
	f := newFakeAccess(t)
	dir := t.TempDir()
	site := func(port int, extra string) string {
		return fmt.Sprintf(`{
	admin off
	persist_config off
	executor {
		storage %s
		secret_key %s
	}
}
:%d {
	bind 127.0.0.1
	executor {
		access cloudflare {
			team_domain %s
			aud %s
			certs_url %s
		}
		%s
	}
}`, filepath.Join(dir, "executor.db"), testKey, port, f.team, consoleAUD, f.certsURL(), extra)
	}
	err := loadCaddyfile(t, site(freePort(t), ""))
	if err == nil {
		_ = caddy.Stop()
		t.Fatal("a catch-all production site without public_origin started")
	}
	if !strings.Contains(err.Error(), "public_origin is required") {
		t.Fatalf("the error does not say what to add: %v", err)
	}

	port := freePort(t)
	mustRun(t, site(port, "public_origin https://executor.example.com"))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, h := range []map[string]string{{"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}} {
		res := do(t, "GET", base+"/.well-known/oauth-protected-resource/mcp", h, "")
		if res.status != 200 || !strings.Contains(res.body, `"resource":"https://executor.example.com/mcp"`) || strings.Contains(res.body, "evil") {
			t.Fatalf("metadata with %v: %d %s", h, res.status, res.body)
		}
		res = do(t, "POST", base+"/mcp", h, `{"jsonrpc":"2.0","id":1,"method":"initialize"}`)
		if got := res.header.Get("WWW-Authenticate"); !strings.Contains(got, `resource_metadata="https://executor.example.com/`) {
			t.Fatalf("challenge with %v: %q", h, got)
		}
		// The OAuth client ID metadata document is public and names the
		// configured origin, never the request's.
		res = do(t, "GET", base+"/api/oauth/client-id-metadata.json", h, "")
		if res.status != 200 || !strings.Contains(res.body, `"client_id":"https://executor.example.com/api/oauth/client-id-metadata.json"`) ||
			!strings.Contains(res.body, `"redirect_uris":["https://executor.example.com/api/oauth/callback"]`) || strings.Contains(res.body, "evil") {
			t.Fatalf("client metadata with %v: %d %s", h, res.status, res.body)
		}
	}
	// Only reading it is public.
	if res := do(t, "POST", base+"/api/oauth/client-id-metadata.json", nil, "{}"); res.status != 401 {
		t.Fatalf("POST to the client metadata document without a token: %d %s", res.status, res.body)
	}
}

// security.md J12: HSTS only where this server speaks TLS itself.
func TestSecurityHeadersAddHSTSOverTLS(t *testing.T) {
	for _, overTLS := range []bool{false, true} {
		h := http.Header{}
		setSecurityHeaders(h, overTLS)
		if got := h.Get("Strict-Transport-Security"); (got != "") != overTLS {
			t.Errorf("over TLS %v: Strict-Transport-Security %q", overTLS, got)
		}
		if h.Get("Permissions-Policy") == "" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("over TLS %v: %v", overTLS, h)
		}
	}
}

// security.md I6: a panic while serving is a generic 500; the stack goes to
// the log with the method and path, never the query or the panic's text to
// the client.
func TestAPanicIsAGeneric500(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	serve := func(handler func(w http.ResponseWriter)) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		w := &wroteHeader{ResponseWriter: rec}
		func() {
			defer recoverPanic(zap.New(core), w, httptest.NewRequest("POST", "/api/things?token=SECRET-in-query", nil))
			handler(w)
		}()
		return rec
	}

	rec := serve(func(http.ResponseWriter) { panic("boom: SECRET-in-panic") })
	if rec.Code != 500 || rec.Body.String() != "{\"error\":\"internal error\"}\n" {
		t.Fatalf("the answer: %d %q", rec.Code, rec.Body.String())
	}
	entries := logs.TakeAll()
	if len(entries) != 1 || entries[0].ContextMap()["path"] != "/api/things" || entries[0].ContextMap()["stack"] == nil {
		t.Fatalf("the log: %+v", entries)
	}
	if strings.Contains(fmt.Sprint(entries[0].ContextMap()), "SECRET-in-query") {
		t.Fatal("the log holds the query")
	}

	// A response already begun is left alone.
	rec = serve(func(w http.ResponseWriter) {
		w.WriteHeader(202)
		_, _ = w.Write([]byte("partial"))
		panic("late")
	})
	if rec.Code != 202 || rec.Body.String() != "partial" {
		t.Fatalf("after a begun response: %d %q", rec.Code, rec.Body.String())
	}

	// http.ErrAbortHandler still aborts.
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	serve(func(http.ResponseWriter) { panic(http.ErrAbortHandler) })
	t.Fatal("ErrAbortHandler was swallowed")
}

// security.md A30: with the JWKS down at startup, protected routes fail
// closed and /health says why; once the keys come, both recover without a
// restart.
func TestJWKSDownAtStartupThroughTheHandler(t *testing.T) {
	f := newFakeAccess(t)
	f.down.Store(true)
	base := productionSite(t, f, "")
	token := map[string]string{"Cf-Access-Jwt-Assertion": f.sign(f.claims(consoleAUD, nil), nil)}

	if res := do(t, "GET", base+"/health", nil, ""); res.status != 503 || !strings.Contains(res.body, `"access_keys":"unavailable"`) || !strings.Contains(res.body, `"status":"degraded"`) {
		t.Fatalf("/health without keys: %d %s", res.status, res.body)
	}
	if res := do(t, "GET", base+"/api/account/me", token, ""); res.status != 401 {
		t.Fatalf("a valid token without keys to check it: %d %s, want 401", res.status, res.body)
	}

	f.down.Store(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := do(t, "GET", base+"/health", nil, "")
		if res.status == 200 {
			if res.body != `{"checks":{"access_keys":"ok","gateway":"ok"},"status":"ok"}`+"\n" {
				t.Fatalf("/health once recovered: %s", res.body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health did not recover: %d %s", res.status, res.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res := do(t, "GET", base+"/api/account/me", token, ""); res.status != 200 || !strings.Contains(res.body, `"id":"user-bob"`) {
		t.Fatalf("the same token once the keys are in: %d %s", res.status, res.body)
	}
}

func TestHealthOnTheLocalDefault(t *testing.T) {
	port := freePort(t)
	mustRun(t, localSite(filepath.Join(t.TempDir(), "executor.db"), "", "127.0.0.1", port))
	for _, method := range []string{"GET", "HEAD"} {
		res := do(t, method, fmt.Sprintf("http://127.0.0.1:%d/health", port), nil, "")
		if res.status != 200 || (method == "GET" && res.body != `{"checks":{"gateway":"ok"},"status":"ok"}`+"\n") {
			t.Fatalf("%s /health: %d %q", method, res.status, res.body)
		}
	}
}
