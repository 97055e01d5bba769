package mcpproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpexecutor/executor/mcpproxy/oauth"
	"github.com/mcpexecutor/executor/mcpproxy/oauth/oauthtest"
	"github.com/mcpexecutor/executor/store"
)

// secureMCP is an upstream MCP server that only answers with an access
// token from its own authorization server.
func secureMCP(t *testing.T, opts oauthtest.Options) (*httptest.Server, *oauthtest.Server) {
	t.Helper()
	up := httptest.NewUnstartedServer(nil)
	opts.Resource = "http://" + up.Listener.Addr().String() + "/mcp"
	as := oauthtest.NewServer(t, opts)
	up.Config.Handler = as.ProtectResource(whoamiMCP())
	up.Start()
	t.Cleanup(up.Close)
	return up, as
}

// whoamiMCP serves an MCP server with one tool, whoami, at /mcp.
func whoamiMCP() http.Handler {
	s := server.NewMCPServer("secure", "1.0.0", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("whoami", mcp.WithDescription("Who the token belongs to"), mcp.WithReadOnlyHintAnnotation(true), mcp.WithDestructiveHintAnnotation(false)), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("a token holder"), nil
	})
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s))
	return mux
}

// connectOAuth signs alice's connection of integration in through as and
// the gateway's callback; reconnect signs an existing one in again.
func connectOAuth(t *testing.T, tg *testGateway, as *oauthtest.Server, owner, name, integration string, reconnect bool) {
	t.Helper()
	var start struct {
		Status           string `json:"status"`
		AuthorizationURL string `json:"authorizationUrl"`
	}
	req := map[string]any{"owner": owner, "name": name, "integration": integration, "template": "oauth-mcp"}
	if reconnect {
		req = map[string]any{"owner": owner, "name": name, "integration": integration, "reconnect": true}
	}
	if code, body := tg.api(t, "alice", "POST", "/api/oauth/start", req, &start); code != 200 || start.Status != "redirect" {
		t.Fatalf("start: %d %s", code, body)
	}
	if !strings.HasPrefix(start.AuthorizationURL, as.URL) {
		t.Fatalf("the sign-in goes to %s, not the authorization server at %s", start.AuthorizationURL, as.URL)
	}
	cb, _ := url.Parse(as.Authorize(t, start.AuthorizationURL))
	want := "is connected"
	if reconnect {
		want = "is signed in again"
	}
	if code, body := tg.api(t, "alice", "GET", cb.RequestURI(), nil, nil); code != 200 || !strings.Contains(body, want) {
		t.Fatalf("callback: %d %s", code, body)
	}
}

