package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

const declaredSpec = `openapi: 3.0.3
info: {title: Pets, version: "1"}
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
security: [{key: []}]
paths:
  /pets:
    get: {operationId: listPets, summary: List pets, responses: {"200": {description: ok}}}
`

func TestDeclaredIntegrationsAreAppliedIdempotently(t *testing.T) {
	var seenKey atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenKey.Store(r.Header.Get("X-Api-Key"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"name":"Rex"}]`)
	}))
	defer up.Close()
	dir := t.TempDir()
	spec := filepath.Join(dir, "pets.yaml")
	if err := os.WriteFile(spec, []byte(declaredSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PETS_TEST_KEY", "declared-secret-1")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	config := func(extra string) string {
		return fmt.Sprintf(`{
	admin off
	persist_config off
	executor {
		storage %s
		integration pets openapi {
			spec %s
			base_url %s
		}
		%s
	}
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	executor {
		access local
	}
}`, filepath.Join(dir, "executor.db"), spec, up.URL, extra, port)
	}
	withConn := `connection pets org main {
			template apikey-0
			value {env.PETS_TEST_KEY}
		}`
	connections := func() []map[string]any {
		res := do(t, "GET", base+"/api/connections", nil, "")
		var out []map[string]any
		_ = json.Unmarshal([]byte(res.body), &out)
		return out
	}

	mustRun(t, config(withConn))
	first := connections()
	if len(first) != 1 || first[0]["address"] != "tools.pets.org.main" || first[0]["toolCount"] != 1.0 {
		t.Fatalf("after start: %v", first)
	}
	if res := do(t, "GET", base+"/api/integrations/pets", nil, ""); !strings.Contains(res.body, `"source":"caddyfile"`) || !strings.Contains(res.body, `"canRemove":false`) {
		t.Fatalf("integration: %s", res.body)
	}
	if res := do(t, "DELETE", base+"/api/integrations/pets", nil, ""); res.status != 409 {
		t.Fatalf("a declared integration was removable at run time: %d", res.status)
	}

	// The same configuration again changes nothing.
	mustRun(t, config(withConn))
	settle(t, base)
	if again := connections(); len(again) != 1 {
		t.Fatalf("after an identical reload: %v", again)
	}

	// A run-time connection survives reloads; a changed secret is applied.
	if res := do(t, "POST", base+"/api/connections", map[string]string{"Content-Type": "application/json"}, `{"owner":"user","name":"mine","integration":"pets","template":"apikey-0","value":"runtime-key"}`); res.status != 200 {
		t.Fatalf("run-time connection: %d %s", res.status, res.body)
	}
	t.Setenv("PETS_TEST_KEY", "declared-secret-2")
	mustRun(t, config(withConn))
	settle(t, base)
	if got := connections(); len(got) != 2 {
		t.Fatalf("after a reload with a new secret: %v", got)
	}
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`
	h := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
	res := do(t, "POST", base+"/mcp", h, init)
	h["Mcp-Session-Id"], h["Mcp-Protocol-Version"] = res.header.Get("Mcp-Session-Id"), "2025-06-18"
	res = do(t, "POST", base+"/mcp", h, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute","arguments":{"code":"return (await tools.pets.org.main.pets.listPets({})).ok"}}}`)
	if !strings.Contains(res.body, `"result":true`) || seenKey.Load() != "declared-secret-2" {
		t.Fatalf("call with the new secret: %s (upstream saw %v)", res.body, seenKey.Load())
	}

	// Removing the declarations removes what they created, and only that.
	mustRun(t, config(""))
	if got := connections(); len(got) != 1 || got[0]["name"] != "mine" {
		t.Fatalf("after removing the connection declaration: %v", got)
	}
}
