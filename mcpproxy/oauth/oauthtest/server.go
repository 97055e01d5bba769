// Package oauthtest runs a real OAuth 2.1 authorization server on loopback
// for tests: RFC 8414 and RFC 9728 metadata, dynamic client registration
// (RFC 7591), the authorization-code grant with server-side PKCE S256
// verification, refresh with optional rotation, client credentials, and
// resource indicators (RFC 8707) checked on every grant. Tokens are opaque
// random strings. Options switch on misbehaviours for negative tests.
//
// A typical test puts an upstream behind ProtectResource:
//
//	up := httptest.NewUnstartedServer(nil) // its address is known before it starts
//	as := oauthtest.NewServer(t, oauthtest.Options{Resource: "http://" + up.Listener.Addr().String() + "/mcp", DCR: true})
//	up.Config.Handler = as.ProtectResource(mcpHandler)
//	up.Start()
//	defer up.Close()
//
// then discovers, registers and authorizes against it, with Authorize
// playing the user who clicks Allow.
package oauthtest

import (
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server. The zero value is a well-behaved server that
// requires PKCE S256, issues one-hour access tokens and refresh tokens that
// do not rotate, and has no registration endpoint.
type Options struct {
	// IssuerPath puts the issuer under a path of the server URL (such as
	// "/tenant1"), to exercise RFC 8414 path insertion. By default the
	// issuer is the server URL itself.
	IssuerPath string
	// Resource is the protected resource this server issues tokens for,
	// such as an upstream MCP endpoint URL. When set, every authorization,
	// token and refresh request must carry resource equal to it (else
	// invalid_target), and the server serves its RFC 9728 metadata at
	// /.well-known/oauth-protected-resource/<path of Resource>.
	Resource string
	// Scopes is scopes_supported in both metadata documents and the scope
	// of ProtectResource's challenge.
	Scopes []string
	// PKCEOptional accepts authorization requests without a code challenge.
	// PKCE is required by default, and only S256 is ever accepted.
	PKCEOptional bool
	// RotateRefresh issues a new refresh token on every refresh; the old
	// one is then refused with invalid_grant.
	RotateRefresh bool
	// AccessTTL is the access token lifetime; default one hour.
	AccessTTL time.Duration
	// DCR serves a registration endpoint (RFC 7591).
	DCR bool
	// ClientCredentials allows the client_credentials grant to
	// confidential clients.
	ClientCredentials bool
	// IssParameter advertises authorization_response_iss_parameter_supported
	// and adds iss to the redirect back (RFC 9207).
	IssParameter bool
	// OIDCOnly serves the metadata only at OpenID Connect discovery's
	// appended location (<issuer>/.well-known/openid-configuration).
	OIDCOnly bool
	// DenyConsent makes the user decline: the redirect back carries
	// error=access_denied.
	DenyConsent bool

	// Misbehaviours, for negative tests.

	// WrongIssuer makes the metadata name another issuer (mix-up, G2).
	WrongIssuer bool
	// WrongResource makes the protected-resource metadata name another
	// resource (G1).
	WrongResource bool
	// NoS256 advertises only the plain code challenge method (G3).
	NoS256 bool
	// ChangeRedirectOnRegister registers and returns another redirect URI
	// than the one asked for (G10).
	ChangeRedirectOnRegister bool
	// EditMetadata, EditTokenResponse and EditRegistrationResponse may
	// change each JSON document just before it is sent, for any other
	// misbehaviour (a javascript: authorization endpoint, a MAC token type,
	// a huge token, a missing expires_in, …). They run with the server's
	// lock held: they must not call the Server's methods.
	// ClientMetadataDocuments advertises client_id_metadata_document_supported
	// and takes an http(s) URL as a client_id: it reads the client's
	// metadata document from it at the first authorization request.
	ClientMetadataDocuments bool

	EditMetadata             func(m map[string]any)
	EditTokenResponse        func(m map[string]any)
	EditRegistrationResponse func(m map[string]any)
}

// Server is a running authorization server. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL string
	// Issuer is the issuer identifier: URL plus Options.IssuerPath.
	Issuer string
	// MetadataURL is where the authorization server metadata is served.
	MetadataURL string
	// AuthorizationURL, TokenURL and RegistrationURL are the endpoints, for
	// tests that configure them by hand instead of discovering them.
	// RegistrationURL is empty without Options.DCR.
	AuthorizationURL, TokenURL, RegistrationURL string

	opts Options
	srv  *httptest.Server

	mu      sync.Mutex
	clients map[string]*client
	codes   map[string]*codeGrant
	access  map[string]*accessToken
	refresh map[string]*refreshGrant
	stats   Stats
}

