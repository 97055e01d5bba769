package oauth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/oauth"
	"github.com/mcpexecutor/executor/mcpproxy/oauth/oauthtest"
)

// callback is the gateway's redirect URI; the tests never reach it.
const callback = "https://gateway.example/api/oauth/callback"

// local lets discovery use the loopback http test servers.
var local = oauth.DiscoverOptions{AllowHTTPLoopback: true}

// upstream starts a resource server ("hello" at /mcp) protected by a new
// authorization server for it, and returns both.
func upstream(t *testing.T, opts oauthtest.Options) (as *oauthtest.Server, resource string) {
	t.Helper()
	up := httptest.NewUnstartedServer(nil)
	resource = "http://" + up.Listener.Addr().String() + "/mcp"
	opts.Resource = resource
	as = oauthtest.NewServer(t, opts)
	up.Config.Handler = as.ProtectResource(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	up.Start()
	t.Cleanup(up.Close)
	return as, resource
}

// call GETs the resource with token (none when empty) and returns the
// status, the body and the WWW-Authenticate header.
func call(t *testing.T, resource, token string) (status int, body, challenge string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, resource, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("WWW-Authenticate")
}

// endpoints describes as by hand, as a configured template would.
func endpoints(as *oauthtest.Server, resource string) *oauth.Endpoints {
	return &oauth.Endpoints{
		Issuer:           as.Issuer,
		AuthorizationURL: as.AuthorizationURL,
		TokenURL:         as.TokenURL,
		RegistrationURL:  as.RegistrationURL,
		Resource:         resource,
	}
}

// authorize runs the user's part of a flow and returns the code and the
// verifier to exchange it with.
func authorize(t *testing.T, as *oauthtest.Server, ep *oauth.Endpoints, cl *oauth.Client) (code, verifier string) {
	t.Helper()
	az, err := oauth.StartAuthorization(ep, cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := url.Parse(as.Authorize(t, az.URL))
	if err != nil {
		t.Fatal(err)
	}
	code, err = oauth.CallbackCheck(back.Query(), ep, az.State)
	if err != nil {
		t.Fatal(err)
	}
	return code, az.Verifier
}

func TestAnAuthorizationCodeFlowConnectsRefreshesAndRotates(t *testing.T) {
	as, resource := upstream(t, oauthtest.Options{DCR: true, RotateRefresh: true, Scopes: []string{"mcp:tools"}})
	ctx, hc := t.Context(), &http.Client{}

	status, _, challenge := call(t, resource, "")
	if status != http.StatusUnauthorized {
		t.Fatalf("the upstream answered %d without a token, want 401", status)
	}
	ep, err := oauth.Discover(ctx, hc, resource, challenge, local)
	if err != nil {
		t.Fatal(err)
	}
	if ep.Issuer != as.Issuer || ep.Resource != resource || ep.RegistrationURL != as.RegistrationURL {
		t.Fatalf("discovered %+v, want issuer %s, resource %s, registration %s", ep, as.Issuer, resource, as.RegistrationURL)
	}
	cl, err := oauth.Register(ctx, hc, ep, callback, "Executor", ep.ScopesSupported)
	if err != nil {
		t.Fatal(err)
	}
	az, err := oauth.StartAuthorization(ep, cl, ep.ScopesSupported)
	if err != nil {
		t.Fatal(err)
	}
	back, err := url.Parse(as.Authorize(t, az.URL))
	if err != nil {
		t.Fatal(err)
	}
	code, err := oauth.CallbackCheck(back.Query(), ep, az.State)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := oauth.Exchange(ctx, hc, ep, cl, code, az.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.Scope != "mcp:tools" || time.Until(tok.ExpiresAt) < 59*time.Minute {
		t.Errorf("token = %+v, want a refresh token, scope mcp:tools and an hour to live", tok)
	}
	if _, err := oauth.Exchange(ctx, hc, ep, cl, code, az.Verifier); err == nil {
		t.Error("the same code was exchanged twice")
	}
	if status, body, _ := call(t, resource, tok.AccessToken); status != http.StatusOK || body != "hello" {
		t.Fatalf("with the access token the upstream answered %d %q", status, body)
	}

	as.ExpireAll()
	if status, _, _ := call(t, resource, tok.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("with an expired token the upstream answered %d, want 401", status)
	}
	fresh, err := oauth.Refresh(ctx, hc, ep, cl, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Errorf("the refresh did not return the rotated refresh token")
	}
	if status, _, _ := call(t, resource, fresh.AccessToken); status != http.StatusOK {
		t.Errorf("with the refreshed token the upstream answered %d", status)
	}
	_, err = oauth.Refresh(ctx, hc, ep, cl, tok.RefreshToken)
	if !errors.Is(err, oauth.ErrReauthRequired) || errors.Is(err, oauth.ErrRefreshFailed) {
		t.Errorf("refreshing with the rotated-out token: %v, want ErrReauthRequired", err)
	}

	st := as.Stats()
	if st.Registrations != 1 || st.Authorizations != 1 || st.Refreshes != 1 || st.TokenRequests["authorization_code"] != 2 || st.TokenRequests["refresh_token"] != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestResourceIsSentOnAuthorizationTokenAndRefreshRequests(t *testing.T) {
	as, resource := upstream(t, oauthtest.Options{DCR: true})
	ctx, hc := t.Context(), &http.Client{}
	ep, err := oauth.Discover(ctx, hc, resource, "", local)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := oauth.Register(ctx, hc, ep, callback, "Executor", nil)
	if err != nil {
		t.Fatal(err)
	}
	code, verifier := authorize(t, as, ep, cl)
	tok, err := oauth.Exchange(ctx, hc, ep, cl, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oauth.Refresh(ctx, hc, ep, cl, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}

	st := as.Stats()
	for _, tc := range []struct {
		request string
		params  url.Values
	}{
		{"authorization", st.LastAuthorization},
		{"token", st.LastTokenRequest["authorization_code"]},
		{"refresh", st.LastTokenRequest["refresh_token"]},
	} {
		if got := tc.params["resource"]; len(got) != 1 || got[0] != resource {
			t.Errorf("the %s request sent resource %q, want [%s]", tc.request, got, resource)
		}
	}
	if tr := st.LastTokenRequest["authorization_code"]; tr.Get("code_verifier") == "" || tr.Get("redirect_uri") != callback {
		t.Errorf("the token request lacks the verifier or the redirect URI: %v", tr)
	}
	if st.LastAuthorization.Get("code_challenge_method") != "S256" {
		t.Errorf("code_challenge_method = %q, want S256", st.LastAuthorization.Get("code_challenge_method"))
	}
}

func TestClientCredentialsGetAToken(t *testing.T) {
	for _, method := range []string{oauth.AuthClientSecretPost, oauth.AuthClientSecretBasic, ""} {
		t.Run("with "+method, func(t *testing.T) {
			as, resource := upstream(t, oauthtest.Options{ClientCredentials: true})
			as.AddClient("svc", "s3cret/with+odd&chars")
			cl := &oauth.Client{ID: "svc", Secret: "s3cret/with+odd&chars", AuthMethod: method}
			tok, err := oauth.ClientCredentials(t.Context(), &http.Client{}, endpoints(as, resource), cl, []string{"read", "write"})
			if err != nil {
				t.Fatal(err)
			}
			if status, _, _ := call(t, resource, tok.AccessToken); status != http.StatusOK {
				t.Errorf("the upstream answered %d with the token", status)
			}
			req := as.Stats().LastTokenRequest["client_credentials"]
			if req.Get("resource") != resource || req.Get("scope") != "read write" {
				t.Errorf("the request sent resource %q and scope %q", req.Get("resource"), req.Get("scope"))
			}
			if inBody := req.Has("client_secret"); inBody != (method != oauth.AuthClientSecretBasic) {
				t.Errorf("client_secret in the body = %v for %q", inBody, method)
			}
		})
	}
}

func TestClientCredentialsNeedAConfidentialClient(t *testing.T) {
	as, resource := upstream(t, oauthtest.Options{ClientCredentials: true})
	_, err := oauth.ClientCredentials(t.Context(), &http.Client{}, endpoints(as, resource), &oauth.Client{ID: "public"}, nil)
	if err == nil {
		t.Fatal("a public client got a client-credentials token")
	}
	if n := as.Stats().TokenRequests["client_credentials"]; n != 0 {
		t.Errorf("%d token requests were sent, want none", n)
	}
}

func TestParallelCallsWithAnExpiredTokenCauseOneRefresh(t *testing.T) {
	as, resource := upstream(t, oauthtest.Options{RotateRefresh: true})
	as.AddClient("app", "", callback)
	ep, cl := endpoints(as, resource), &oauth.Client{ID: "app", RedirectURI: callback}
	code, verifier := authorize(t, as, ep, cl)
	stored, err := oauth.Exchange(t.Context(), &http.Client{}, ep, cl, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	stored.ExpiresAt = time.Now().Add(-time.Minute)

	var group oauth.RefreshGroup
	// What the gateway does under the group: re-read the credential, refresh
	// only if it is still stale, store the rotated refresh token.
	refresh := func() (*oauth.Token, error) {
		if time.Until(stored.ExpiresAt) > time.Minute {
			return stored, nil
		}
		tok, err := oauth.Refresh(t.Context(), &http.Client{}, ep, cl, stored.RefreshToken)
		if err != nil {
			return nil, err
		}
		if tok.RefreshToken == "" {
			tok.RefreshToken = stored.RefreshToken
		}
		stored = tok
		return tok, nil
	}
	const callers = 10
	tokens := make([]string, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			tok, err := group.Do(t.Context(), "conn-1", refresh)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			tokens[i] = tok.AccessToken
		})
	}
	wg.Wait()
	for i, tok := range tokens {
		if tok != tokens[0] {
			t.Errorf("caller %d got another access token than caller 0", i)
		}
	}
	if n := as.Stats().TokenRequests["refresh_token"]; n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}
}

func TestAWaitingRefreshCallerGivesUpWithItsContext(t *testing.T) {
	var group oauth.RefreshGroup
	started, release := make(chan struct{}), make(chan struct{})
	go func() {
		_, _ = group.Do(t.Context(), "conn-1", func() (*oauth.Token, error) {
			close(started)
			<-release
			return &oauth.Token{AccessToken: "a"}, nil
		})
	}()
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := group.Do(ctx, "conn-1", func() (*oauth.Token, error) { return nil, errors.New("a second refresh ran") })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	close(release)
}
