package oauth_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mcpexecutor/executor/mcpproxy/oauth"
	"github.com/mcpexecutor/executor/mcpproxy/oauth/oauthtest"
)

func TestRegisterAsksForTheAuthMethodTheServerAllows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		supported []string
		want      string
	}{
		{"a public client when the server lists nothing", nil, oauth.AuthNone},
		{"a public client when the server lists none", []string{"client_secret_basic", "none"}, oauth.AuthNone},
		{"client_secret_post when the server lists only secret methods", []string{"client_secret_basic", "client_secret_post"}, oauth.AuthClientSecretPost},
		{"client_secret_basic when it is the only secret method listed", []string{"client_secret_basic", "private_key_jwt"}, oauth.AuthClientSecretBasic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := oauthtest.NewServer(t, oauthtest.Options{DCR: true})
			ep := endpoints(as, "")
			ep.TokenEndpointAuthMethods = tc.supported
			cl, err := oauth.Register(t.Context(), &http.Client{}, ep, callback, "Executor", []string{"read", "write"})
			if err != nil {
				t.Fatal(err)
			}
			if cl.AuthMethod != tc.want || (cl.Secret != "") != (tc.want != oauth.AuthNone) || cl.RedirectURI != callback {
				t.Errorf("client = %+v, want method %s", cl, tc.want)
			}
			sent := as.Stats().LastRegistration
			for key, want := range map[string]any{
				"token_endpoint_auth_method": tc.want,
				"client_name":                "Executor",
				"scope":                      "read write",
				"application_type":           "web",
			} {
				if sent[key] != want {
					t.Errorf("%s = %v, want %v", key, sent[key], want)
				}
			}
			for key, want := range map[string][]string{
				"redirect_uris":  {callback},
				"grant_types":    {"authorization_code", "refresh_token"},
				"response_types": {"code"},
			} {
				if got := stringList(sent[key]); !slices.Equal(got, want) {
					t.Errorf("%s = %v, want %v", key, sent[key], want)
				}
			}

			// The registered client works.
			code, verifier := authorize(t, as, ep, cl)
			if _, err := oauth.Exchange(t.Context(), &http.Client{}, ep, cl, code, verifier); err != nil {
				t.Errorf("exchanging a code as the registered client: %v", err)
			}
		})
	}
}

// stringList reads a JSON array of strings.
func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func TestRegisterRefusesAnAnswerItCannotTrust(t *testing.T) {
	editAnswer := func(edit func(m map[string]any)) oauthtest.Options {
		return oauthtest.Options{DCR: true, EditRegistrationResponse: edit}
	}
	for _, tc := range []struct {
		name string
		opts oauthtest.Options
		want string
	}{
		{"a registration whose redirect URIs were changed (G10)", oauthtest.Options{DCR: true, ChangeRedirectOnRegister: true}, "changed redirect_uris"},
		{"an auth method the gateway cannot use (G10)", editAnswer(func(m map[string]any) { m["token_endpoint_auth_method"] = "private_key_jwt" }), `"private_key_jwt"`},
		{"a secret method without a secret (G10)", editAnswer(func(m map[string]any) { m["token_endpoint_auth_method"] = "client_secret_post" }), "returned no client_secret"},
		{"an answer without a client_id", editAnswer(func(m map[string]any) { delete(m, "client_id") }), "no client_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := oauthtest.NewServer(t, tc.opts)
			cl, err := oauth.Register(t.Context(), &http.Client{}, endpoints(as, ""), callback, "Executor", nil)
			if err == nil {
				t.Fatalf("registered %+v, want an error containing %q", cl, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRegisterNeedsARegistrationEndpoint(t *testing.T) {
	as := oauthtest.NewServer(t, oauthtest.Options{})
	_, err := oauth.Register(t.Context(), &http.Client{}, endpoints(as, ""), callback, "Executor", nil)
	if err == nil || !strings.Contains(err.Error(), "by hand") {
		t.Errorf("err = %v, want advice to register a client by hand", err)
	}
}

func TestRegisterReportsARefusal(t *testing.T) {
	srv := documents(t, nil) // 404 for the registration request
	ep := &oauth.Endpoints{RegistrationURL: srv.URL + "/register"}
	_, err := oauth.Register(t.Context(), &http.Client{}, ep, callback, "Executor", nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("err = %v, want it to name HTTP 404", err)
	}
}

func TestRegisterAsksForANativeClientForALoopbackCallback(t *testing.T) {
	for callbackURL, want := range map[string]string{
		"http://localhost:4788/api/oauth/callback": "native",
		"http://127.0.0.1:4788/api/oauth/callback": "native",
		callback: "web",
	} {
		as := oauthtest.NewServer(t, oauthtest.Options{DCR: true})
		if _, err := oauth.Register(t.Context(), &http.Client{}, endpoints(as, ""), callbackURL, "Executor", nil); err != nil {
			t.Fatal(err)
		}
		if got := as.Stats().LastRegistration["application_type"]; got != want {
			t.Errorf("application_type for %s = %v, want %s", callbackURL, got, want)
		}
	}
}
