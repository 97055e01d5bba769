package oauth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/oauth"
	"github.com/mcpexecutor/executor/mcpproxy/oauth/oauthtest"
)

func TestExchangeChecksTheTokenResponse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(m map[string]any)
		want  string // a piece of the error, or "" for success
		check func(t *testing.T, tok *oauth.Token)
	}{
		{"refuses a token type other than Bearer (G9)", func(m map[string]any) { m["token_type"] = "mac" }, `the token_type is "mac"`, nil},
		{"accepts bearer in any case", func(m map[string]any) { m["token_type"] = "bEaReR" }, "", nil},
		{"accepts a missing token type", func(m map[string]any) { delete(m, "token_type") }, "", nil},
		{"refuses a 1 MB access token (G9)", func(m map[string]any) { m["access_token"] = strings.Repeat("a", 1<<20) }, "larger than 1 MiB", nil},
		{"refuses a 20 KiB access token (G9)", func(m map[string]any) { m["access_token"] = strings.Repeat("a", 20<<10) }, "more than the 16 KiB", nil},
		{"refuses a 20 KiB refresh token", func(m map[string]any) { m["refresh_token"] = strings.Repeat("r", 20<<10) }, "more than the 16 KiB", nil},
		{"refuses a response without an access token", func(m map[string]any) { delete(m, "access_token") }, "access_token", nil},
		{"assumes an hour when expires_in is missing (G9)", func(m map[string]any) { delete(m, "expires_in") }, "", func(t *testing.T, tok *oauth.Token) {
			if d := time.Until(tok.ExpiresAt); d < 59*time.Minute || d > time.Hour {
				t.Errorf("expires in %v, want about an hour", d)
			}
		}},
		{"keeps a short expires_in", func(m map[string]any) { m["expires_in"] = 60 }, "", func(t *testing.T, tok *oauth.Token) {
			if d := time.Until(tok.ExpiresAt); d < 50*time.Second || d > time.Minute {
				t.Errorf("expires in %v, want about a minute", d)
			}
		}},
		{"reports the granted scope", func(m map[string]any) { m["scope"] = "read" }, "", func(t *testing.T, tok *oauth.Token) {
			if tok.Scope != "read" || tok.TokenType != "Bearer" {
				t.Errorf("scope %q and type %q, want read and Bearer", tok.Scope, tok.TokenType)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as, resource := upstream(t, oauthtest.Options{EditTokenResponse: tc.edit})
			as.AddClient("app", "", callback)
			ep, cl := endpoints(as, resource), &oauth.Client{ID: "app", RedirectURI: callback}
			code, verifier := authorize(t, as, ep, cl)
			tok, err := oauth.Exchange(t.Context(), &http.Client{}, ep, cl, code, verifier)
			switch {
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.want)
				}
			case err != nil:
				t.Fatal(err)
			case tc.check != nil:
				tc.check(t, tok)
			}
		})
	}
}

// tokenEndpoint starts a token endpoint that answers every request with
// handle.
func tokenEndpoint(t *testing.T, handle http.HandlerFunc) *oauth.Endpoints {
	t.Helper()
	srv := httptest.NewServer(handle)
	t.Cleanup(srv.Close)
	return &oauth.Endpoints{TokenURL: srv.URL + "/token", Resource: "https://mcp.example/mcp"}
}

func TestTokenRequestsDoNotFollowRedirects(t *testing.T) {
	as := oauthtest.NewServer(t, oauthtest.Options{ClientCredentials: true})
	as.AddClient("svc", "secret")
	ep := tokenEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, as.TokenURL, http.StatusTemporaryRedirect)
	})
	_, err := oauth.ClientCredentials(t.Context(), &http.Client{}, ep, &oauth.Client{ID: "svc", Secret: "secret"}, nil)
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("err = %v, want a refused redirect", err)
	}
	if n := as.Stats().TokenRequests["client_credentials"]; n != 0 {
		t.Errorf("the redirect was followed: %d requests reached its target", n)
	}
}

