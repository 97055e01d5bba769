package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// issuer is an OIDC issuer for the binary's `access jwt`: a JWKS on
// 127.0.0.1 and tokens signed with its key.
type issuer struct {
	url string
	key jwk.Key
}

const (
	testIssuer   = "https://issuer.executor.test"
	testAudience = "executor-e2e"
)

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, "e2e-1")
	_ = key.Set(jwk.AlgorithmKey, jwa.RS256())
	pub, err := jwk.PublicKeyOf(key)
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return &issuer{url: srv.URL + "/jwks", key: key}
}

// token is a valid token for the person sub.
func (i *issuer) token(t *testing.T, sub string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(testIssuer).Audience([]string{testAudience}).Subject(sub).
		Claim("email", sub+"@example.com").Claim("name", sub).IssuedAt(now).Expiration(now.Add(10 * time.Minute)).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), i.key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// startSignedInGateway runs the binary behind `access jwt` with iss as the
// issuer, on 127.0.0.1 over plain HTTP.
func startSignedInGateway(t *testing.T, iss *issuer) *gateway {
	t.Helper()
	dir, port := t.TempDir(), freePort(t)
	caddyfile := fmt.Sprintf(`{
	admin localhost:%d
	executor {
		storage %s
		secret_key e2e-secret-key-0123456789
		allow_local_network on
	}
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	executor {
		access jwt {
			issuer %s
			jwks_url %s
			aud %s
		}
	}
}
`, freePort(t), filepath.Join(dir, "executor.db"), port, testIssuer, iss.url, testAudience)
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{base: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, env: env(t, t.TempDir())}
	g.p = start(t, dir, g.env, "run") // ./Caddyfile in its folder
	waitHTTP(t, g.base+"/", g.p)
	return g
}

// A paused execution belongs to the person who started it: behind real
// sign-in, another person's resume is refused with execution_forbidden and
// sends nothing upstream; the owner resumes it from a new session.
func TestResumeBelongsToThePrincipalAgainstTheBinary(t *testing.T) {
	iss := newIssuer(t)
	g := startSignedInGateway(t, iss)
	alice, mallory := iss.token(t, "alice"), iss.token(t, "mallory")
	if code, body := g.apiAs(t, "", "GET", "/api/account/me", nil); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %s", code, body)
	}
	if code, body := g.apiAs(t, alice, "GET", "/api/account/me", nil); code != 200 || !bytes.Contains([]byte(body), []byte("alice@example.com")) {
		t.Fatalf("alice: %d %s", code, body)
	}
	up, posts, _ := petStore(t)
	if code, body := g.apiAs(t, alice, "POST", "/api/openapi/specs", map[string]any{"spec": map[string]any{"kind": "url", "url": up.URL + "/openapi.json"}, "slug": "pets"}); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	if code, body := g.apiAs(t, alice, "POST", "/api/connections", map[string]any{"owner": "org", "name": "main", "integration": "pets", "template": "none"}); code != 200 {
		t.Fatalf("connect: %d %s", code, body)
	}

	paused := structured(t, sdkClientAs(t, alice, g.base+"/mcp", execute(`return (await tools.pets.org.main.pets.createPet({ body: { name: "Fido" } })).data.name`))[1])
	id, _ := paused["executionId"].(string)
	if paused["status"] != "waiting_for_interaction" || id == "" {
		t.Fatalf("pause: %v", paused)
	}
	resume := map[string]any{"tool": "resume", "arguments": map[string]any{"executionId": id, "action": "accept"}}

	out := sdkClientAs(t, mallory, g.base+"/mcp", resume)[1]
	if s := structured(t, out); out["isError"] != true || s["status"] != "execution_forbidden" || posts.Load() != 0 {
		t.Fatalf("mallory's resume: %v; the upstream received %d writes", out, posts.Load())
	}
	out = sdkClientAs(t, alice, g.base+"/mcp", resume)[1]
	if s := structured(t, out); s["status"] != "completed" || s["result"] != "Fido" || posts.Load() != 1 {
		t.Fatalf("alice's resume from a new session: %v; the upstream received %d writes", out, posts.Load())
	}
}

// security.md B5–B7: what the agent sends to authenticate itself (its token
// in Authorization and Cf-Access-Jwt-Assertion, the CF_Authorization cookie,
// Cf-Access-Token) never reaches an upstream that a tool call goes to.
func TestTheAgentsCredentialsNeverReachAnUpstream(t *testing.T) {
	iss := newIssuer(t)
	g := startSignedInGateway(t, iss)
	alice := iss.token(t, "alice")
	var seen atomic.Value // the headers of the last upstream request
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/openapi.json" {
			fmt.Fprintf(w, `{"openapi":"3.0.3","info":{"title":"Echo","version":"1"},"servers":[{"url":"http://%s"}],
"paths":{"/pets":{"get":{"operationId":"listPets","responses":{"200":{"description":"ok"}}}}}}`, r.Host)
			return
		}
		seen.Store(r.Header.Clone())
		fmt.Fprint(w, `[]`)
	}))
	t.Cleanup(up.Close)
	if code, body := g.apiAs(t, alice, "POST", "/api/openapi/specs", map[string]any{"spec": map[string]any{"kind": "url", "url": up.URL + "/openapi.json"}, "slug": "echo"}); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	if code, body := g.apiAs(t, alice, "POST", "/api/connections", map[string]any{"owner": "org", "name": "main", "integration": "echo", "template": "none"}); code != 200 {
		t.Fatalf("connect: %d %s", code, body)
	}

	headers := map[string]string{
		"Authorization":           "Bearer " + alice,
		"Cf-Access-Jwt-Assertion": alice,
		"Cf-Access-Token":         alice,
		"Cookie":                  "CF_Authorization=" + alice + "; session=agent-cookie",
		"Mcp-Protocol-Version":    "2025-06-18",
	}
	res, body := post(t, g.base+"/mcp", headers, initialize)
	if res.StatusCode != 200 || res.Header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: %d %s", res.StatusCode, body)
	}
	headers["Mcp-Session-Id"] = res.Header.Get("Mcp-Session-Id")
	res, body = post(t, g.base+"/mcp", headers, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute","arguments":{"code":"return (await tools.echo.org.main.pets.listPets({})).ok"}}}`)
	if res.StatusCode != 200 || !strings.Contains(body, `\"result\":true`) && !strings.Contains(body, `"result":true`) {
		t.Fatalf("execute: %d %s", res.StatusCode, body)
	}
	h, _ := seen.Load().(http.Header)
	if h == nil {
		t.Fatal("the upstream received no call")
	}
	for name, values := range h {
		for _, v := range values {
			if strings.Contains(v, alice) || strings.Contains(v, "CF_Authorization") || strings.Contains(v, "agent-cookie") {
				t.Errorf("the upstream received the agent's credential in %s", name)
			}
		}
	}
	for _, name := range []string{"Authorization", "Cookie", "Cf-Access-Jwt-Assertion", "Cf-Access-Token", "Mcp-Session-Id"} {
		if h.Get(name) != "" {
			t.Errorf("the upstream received a %s header", name)
		}
	}
}