// security.md G13: the upstream's protected-resource metadata moves to
// another authorization server. The grant of the old one is never sent to
// the new one; the call says to reconnect, and reconnecting registers with
// the new server and works.
func TestOAuthAuthorizationServerSwitchNeedsANewGrant(t *testing.T) {
	up := httptest.NewUnstartedServer(nil)
	resource := "http://" + up.Listener.Addr().String() + "/mcp"
	as1 := oauthtest.NewServer(t, oauthtest.Options{DCR: true, RotateRefresh: true, Resource: resource})
	as2 := oauthtest.NewServer(t, oauthtest.Options{DCR: true, RotateRefresh: true, Resource: resource})
	mcpServer := whoamiMCP()
	var current atomic.Pointer[oauthtest.Server]
	current.Store(as1)
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Load().ProtectResource(mcpServer).ServeHTTP(w, r)
	})
	up.Start()
	t.Cleanup(up.Close)

	tg := newTestGateway(t, Config{})
	if code, body := tg.api(t, "alice", "POST", "/api/mcp/servers", map[string]any{"name": "secure", "slug": "secure", "endpoint": resource,
		"remoteTransport": "streamable-http", "auth": map[string]any{"kind": "oauth2"}}, nil); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	connectOAuth(t, tg, as1, "org", "main", "secure", false)
	c := tg.client(t, "alice")
	c.initialize()
	call := `return await tools.secure.org.main.whoami({})`
	if r := c.execute(call); !strings.Contains(r.text(), "a token holder") {
		t.Fatalf("before the switch: %s", r.text())
	}

	current.Store(as2)
	r := c.execute(call)
	if strings.Contains(r.text(), "a token holder") || !strings.Contains(r.text(), "Sign the connection in again") || strings.Contains(r.text(), `"retryable"`) {
		t.Fatalf("after the switch, with the old server's token: %s", r.text())
	}
	// The token expires: the refresh goes to the server that issued the
	// grant, never to the one the metadata names now.
	expireConnection(t, tg, connectionKey("org", "", "secure", "main"))
	c.execute(call)
	if st := as2.Stats(); st.TokenRequests["refresh_token"] != 0 || st.Registrations != 0 || st.Authorizations != 0 {
		t.Fatalf("the new authorization server saw the old grant: %+v", st)
	}
	if n := as1.Stats().TokenRequests["refresh_token"]; n != 1 {
		t.Fatalf("%d refreshes at the old authorization server, want 1", n)
	}

	// Signing in again discovers the new server, registers with it, and
	// works, under the same address.
	if code, body := tg.api(t, "alice", "POST", "/api/oauth/start", map[string]any{"owner": "org", "name": "main", "integration": "secure", "template": "oauth-mcp"}, nil); code != 409 || !strings.Contains(body, "reconnect: true") {
		t.Fatalf("starting the existing connection without reconnect: %d %s", code, body)
	}
	connectOAuth(t, tg, as2, "org", "main", "secure", true)
	if st := as2.Stats(); st.Registrations != 1 || st.TokenRequests["authorization_code"] != 1 {
		t.Fatalf("the new authorization server after reconnecting: %+v", st)
	}
	if r := c.execute(call); !strings.Contains(r.text(), "a token holder") {
		t.Fatalf("after reconnecting: %s", r.text())
	}
}

func TestOAuthAuthorizationCodeFlowThroughTheCallback(t *testing.T) {
	up, as := secureMCP(t, oauthtest.Options{DCR: true, RotateRefresh: true})
	tg := newTestGateway(t, Config{})
	if code, body := tg.api(t, "alice", "POST", "/api/mcp/servers", map[string]any{"name": "secure", "slug": "secure", "endpoint": up.URL + "/mcp",
		"remoteTransport": "streamable-http", "auth": map[string]any{"kind": "oauth2"}}, nil); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	var start struct {
		Status           string `json:"status"`
		AuthorizationURL string `json:"authorizationUrl"`
		State            string `json:"state"`
	}
	if code, body := tg.api(t, "alice", "POST", "/api/oauth/start", map[string]any{"owner": "user", "name": "mine", "integration": "secure", "template": "oauth-mcp"}, &start); code != 200 || start.Status != "redirect" {
		t.Fatalf("start: %d %s", code, body)
	}
	q, _ := url.Parse(start.AuthorizationURL)
	if q.Query().Get("code_challenge_method") != "S256" || q.Query().Get("resource") != up.URL+"/mcp" {
		t.Fatalf("authorization URL: %s", start.AuthorizationURL)
	}
	back := as.Authorize(t, start.AuthorizationURL)
	cb, _ := url.Parse(back)
	if !strings.HasSuffix(cb.Path, "/api/oauth/callback") {
		t.Fatalf("redirected to %s", back)
	}

	// Someone else cannot complete alice's sign-in.
	if code, body := tg.api(t, "mallory", "GET", cb.RequestURI(), nil, nil); code != 403 || !strings.Contains(body, "started by someone else") {
		t.Fatalf("mallory's callback: %d %s", code, body)
	}
	// The state was consumed by that attempt; start again and finish as alice.
	tg.api(t, "alice", "POST", "/api/oauth/start", map[string]any{"owner": "user", "name": "mine", "integration": "secure", "template": "oauth-mcp"}, &start)
	cb, _ = url.Parse(as.Authorize(t, start.AuthorizationURL))
	if code, body := tg.api(t, "alice", "GET", cb.RequestURI(), nil, nil); code != 200 || !strings.Contains(body, "is connected") {
		t.Fatalf("callback: %d %s", code, body)
	}
	if code, _ := tg.api(t, "alice", "GET", cb.RequestURI(), nil, nil); code != 400 {
		t.Fatalf("a replayed callback: %d", code)
	}
	st := as.Stats()
	if st.Registrations != 1 || st.TokenRequests["authorization_code"] != 1 {
		t.Fatalf("stats: %+v", st)
	}

	c := tg.client(t, "alice")
	c.initialize()
	call := `return await tools.secure.user.mine.whoami({})`
	if r := c.execute(call); !strings.Contains(r.text(), "a token holder") {
		t.Fatalf("call: %s", r.text())
	}

	// An expired token is refreshed once, however many calls need it.
	as.ExpireAll()
	expireConnection(t, tg, connectionKey("user", "alice", "secure", "mine"))
	r := c.execute(`const c = () => tools.secure.user.mine.whoami({}); return (await Promise.all(Array.from({length: 20}, c))).every(x => x.ok)`)
	if r.text() != "true" {
		t.Fatalf("20 calls after expiry: %s", r.text())
	}
	if n := as.Stats().Refreshes; n != 1 {
		t.Fatalf("%d refreshes for 20 concurrent calls", n)
	}
	// The rotated refresh token was stored: expiring again refreshes again.
	as.ExpireAll()
	expireConnection(t, tg, connectionKey("user", "alice", "secure", "mine"))
	if r := c.execute(call); !strings.Contains(r.text(), "a token holder") || as.Stats().Refreshes != 2 {
		t.Fatalf("second refresh: %s, %d refreshes", r.text(), as.Stats().Refreshes)
	}
}

