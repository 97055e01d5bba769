package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/mcpproxy/oauth"
	"github.com/mcpexecutor/executor/mcpproxy/oauth/oauthtest"
)

// documents serves JSON documents by path (404 elsewhere); each is built
// from the server's own URL.
func documents(t *testing.T, docs map[string]func(base string) any) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc(srv.URL))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDiscoverFindsTheAuthorizationServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup returns the resource URL, the challenge to start from, and
		// the issuer and resource discovery must find.
		setup func(t *testing.T) (resource, challenge, wantIssuer, wantResource string)
	}{
		{"through the challenge's resource_metadata", func(t *testing.T) (string, string, string, string) {
			as, resource := upstream(t, oauthtest.Options{})
			_, _, challenge := call(t, resource, "")
			return resource, challenge, as.Issuer, resource
		}},
		{"through the well-known location with the resource's path inserted", func(t *testing.T) (string, string, string, string) {
			as, resource := upstream(t, oauthtest.Options{})
			return resource, "", as.Issuer, resource
		}},
		{"through the RFC 8414 location with the issuer's path inserted", func(t *testing.T) (string, string, string, string) {
			as, resource := upstream(t, oauthtest.Options{IssuerPath: "/tenant1"})
			return resource, "", as.Issuer, resource
		}},
		{"through OpenID Connect discovery appended to the issuer's path", func(t *testing.T) (string, string, string, string) {
			as, resource := upstream(t, oauthtest.Options{IssuerPath: "/tenant1", OIDCOnly: true})
			return resource, "", as.Issuer, resource
		}},
		{"through OpenID Connect discovery at the root", func(t *testing.T) (string, string, string, string) {
			as, resource := upstream(t, oauthtest.Options{OIDCOnly: true})
			return resource, "", as.Issuer, resource
		}},
		{"through a root document that names the origin as the resource", func(t *testing.T) (string, string, string, string) {
			as := oauthtest.NewServer(t, oauthtest.Options{})
			srv := documents(t, map[string]func(string) any{
				"/.well-known/oauth-protected-resource": func(base string) any {
					return map[string]any{"resource": base, "authorization_servers": []string{as.Issuer}}
				},
			})
			return srv.URL + "/mcp", "", as.Issuer, srv.URL
		}},
		{"by treating a server without resource metadata as its own authorization server", func(t *testing.T) (string, string, string, string) {
			as := oauthtest.NewServer(t, oauthtest.Options{})
			return as.URL + "/mcp", "", as.Issuer, as.URL + "/mcp"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resource, challenge, wantIssuer, wantResource := tc.setup(t)
			ep, err := oauth.Discover(t.Context(), &http.Client{}, resource, challenge, local)
			if err != nil {
				t.Fatal(err)
			}
			if ep.Issuer != wantIssuer || ep.Resource != wantResource {
				t.Errorf("issuer %s and resource %s, want %s and %s", ep.Issuer, ep.Resource, wantIssuer, wantResource)
			}
			if !strings.HasSuffix(ep.AuthorizationURL, "/authorize") || !strings.HasSuffix(ep.TokenURL, "/token") {
				t.Errorf("endpoints %s and %s", ep.AuthorizationURL, ep.TokenURL)
			}
		})
	}
}

