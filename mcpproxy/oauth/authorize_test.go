package oauth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpexecutor/executor/mcpproxy/oauth"
	"github.com/mcpexecutor/executor/mcpproxy/oauth/oauthtest"
)

func TestStartAuthorizationBuildsAPKCERequestWithAResource(t *testing.T) {
	ep := &oauth.Endpoints{AuthorizationURL: "https://as.example/authorize?tenant=t1", Resource: "https://mcp.example/mcp"}
	cl := &oauth.Client{ID: "app", RedirectURI: callback}
	az, err := oauth.StartAuthorization(ep, cl, []string{"read", "write"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(az.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for key, want := range map[string]string{
		"tenant":                "t1",
		"response_type":         "code",
		"client_id":             "app",
		"redirect_uri":          callback,
		"scope":                 "read write",
		"state":                 az.State,
		"code_challenge_method": "S256",
		"code_challenge":        s256(az.Verifier),
		"resource":              "https://mcp.example/mcp",
	} {
		if got := q.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if n := len(az.Verifier); n < 43 || n > 128 {
		t.Errorf("the verifier has %d characters, want 43 to 128", n)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(az.State); err != nil || len(raw) < 16 {
		t.Errorf("the state %q carries fewer than 128 random bits", az.State)
	}
	if q.Has("access_type") || q.Has("prompt") {
		t.Error("a non-Google server got Google's offline parameters")
	}
	again, _ := oauth.StartAuthorization(ep, cl, nil)
	if again.State == az.State || again.Verifier == az.Verifier {
		t.Error("two flows share a state or a verifier")
	}
	if u, _ := url.Parse(again.URL); u.Query().Has("scope") {
		t.Error("a flow without scopes sent a scope")
	}
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestStartAuthorizationAsksGoogleForARefreshToken(t *testing.T) {
	ep := &oauth.Endpoints{AuthorizationURL: "https://accounts.google.com/o/oauth2/v2/auth"}
	az, err := oauth.StartAuthorization(ep, &oauth.Client{ID: "app", RedirectURI: callback}, []string{"openid"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(az.URL)
	if q := u.Query(); q.Get("access_type") != "offline" || q.Get("prompt") != "consent" || q.Has("resource") {
		t.Errorf("query = %v, want access_type=offline, prompt=consent and no resource", q)
	}
}

func TestStartAuthorizationRefusesAnUnsafeAuthorizationURL(t *testing.T) {
	for _, bad := range []string{
		"javascript:alert(1)",
		"data:text/html,hi",
		"http://as.example/authorize",
		"vbscript:msgbox",
		"/authorize",
	} {
		t.Run(bad, func(t *testing.T) {
			az, err := oauth.StartAuthorization(&oauth.Endpoints{AuthorizationURL: bad}, &oauth.Client{ID: "app", RedirectURI: callback}, nil)
			if err == nil {
				t.Errorf("built %s", az.URL)
			}
		})
	}
}

func TestCallbackCheck(t *testing.T) {
	const issuer = "https://as.example"
	plain := &oauth.Endpoints{Issuer: issuer}
	promisesIss := &oauth.Endpoints{Issuer: issuer, IssParameterSupported: true}
	template := &oauth.Endpoints{}
	for _, tc := range []struct {
		name  string
		query string
		ep    *oauth.Endpoints
		state string
		want  string // the code, or "error: …" with a piece of the message
	}{
		{"accepts the matching state", "code=c1&state=s1", plain, "s1", "c1"},
		{"rejects a missing state (G5)", "code=c1", plain, "s1", "error: has no state"},
		{"rejects a wrong state (G5)", "code=c1&state=s2", plain, "s1", "error: does not match"},
		{"rejects a longer state with the same prefix (G5)", "code=c1&state=s1x", plain, "s1", "error: does not match"},
		{"rejects any state when none is expected (G5)", "code=c1&state=", plain, "", "error: no state was expected"},
		{"reports what the server said", "error=access_denied&error_description=The+user+said+no&state=s1", plain, "s1", "error: access_denied (The user said no)"},
		{"checks the state before believing an error", "error=access_denied&state=s2", plain, "s1", "error: does not match"},
		{"rejects a callback without a code", "state=s1", plain, "s1", "error: neither a code nor an error"},
		{"accepts the matching iss", "code=c1&state=s1&iss=https%3A%2F%2Fas.example", plain, "s1", "c1"},
		{"rejects another iss (G7)", "code=c1&state=s1&iss=https%3A%2F%2Fattacker.example", plain, "s1", `error: comes from the issuer "https://attacker.example"`},
		{"rejects a missing iss the server promised (G7)", "code=c1&state=s1", promisesIss, "s1", "error: has no iss"},
		{"rejects an iss on an error from another server (G7)", "error=access_denied&state=s1&iss=https%3A%2F%2Fattacker.example", plain, "s1", "error: comes from the issuer"},
		{"ignores iss for a template without an issuer", "code=c1&state=s1&iss=https%3A%2F%2Fanything.example", template, "s1", "c1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			code, err := oauth.CallbackCheck(q, tc.ep, tc.state)
			got := code
			if err != nil {
				got = "error: " + err.Error()
			}
			if want, isErr := strings.CutPrefix(tc.want, "error: "); isErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("got %q, want an error containing %q", got, want)
				}
			} else if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestACallbackFromAnIssParameterServerPassesTheCheck(t *testing.T) {
	as, resource := upstream(t, oauthtest.Options{IssParameter: true, DCR: true})
	ep, err := oauth.Discover(t.Context(), &http.Client{}, resource, "", local)
	if err != nil {
		t.Fatal(err)
	}
	if !ep.IssParameterSupported {
		t.Fatal("discovery missed authorization_response_iss_parameter_supported")
	}
	cl, err := oauth.Register(t.Context(), &http.Client{}, ep, callback, "Executor", nil)
	if err != nil {
		t.Fatal(err)
	}
	authorize(t, as, ep, cl) // fails the test if CallbackCheck refuses
}

func TestACodeExchangedWithAnotherFlowsVerifierFails(t *testing.T) {
	as, resource := upstream(t, oauthtest.Options{})
	as.AddClient("app", "", callback)
	ep, cl := endpoints(as, resource), &oauth.Client{ID: "app", RedirectURI: callback}
	attackersCode, _ := authorize(t, as, ep, cl)
	_, victimsVerifier := authorize(t, as, ep, cl)

	tok, err := oauth.Exchange(t.Context(), &http.Client{}, ep, cl, attackersCode, victimsVerifier)
	if err == nil {
		t.Fatalf("an injected code was exchanged for %+v (G8)", tok)
	}
	if !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("error %q, want the server's invalid_grant", err)
	}
}