// Stats counts what the server has seen. Stats returns a copy.
type Stats struct {
	// Authorizations counts codes issued.
	Authorizations int
	// Registrations counts clients registered through DCR.
	Registrations int
	// MetadataFetches counts client ID metadata documents read.
	MetadataFetches int
	// TokenRequests counts token requests by grant_type, refused ones
	// included.
	TokenRequests map[string]int
	// Refreshes counts successful refresh_token grants.
	Refreshes int
	// ResourceRequests and ResourceRejected count requests ProtectResource
	// let through and answered 401.
	ResourceRequests, ResourceRejected int
	// LastAuthorization is the query of the last authorization request.
	LastAuthorization url.Values
	// LastTokenRequest is the form of the last token request of each
	// grant_type (client_secret included).
	LastTokenRequest map[string]url.Values
	// LastRegistration is the last registration request's JSON body.
	LastRegistration map[string]any
}

type client struct {
	id, secret   string
	authMethod   string // "" accepts post or basic
	redirectURIs []string
}

type codeGrant struct {
	clientID, redirectURI, challenge, resource, scope string
	expires                                           time.Time
}

type accessToken struct {
	clientID, resource, scope string
	expires                   time.Time
}

type refreshGrant struct {
	clientID, resource, scope string
}

// NewServer starts a server on 127.0.0.1 and closes it when t's test ends.
// t may be nil outside tests (in an Example); call Close then.
func NewServer(t testing.TB, opts Options) *Server {
	if opts.AccessTTL <= 0 {
		opts.AccessTTL = time.Hour
	}
	s := &Server{
		opts:    opts,
		clients: map[string]*client{},
		codes:   map[string]*codeGrant{},
		access:  map[string]*accessToken{},
		refresh: map[string]*refreshGrant{},
		stats:   Stats{TokenRequests: map[string]int{}, LastTokenRequest: map[string]url.Values{}},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	s.Issuer = s.URL + strings.TrimSuffix(opts.IssuerPath, "/")
	if opts.OIDCOnly {
		s.MetadataURL = s.Issuer + "/.well-known/openid-configuration"
	} else {
		s.MetadataURL = s.URL + "/.well-known/oauth-authorization-server" + strings.TrimSuffix(opts.IssuerPath, "/")
	}
	s.AuthorizationURL = s.URL + "/authorize"
	s.TokenURL = s.URL + "/token"
	if opts.DCR {
		s.RegistrationURL = s.URL + "/register"
	}
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// AddClient pre-registers a client, as an admin would in the server's
// console. An empty secret makes a public client; a confidential one may
// authenticate with client_secret_post or client_secret_basic.
func (s *Server) AddClient(id, secret string, redirectURIs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = &client{id: id, secret: secret, redirectURIs: redirectURIs}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.TokenRequests = maps.Clone(s.stats.TokenRequests)
	st.LastTokenRequest = map[string]url.Values{}
	for k, v := range s.stats.LastTokenRequest {
		st.LastTokenRequest[k] = cloneValues(v)
	}
	st.LastAuthorization = cloneValues(s.stats.LastAuthorization)
	st.LastRegistration = maps.Clone(s.stats.LastRegistration)
	return st
}

// ExpireAll makes every access token issued so far expired, so that the
// next use fails and the client has to refresh.
func (s *Server) ExpireAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for _, a := range s.access {
		a.expires = past
	}
}

// IssueAccessToken mints a valid access token for Options.Resource without
// going through a flow, for tests that only need an authorized request.
func (s *Server) IssueAccessToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := rand.Text()
	s.access[tok] = &accessToken{resource: s.opts.Resource, expires: time.Now().Add(s.opts.AccessTTL)}
	return tok
}

// Authorize plays the signed-in user who clicks Allow: it GETs
// authorizationURL (built by the client under test) without following the
// redirect, and returns the redirect's Location: the client's redirect URI
// with code and state, or with error when the request was refused in a way
// the server may report to the client. It fails t when the server answers
// without a redirect (an unknown client or redirect URI); with a nil t it
// panics instead.
func (s *Server) Authorize(t testing.TB, authorizationURL string) (redirectTo string) {
	if t != nil {
		t.Helper()
	}
	fail := func(format string, args ...any) string {
		if t == nil {
			panic(fmt.Sprintf("oauthtest: "+format, args...))
		}
		t.Fatalf("oauthtest: "+format, args...)
		return ""
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authorizationURL)
	if err != nil {
		return fail("authorizing: %v", err)
	}
	defer resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fail("authorizing: the server answered %s without a redirect: %s", resp.Status, body)
	}
	return loc
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vv := range v {
		out[k] = append([]string(nil), vv...)
	}
	return out
}
