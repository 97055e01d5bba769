package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// keyedAPI is an OpenAPI upstream that wants an API key in X-Api-Key and
// records the last one it received.
func keyedAPI(t *testing.T) (*httptest.Server, *atomic.Value) {
	var last atomic.Value
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/openapi.json":
			fmt.Fprintf(w, `{"openapi":"3.0.3","info":{"title":"Keyed","version":"1"},"servers":[{"url":%q}],
"components":{"securitySchemes":{"key":{"type":"apiKey","in":"header","name":"X-Api-Key"}}},"security":[{"key":[]}],
"paths":{"/ping":{"get":{"operationId":"ping","responses":{"200":{"description":"ok"}}}}}}`, srv.URL)
		case "/ping":
			last.Store(r.Header.Get("X-Api-Key"))
			fmt.Fprint(w, `{"pong":true}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &last
}

// The laptop story: a credential stored on the local default, the gateway
// stopped, `executor rotate-key` with a new key file, the old key refused,
// the new key in place, the same credential used again.
func TestRotateKeyOnTheLocalDefault(t *testing.T) {
	home, port := t.TempDir(), freePort(t)
	up, lastKey := keyedAPI(t)
	const secret = "SENTINEL-rotate-4d1e"
	ping := func(g *gateway) {
		t.Helper()
		lastKey.Store("")
		out := sdkClient(t, g.base+"/mcp", execute(`const r = await tools.keyed.org.main.ping.ping({}); return r.ok ? true : r`))
		if s := structured(t, out[1]); s["result"] != true || lastKey.Load() != secret {
			t.Fatalf("call: %v; the upstream got %q", out[1], lastKey.Load())
		}
	}

	g := startGateway(t, home, port)
	if code, body := g.api(t, "POST", "/api/openapi/specs", map[string]any{"spec": map[string]any{"kind": "url", "url": up.URL + "/openapi.json"}, "slug": "keyed"}); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	if code, body := g.api(t, "POST", "/api/connections", map[string]any{"owner": "org", "name": "main", "integration": "keyed", "template": "apikey-0", "value": secret}); code != 200 {
		t.Fatalf("connect: %d %s", code, body)
	}
	ping(g)
	g.stop(t)

	keyFile := filepath.Join(home, ".local", "share", "caddy", "executor", "secret.key")
	oldKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	newKeyFile := filepath.Join(t.TempDir(), "new.key")
	const newKey = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	if err := os.WriteFile(newKeyFile, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, t.TempDir(), env(t, home), "rotate-key", "--new-key-file", newKeyFile)
	if err != nil || !strings.Contains(out, "Re-sealed 1 secrets") {
		t.Fatalf("rotate-key: %v\n%s", err, out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, newKey) || strings.Contains(out, strings.TrimSpace(string(oldKey))) {
		t.Fatalf("rotate-key printed a secret:\n%s", out)
	}

	// The old key no longer opens the database: the gateway says so and exits.
	p := start(t, t.TempDir(), env(t, home, fmt.Sprintf("EXECUTOR_PORT=%d", port), fmt.Sprintf("EXECUTOR_ADMIN=localhost:%d", freePort(t))), "run")
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case <-exited:
		if !strings.Contains(p.out.String(), "does not match") {
			t.Fatalf("the gateway with the old key:\n%s", p.out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the gateway started with the old key:\n%s", p.out.String())
	}

	if err := os.WriteFile(keyFile, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g = startGateway(t, home, port)
	ping(g)
}