func TestRefreshSaysWhetherToReconnectOrRetry(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		want        error
	}{
		{"invalid_grant means reconnect", http.StatusBadRequest, "application/json", `{"error":"invalid_grant","error_description":"refresh token expired"}`, oauth.ErrReauthRequired},
		{"invalid_grant sent as text/plain JSON means reconnect", http.StatusBadRequest, "text/plain", `{"error":"invalid_grant"}`, oauth.ErrReauthRequired},
		{"invalid_grant sent as a form means reconnect", http.StatusBadRequest, "application/x-www-form-urlencoded", `error=invalid_grant`, oauth.ErrReauthRequired},
		{"invalid_client means retry or fix the client", http.StatusUnauthorized, "application/json", `{"error":"invalid_client"}`, oauth.ErrRefreshFailed},
		{"a server error means retry", http.StatusBadGateway, "text/html", `<html>bad gateway</html>`, oauth.ErrRefreshFailed},
		{"a malformed answer means retry", http.StatusOK, "application/json", `not json`, oauth.ErrRefreshFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := tokenEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			_, err := oauth.Refresh(t.Context(), &http.Client{}, ep, &oauth.Client{ID: "app"}, "rt-1")
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.want)
			}
			other := oauth.ErrRefreshFailed
			if tc.want == oauth.ErrRefreshFailed {
				other = oauth.ErrReauthRequired
			}
			if errors.Is(err, other) {
				t.Errorf("err = %v wraps both sentinels", err)
			}
		})
	}
}

func TestRefreshWithoutRotationKeepsTheOldRefreshToken(t *testing.T) {
	as, resource := upstream(t, oauthtest.Options{})
	as.AddClient("app", "", callback)
	ep, cl := endpoints(as, resource), &oauth.Client{ID: "app", RedirectURI: callback}
	code, verifier := authorize(t, as, ep, cl)
	tok, err := oauth.Exchange(t.Context(), &http.Client{}, ep, cl, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		fresh, err := oauth.Refresh(t.Context(), &http.Client{}, ep, cl, tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if fresh.RefreshToken != "" {
			t.Errorf("RefreshToken = %q, want empty: keep the old one", fresh.RefreshToken)
		}
	}
	if _, err := oauth.Refresh(t.Context(), &http.Client{}, ep, cl, ""); !errors.Is(err, oauth.ErrReauthRequired) {
		t.Errorf("refreshing without a refresh token: %v, want ErrReauthRequired", err)
	}
}

func TestErrorsNeverContainSecretsOrTokens(t *testing.T) {
	const (
		secret   = "SENTINEL-client-secret-5f3a"
		code     = "SENTINEL-code-9c1e"
		verifier = "SENTINEL-verifier-0123456789012345678901234567"
		refresh  = "SENTINEL-refresh-token-77d2"
	)
	sentinels := []string{secret, code, verifier, refresh, base64.StdEncoding.EncodeToString([]byte("app:" + secret))}
	// A hostile token endpoint that echoes everything it received, in the
	// error description and in the body.
	echo := func(withCode bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			seen := fmt.Sprintf("form=%s auth=%s", r.PostForm.Encode(), r.Header.Get("Authorization"))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			if withCode {
				_, _ = fmt.Fprintf(w, `{"error":"invalid_request %s","error_description":%q}`, secret, seen)
			} else {
				_, _ = fmt.Fprintf(w, `{"message":%q}`, seen)
			}
		}
	}
	for _, withCode := range []bool{true, false} {
		for _, method := range []string{oauth.AuthClientSecretPost, oauth.AuthClientSecretBasic} {
			ep := tokenEndpoint(t, echo(withCode))
			cl := &oauth.Client{ID: "app", Secret: secret, AuthMethod: method, RedirectURI: callback}
			for name, call := range map[string]func() error{
				"Exchange": func() error {
					_, err := oauth.Exchange(t.Context(), &http.Client{}, ep, cl, code, verifier)
					return err
				},
				"Refresh": func() error {
					_, err := oauth.Refresh(t.Context(), &http.Client{}, ep, cl, refresh)
					return err
				},
				"ClientCredentials": func() error {
					_, err := oauth.ClientCredentials(t.Context(), &http.Client{}, ep, cl, nil)
					return err
				},
			} {
				err := call()
				if err == nil {
					t.Fatalf("%s with %s succeeded against an error endpoint", name, method)
				}
				for _, s := range sentinels {
					if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), url.QueryEscape(s)) {
						t.Errorf("%s with %s (error code %v): the error shows a secret: %s", name, method, withCode, err)
					}
				}
			}
		}
	}
}