// An authorization server that takes client ID metadata documents and
// offers no registration gets the gateway's document URL as the client_id,
// reads the document, and nothing is registered.
func TestOAuthWithTheClientMetadataDocument(t *testing.T) {
	up, as := secureMCP(t, oauthtest.Options{ClientMetadataDocuments: true, RotateRefresh: true})
	tg := newTestGateway(t, Config{})
	if code, body := tg.api(t, "alice", "POST", "/api/mcp/servers", map[string]any{"name": "secure", "slug": "secure", "endpoint": up.URL + "/mcp",
		"remoteTransport": "streamable-http", "auth": map[string]any{"kind": "oauth2"}}, nil); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	var doc map[string]any
	if code, body := tg.api(t, "alice", "GET", "/api/oauth/client-id-metadata.json", nil, &doc); code != 200 ||
		doc["client_id"] != tg.srv.URL+"/api/oauth/client-id-metadata.json" || fmt.Sprint(doc["redirect_uris"]) != "["+tg.srv.URL+"/api/oauth/callback]" ||
		doc["token_endpoint_auth_method"] != "none" {
		t.Fatalf("the document: %d %s", code, body)
	}
	connectOAuth(t, tg, as, "org", "main", "secure", false)
	st := as.Stats()
	if st.MetadataFetches != 1 || st.Registrations != 0 || st.LastAuthorization.Get("client_id") != tg.srv.URL+"/api/oauth/client-id-metadata.json" {
		t.Fatalf("the authorization server: %+v", st)
	}
	c := tg.client(t, "alice")
	c.initialize()
	call := `return await tools.secure.org.main.whoami({})`
	if r := c.execute(call); !strings.Contains(r.text(), "a token holder") {
		t.Fatalf("call: %s", r.text())
	}
	// A public client refreshes with its client_id alone.
	as.ExpireAll()
	expireConnection(t, tg, connectionKey("org", "", "secure", "main"))
	if r := c.execute(call); !strings.Contains(r.text(), "a token holder") || as.Stats().Refreshes != 1 {
		t.Fatalf("after a refresh: %s, %d refreshes", r.text(), as.Stats().Refreshes)
	}
	if got := as.Stats().LastTokenRequest["refresh_token"]; got.Get("client_id") != tg.srv.URL+"/api/oauth/client-id-metadata.json" || got.Has("client_secret") {
		t.Fatalf("the refresh request: %v", got)
	}
}

