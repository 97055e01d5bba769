package mcpproxy

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/oauth/oauthtest"
	"github.com/mcpexecutor/executor/store"
)

// security.md D17: session ids are 192 random bits, visible ASCII, unique.
func TestSessionIDsAreRandomAndPrintable(t *testing.T) {
	seen := map[string]bool{}
	for range 100_000 {
		id := newSessionID()
		if len(id) != 32 || seen[id] || !validSessionIDSyntax(id) {
			t.Fatalf("session id %q (length %d, seen before %v)", id, len(id), seen[id])
		}
		seen[id] = true
	}
}

// security.md M8: execution ids are random UUIDs (122 random bits), and
// another principal cannot use one (TestResumeFromAnotherSessionAndAnotherPrincipal).
func TestExecutionIDsAreRandomUUIDs(t *testing.T) {
	format := regexp.MustCompile(`^exec_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 10_000 {
		id := newExecutionID()
		if !format.MatchString(id) || seen[id] {
			t.Fatalf("execution id %q (seen before %v)", id, seen[id])
		}
		seen[id] = true
	}
}

// security.md D15: a session id the client picks on initialize is ignored.
func TestInitializeIgnoresAClientChosenSessionID(t *testing.T) {
	tg := newTestGateway(t, Config{})
	c := tg.client(t, "alice")
	c.session = "chosen-by-the-client"
	res := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`)
	minted := res.header.Get("Mcp-Session-Id")
	if res.status != 200 || minted == "" || minted == "chosen-by-the-client" {
		t.Fatalf("initialize: %d, session %q", res.status, minted)
	}
	if res := c.call("tools/list", map[string]any{}); res.status != 404 {
		t.Fatalf("the chosen id afterwards: %d %s", res.status, res.raw)
	}
}

// security.md G5: an OAuth callback after the flow's fifteen minutes is
// refused, and its state is gone.
func TestAnExpiredOAuthStateIsRefused(t *testing.T) {
	up, as := secureMCP(t, oauthtest.Options{DCR: true})
	tg := newTestGateway(t, Config{})
	tg.api(t, "alice", "POST", "/api/mcp/servers", map[string]any{"name": "secure", "slug": "secure", "endpoint": up.URL + "/mcp",
		"remoteTransport": "streamable-http", "auth": map[string]any{"kind": "oauth2"}}, nil)
	var start struct {
		AuthorizationURL string `json:"authorizationUrl"`
		State            string `json:"state"`
	}
	tg.api(t, "alice", "POST", "/api/oauth/start", map[string]any{"owner": "org", "name": "main", "integration": "secure", "template": "oauth-mcp"}, &start)
	err := tg.store.Update(func(tx store.Tx) error {
		var f map[string]any
		if _, err := tx.GetJSON(store.OAuth, "state/"+start.State, &f); err != nil {
			return err
		}
		f["expiresAt"] = time.Now().Add(-time.Minute)
		b, _ := json.Marshal(f)
		return tx.Put(store.OAuth, "state/"+start.State, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := url.Parse(as.Authorize(t, start.AuthorizationURL))
	if code, body := tg.api(t, "alice", "GET", cb.RequestURI(), nil, nil); code != 400 || !strings.Contains(body, "longer than 15 minutes") {
		t.Fatalf("an expired state: %d %s", code, body)
	}
	if code, body := tg.api(t, "alice", "GET", cb.RequestURI(), nil, nil); code != 400 || !strings.Contains(body, "already used or never existed") {
		t.Fatalf("the same state again: %d %s", code, body)
	}
	if tg.connectionExists(connectionKey("org", "", "secure", "main")) {
		t.Fatal("the expired sign-in made a connection")
	}
}
