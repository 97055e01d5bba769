package oauthtest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpexecutor/executor/mcpproxy/oauth/oauthtest"
)

const callback = "https://gateway.example/api/oauth/callback"

// verifier is a valid PKCE verifier (43 characters).
const verifier = "dBjftJeZ4CVP-mJ92K9ZQ4CeUHH5mw1dXxGyYpX-Xs-"

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeURL builds an authorization request for client "app".
func authorizeURL(s *oauthtest.Server, extra url.Values) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {"app"},
		"redirect_uri":          {callback},
		"state":                 {"st"},
		"code_challenge":        {challenge(verifier)},
		"code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			delete(q, k)
		}
	}
	return s.AuthorizationURL + "?" + q.Encode()
}

func codeFrom(t *testing.T, redirect string) string {
	t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	if e := u.Query().Get("error"); e != "" {
		t.Fatalf("the server refused the authorization: %s (%s)", e, u.Query().Get("error_description"))
	}
	return u.Query().Get("code")
}

// postToken sends a token request for client "app" and returns the status
// and decoded body.
func postToken(t *testing.T, s *oauthtest.Server, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("client_id", "app")
	resp, err := http.PostForm(s.TokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestTheServerRefusesAuthorizationRequests(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      oauthtest.Options
		extra     url.Values
		wantError string
	}{
		{"without a code challenge", oauthtest.Options{}, url.Values{"code_challenge": {""}, "code_challenge_method": {""}}, "invalid_request"},
		{"with the plain challenge method", oauthtest.Options{}, url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		{"without the resource it protects", oauthtest.Options{Resource: "https://mcp.example/mcp"}, nil, "invalid_target"},
		{"for another resource", oauthtest.Options{Resource: "https://mcp.example/mcp"}, url.Values{"resource": {"https://other.example/mcp"}}, "invalid_target"},
		{"when the user declines", oauthtest.Options{DenyConsent: true}, nil, "access_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthtest.NewServer(t, tc.opts)
			s.AddClient("app", "", callback)
			u, err := url.Parse(s.Authorize(t, authorizeURL(s, tc.extra)))
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Query().Get("error"); got != tc.wantError {
				t.Errorf("error = %q, want %q", got, tc.wantError)
			}
			if got := u.Query().Get("state"); got != "st" {
				t.Errorf("state = %q, want it echoed", got)
			}
		})
	}
}

func TestTheServerNeverRedirectsToAnUnregisteredURI(t *testing.T) {
	s := oauthtest.NewServer(t, oauthtest.Options{})
	s.AddClient("app", "", callback)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authorizeURL(s, url.Values{"redirect_uri": {"https://attacker.example/cb"}}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400 without a redirect", resp.StatusCode)
	}
}

func TestTheServerVerifiesPKCEAndSpendsCodesOnce(t *testing.T) {
	s := oauthtest.NewServer(t, oauthtest.Options{})
	s.AddClient("app", "", callback)
	exchange := func(code, v string) (int, map[string]any) {
		return postToken(t, s, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {v}})
	}

	code := codeFrom(t, s.Authorize(t, authorizeURL(s, nil)))
	if status, body := exchange(code, strings.Repeat("x", 43)); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("a wrong verifier: %d %v, want 400 invalid_grant", status, body)
	}
	if status, body := exchange(code, verifier); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("a code already tried: %d %v, want 400 invalid_grant", status, body)
	}

	code = codeFrom(t, s.Authorize(t, authorizeURL(s, nil)))
	status, body := exchange(code, verifier)
	if status != http.StatusOK || body["access_token"] == nil || body["refresh_token"] == nil || body["token_type"] != "Bearer" {
		t.Fatalf("the right verifier: %d %v, want tokens", status, body)
	}
	if status, _ := exchange(code, verifier); status != http.StatusBadRequest {
		t.Errorf("a spent code: %d, want 400", status)
	}
}

func TestTheServerRotatesRefreshTokensWhenAsked(t *testing.T) {
	s := oauthtest.NewServer(t, oauthtest.Options{RotateRefresh: true})
	s.AddClient("app", "", callback)
	code := codeFrom(t, s.Authorize(t, authorizeURL(s, nil)))
	_, body := postToken(t, s, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {verifier}})
	first, _ := body["refresh_token"].(string)

	status, body := postToken(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}})
	second, _ := body["refresh_token"].(string)
	if status != http.StatusOK || second == "" || second == first {
		t.Fatalf("refresh: %d %v, want a new refresh token", status, body)
	}
	if status, body := postToken(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}}); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("the rotated-out refresh token: %d %v, want 400 invalid_grant", status, body)
	}
	if got := s.Stats().Refreshes; got != 1 {
		t.Errorf("Refreshes = %d, want 1", got)
	}
}

func TestProtectResourceChallengesUntilATokenIsPresented(t *testing.T) {
	up := httptest.NewUnstartedServer(nil)
	resource := "http://" + up.Listener.Addr().String() + "/mcp"
	s := oauthtest.NewServer(t, oauthtest.Options{Resource: resource, Scopes: []string{"mcp"}})
	up.Config.Handler = s.ProtectResource(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	up.Start()
	defer up.Close()

	get := func(path, token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, up.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get("/mcp", "")
	wantChallenge := `Bearer resource_metadata="` + up.URL + `/.well-known/oauth-protected-resource/mcp", scope="mcp"`
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != wantChallenge {
		t.Errorf("without a token: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), wantChallenge)
	}
	if resp := get("/.well-known/oauth-protected-resource/mcp", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the resource metadata: %d, want 200", resp.StatusCode)
	}
	tok := s.IssueAccessToken()
	if resp := get("/mcp", tok); resp.StatusCode != http.StatusOK {
		t.Errorf("with a token: %d, want 200", resp.StatusCode)
	}
	s.ExpireAll()
	resp = get("/mcp", tok)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("with an expired token: %d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if st := s.Stats(); st.ResourceRequests != 1 || st.ResourceRejected != 2 {
		t.Errorf("stats = %d passed, %d rejected; want 1 and 2", st.ResourceRequests, st.ResourceRejected)
	}
}

func TestTheServerPublishesMetadataWhereRFC8414Says(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     oauthtest.Options
		wantPath string
	}{
		{"at the root", oauthtest.Options{}, "/.well-known/oauth-authorization-server"},
		{"with the issuer path inserted", oauthtest.Options{IssuerPath: "/tenant1"}, "/.well-known/oauth-authorization-server/tenant1"},
		{"at OpenID Connect's appended location", oauthtest.Options{IssuerPath: "/tenant1", OIDCOnly: true}, "/tenant1/.well-known/openid-configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthtest.NewServer(t, tc.opts)
			if s.MetadataURL != s.URL+tc.wantPath {
				t.Errorf("MetadataURL = %s, want %s", s.MetadataURL, s.URL+tc.wantPath)
			}
			resp, err := http.Get(s.MetadataURL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m["issuer"] != s.Issuer {
				t.Errorf("issuer = %v, want %s", m["issuer"], s.Issuer)
			}
		})
	}
}