func expireConnection(t *testing.T, tg *testGateway, key string) {
	t.Helper()
	err := tg.store.Update(func(tx store.Tx) error {
		var c Connection
		if _, err := tx.GetJSON(store.Connections, key, &c); err != nil {
			return err
		}
		c.ExpiresAt = c.ExpiresAt.Add(-2 * 3600e9)
		return tx.PutJSON(store.Connections, key, &c)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOAuthRevokedGrantAsksToReconnect(t *testing.T) {
	up, as := secureMCP(t, oauthtest.Options{DCR: true, RotateRefresh: true})
	tg := newTestGateway(t, Config{})
	tg.api(t, "alice", "POST", "/api/mcp/servers", map[string]any{"name": "secure", "slug": "secure", "endpoint": up.URL + "/mcp", "remoteTransport": "streamable-http", "auth": map[string]any{"kind": "oauth2"}}, nil)
	var start struct {
		AuthorizationURL string `json:"authorizationUrl"`
	}
	tg.api(t, "alice", "POST", "/api/oauth/start", map[string]any{"owner": "org", "name": "main", "integration": "secure", "template": "oauth-mcp"}, &start)
	cb, _ := url.Parse(as.Authorize(t, start.AuthorizationURL))
	tg.api(t, "alice", "GET", cb.RequestURI(), nil, nil)
	// Forget the refresh token: the grant is gone.
	key := connectionKey("org", "", "secure", "main")
	_ = tg.store.Update(func(tx store.Tx) error {
		return tx.PutSecret(store.Connections, key, "oauth:refresh", []byte("revoked"))
	})
	expireConnection(t, tg, key)
	c := tg.client(t, "alice")
	c.initialize()
	r := c.execute(`return await tools.secure.org.main.whoami({})`)
	if !strings.Contains(r.text(), `"code": "oauth_reauth_required"`) || strings.Contains(r.text(), "revoked") {
		t.Fatalf("got %s", r.text())
	}

	// Signing the same connection in again is the way back.
	connectOAuth(t, tg, as, "org", "main", "secure", true)
	if r := c.execute(`return await tools.secure.org.main.whoami({})`); !strings.Contains(r.text(), "a token holder") {
		t.Fatalf("after signing in again: %s", r.text())
	}
	if st := as.Stats(); st.Registrations != 1 {
		t.Fatalf("signing in again with the same authorization server registered again: %+v", st)
	}
	for _, tt := range []struct {
		name string
		req  map[string]any
		code int
		want string
	}{
		{"a connection that does not exist", map[string]any{"owner": "org", "name": "other", "integration": "secure", "reconnect": true}, 404, "not found"},
		{"someone else's personal connection", map[string]any{"owner": "user", "name": "main", "integration": "secure", "reconnect": true}, 404, "not found"},
		{"another template", map[string]any{"owner": "org", "name": "main", "integration": "secure", "template": "none", "reconnect": true}, 400, "not the one"},
	} {
		if code, body := tg.api(t, "alice", "POST", "/api/oauth/start", tt.req, nil); code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s", tt.name, code, body)
		}
	}
}

func TestOAuthClientCredentials(t *testing.T) {
	up, as := secureMCP(t, oauthtest.Options{ClientCredentials: true})
	as.AddClient("machine", "machine-secret-SENTINEL")
	tg := newTestGateway(t, Config{})
	tg.api(t, "alice", "POST", "/api/mcp/servers", map[string]any{"name": "secure", "slug": "secure", "endpoint": up.URL + "/mcp", "remoteTransport": "streamable-http", "auth": map[string]any{"kind": "oauth2"}}, nil)
	if code, body := tg.api(t, "alice", "POST", "/api/oauth/clients", map[string]any{"owner": "org", "slug": "machine", "grant": "client_credentials",
		"clientId": "machine", "clientSecret": "machine-secret-SENTINEL", "tokenUrl": as.TokenURL, "resource": up.URL + "/mcp"}, nil); code != 200 {
		t.Fatalf("client: %d %s", code, body)
	}
	var out map[string]any
	if code, body := tg.api(t, "alice", "POST", "/api/oauth/start", map[string]any{"client": "machine", "clientOwner": "org", "owner": "org", "name": "bot",
		"integration": "secure", "template": "oauth-mcp"}, &out); code != 200 || out["status"] != "connected" {
		t.Fatalf("start: %d %s", code, body)
	}
	if _, body := tg.api(t, "alice", "GET", "/api/oauth/clients", nil, nil); strings.Contains(body, "SENTINEL") {
		t.Fatal("the client secret came back")
	}
	c := tg.client(t, "alice")
	c.initialize()
	if r := c.execute(`return await tools.secure.org.bot.whoami({})`); !strings.Contains(r.text(), "a token holder") {
		t.Fatalf("call: %s", r.text())
	}
}

func TestOAuthWithoutDynamicRegistrationAsksForAClient(t *testing.T) {
	up, _ := secureMCP(t, oauthtest.Options{DCR: false})
	tg := newTestGateway(t, Config{})
	if code, body := tg.api(t, "alice", "POST", "/api/mcp/servers", map[string]any{"name": "secure", "slug": "secure", "endpoint": up.URL + "/mcp",
		"remoteTransport": "streamable-http", "auth": map[string]any{"kind": "oauth2"}}, nil); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	var res struct{ Error, Code string }
	code, body := tg.api(t, "alice", "POST", "/api/oauth/start", map[string]any{"owner": "user", "name": "mine", "integration": "secure", "template": "oauth-mcp"}, nil)
	if err := json.Unmarshal([]byte(body), &res); err != nil || code != http.StatusBadRequest || res.Code != "oauth_client_required" || !strings.Contains(res.Error, "register an OAuth client") {
		t.Fatalf("start without a client: %d %s", code, body)
	}
	code, body = tg.api(t, "alice", "GET", "/api/integrations/nope", nil, nil)
	if err := json.Unmarshal([]byte(body), &res); err != nil || code != http.StatusNotFound || res.Code != "not_found" {
		t.Fatalf("an error without a specific code: %d %s", code, body)
	}
}

// With both offered, the gateway registers: that works behind Access
// without a Bypass policy for the document.
func TestOAuthPrefersRegistrationToTheMetadataDocument(t *testing.T) {
	up, as := secureMCP(t, oauthtest.Options{DCR: true, ClientMetadataDocuments: true})
	tg := newTestGateway(t, Config{})
	tg.api(t, "alice", "POST", "/api/mcp/servers", map[string]any{"name": "secure", "slug": "secure", "endpoint": up.URL + "/mcp",
		"remoteTransport": "streamable-http", "auth": map[string]any{"kind": "oauth2"}}, nil)
	connectOAuth(t, tg, as, "org", "main", "secure", false)
	if st := as.Stats(); st.Registrations != 1 || st.MetadataFetches != 0 {
		t.Fatalf("the authorization server: %+v", st)
	}
}

func TestTheMetadataDocumentIsUsedOnlyWhereTheServerCanReadIt(t *testing.T) {
	tests := []struct {
		origin, issuer string
		allowLocal     bool
		want           bool
	}{
		{"https://executor.example.com", "https://auth.example.com", false, true},
		{"http://127.0.0.1:4788", "http://127.0.0.1:9000", true, true},
		{"http://127.0.0.1:4788", "https://auth.example.com", true, false}, // a remote server cannot read a loopback URL
		{"http://127.0.0.1:4788", "http://127.0.0.1:9000", false, false},
		{"http://executor.internal", "http://127.0.0.1:9000", true, false},
	}
	for _, tt := range tests {
		g := &Gateway{cfg: Config{AllowLocalNetwork: tt.allowLocal}}
		r := httptest.NewRequest("GET", "/", nil).WithContext(WithSite(context.Background(), Site{Origin: tt.origin}))
		if got := g.metadataDocumentReachable(r, &oauth.Endpoints{Issuer: tt.issuer}); got != tt.want {
			t.Errorf("origin %s, issuer %s, local network %v: %v, want %v", tt.origin, tt.issuer, tt.allowLocal, got, tt.want)
		}
	}
}