func TestDiscoverRefuses(t *testing.T) {
	editMetadata := func(key string, value any) oauthtest.Options {
		return oauthtest.Options{EditMetadata: func(m map[string]any) {
			if value == nil {
				delete(m, key)
			} else {
				m[key] = value
			}
		}}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (resource, challenge string, opts oauth.DiscoverOptions)
		want  string
	}{
		{"resource metadata for another resource (G1)", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, oauthtest.Options{WrongResource: true})
			return resource, "", local
		}, `is for the resource "https://attacker.example/mcp"`},
		{"a challenge pointing at another server's resource metadata (G1, G14)", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, oauthtest.Options{})
			_, other := upstream(t, oauthtest.Options{})
			_, _, challenge := call(t, other, "")
			return resource, challenge, local
		}, "is for the resource"},
		{"a challenge whose resource_metadata is a javascript: URL", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, oauthtest.Options{})
			return resource, `Bearer resource_metadata="javascript:alert(1)"`, local
		}, `uses the "javascript" scheme`},
		{"authorization server metadata naming another issuer (G2)", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, oauthtest.Options{WrongIssuer: true})
			return resource, "", local
		}, `names the issuer "https://attacker.example"`},
		{"a server that supports only the plain challenge method (G3)", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, oauthtest.Options{NoS256: true})
			return resource, "", local
		}, "does not list S256"},
		{"a server that lists no challenge methods (G3)", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, editMetadata("code_challenge_methods_supported", nil))
			return resource, "", local
		}, "does not list S256"},
		{"a javascript: authorization endpoint (G4)", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, editMetadata("authorization_endpoint", "javascript:alert(document.cookie)"))
			return resource, "", local
		}, `uses the "javascript" scheme`},
		{"a data: authorization endpoint (G4)", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, editMetadata("authorization_endpoint", "data:text/html,<script>alert(1)</script>"))
			return resource, "", local
		}, `uses the "data" scheme`},
		{"a plain-http authorization endpoint off loopback (G4)", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, editMetadata("authorization_endpoint", "http://as.example/authorize"))
			return resource, "", local
		}, "uses plain http"},
		{"a plain-http token endpoint off loopback", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, editMetadata("token_endpoint", "http://as.example/token"))
			return resource, "", local
		}, "uses plain http"},
		{"a file: registration endpoint", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, editMetadata("registration_endpoint", "file:///etc/passwd"))
			return resource, "", local
		}, `uses the "file" scheme`},
		{"plain http on loopback unless allowed", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			_, resource := upstream(t, oauthtest.Options{})
			return resource, "", oauth.DiscoverOptions{}
		}, "uses plain http"},
		{"a resource URL that is not http or https", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			return "ftp://files.example/mcp", "", local
		}, `uses the "ftp" scheme`},
		{"resource metadata that names no authorization server", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			srv := documents(t, map[string]func(string) any{
				"/.well-known/oauth-protected-resource/mcp": func(base string) any { return map[string]any{"resource": base + "/mcp"} },
			})
			return srv.URL + "/mcp", "", local
		}, "names no authorization server"},
		{"a server that publishes no metadata at all", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			srv := documents(t, nil)
			return srv.URL + "/mcp", "", local
		}, "publishes no metadata"},
		{"a challenge whose resource_metadata URL serves nothing", func(t *testing.T) (string, string, oauth.DiscoverOptions) {
			srv := documents(t, nil)
			return srv.URL + "/mcp", `Bearer resource_metadata="` + srv.URL + `/prm"`, local
		}, "no protected-resource metadata at the challenge's resource_metadata URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resource, challenge, opts := tc.setup(t)
			ep, err := oauth.Discover(t.Context(), &http.Client{}, resource, challenge, opts)
			if err == nil {
				t.Fatalf("discovered %+v, want an error containing %q", ep, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDiscoverNeedsAnHTTPClient(t *testing.T) {
	if _, err := oauth.Discover(t.Context(), nil, "https://mcp.example/mcp", "", oauth.DiscoverOptions{}); err == nil {
		t.Error("Discover ran without a client; it must never fall back to http.DefaultClient, which skips the egress guard")
	}
}

// security.md F12: every discovery fetch goes through the egress guard. A
// resource's metadata that names an authorization server on the cloud
// metadata address is refused even where loopback is allowed, and in
// production the loopback resource itself is.
func TestDiscoveryFetchesAreGuarded(t *testing.T) {
	rs := documents(t, map[string]func(string) any{
		"/.well-known/oauth-protected-resource/mcp": func(base string) any {
			return map[string]any{"resource": base + "/mcp", "authorization_servers": []string{"https://169.254.169.254/latest"}}
		},
	})
	opts := oauth.DiscoverOptions{AllowHTTPLoopback: true}
	local := egress.NewClient(egress.Options{AllowLocalNetwork: true})
	_, err := oauth.Discover(t.Context(), local, rs.URL+"/mcp", "", opts)
	if err == nil || !strings.Contains(err.Error(), "refusing to connect to 169.254.169.254") {
		t.Fatalf("an authorization server on the metadata address: %v", err)
	}
	production := egress.NewClient(egress.Options{})
	if _, err := oauth.Discover(t.Context(), production, rs.URL+"/mcp", "", opts); err == nil || !strings.Contains(err.Error(), "refusing to connect to 127.0.0.1") {
		t.Fatalf("a loopback resource in production: %v", err)
	}
}
