package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
)

// Token endpoint client authentication methods (RFC 7591 §2).
const (
	AuthNone              = "none"
	AuthClientSecretPost  = "client_secret_post"
	AuthClientSecretBasic = "client_secret_basic"
)

// Client is a registered OAuth client: pre-registered by an admin, or
// returned by Register. Secret is a credential: store it encrypted.
type Client struct {
	ID     string
	Secret string
	// AuthMethod is how the client authenticates at the token endpoint:
	// AuthNone (a public client: client_id in the body, no secret),
	// AuthClientSecretPost (id and secret in the body) or
	// AuthClientSecretBasic (HTTP Basic). Empty means AuthClientSecretPost
	// when there is a secret, else AuthNone.
	AuthMethod  string
	RedirectURI string
}

// method resolves the empty AuthMethod.
func (c *Client) method() string {
	switch {
	case c.AuthMethod != "":
		return c.AuthMethod
	case c.Secret != "":
		return AuthClientSecretPost
	default:
		return AuthNone
	}
}

// registrationResponse is the part of an RFC 7591 answer the gateway checks.
type registrationResponse struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Error                   string   `json:"error"`
	ErrorDescription        string   `json:"error_description"`
}

// Register performs RFC 7591 dynamic client registration at
// ep.RegistrationURL with redirect_uris [redirectURI], grant_types
// authorization_code and refresh_token, response_types code, client_name,
// the scopes joined with spaces, application_type web (native for a
// loopback redirect URI in local development), and
// token_endpoint_auth_method "none" unless the server lists methods that
// exclude it (then client_secret_post, or client_secret_basic when that is
// the only secret method listed).
//
// The answer is checked, not trusted (G10): client_id must be present,
// returned redirect_uris must still contain redirectURI, and the returned
// auth method must be one the gateway can use, with a secret when it needs
// one. The server may pick another method than the one asked for; the
// returned Client uses the server's choice. The request follows no redirects.
func Register(ctx context.Context, client *http.Client, ep *Endpoints, redirectURI, clientName string, scopes []string) (*Client, error) {
	if client == nil {
		return nil, errNoClient
	}
	if ep.RegistrationURL == "" {
		return nil, errors.New("the authorization server offers no dynamic client registration; register a client there and enter its client ID (and secret) by hand")
	}
	if _, err := checkEndpoint("registration endpoint", ep.RegistrationURL, true); err != nil {
		return nil, fmt.Errorf("registering a client: %w", err)
	}
	if redirectURI == "" {
		return nil, errors.New("registering a client: no redirect URI given")
	}
	method := registrationAuthMethod(ep.TokenEndpointAuthMethods)
	meta := map[string]any{
		"redirect_uris":              []string{redirectURI},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": method,
		"application_type":           applicationType(redirectURI),
	}
	if clientName != "" {
		meta["client_name"] = clientName
	}
	if len(scopes) > 0 {
		meta["scope"] = strings.Join(scopes, " ")
	}
	body, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("registering a client: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.RegistrationURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("registering a client: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := egress.NoRedirects(client).Do(req)
	if err != nil {
		return nil, fmt.Errorf("registering a client at %s: %s", quote(ep.RegistrationURL), egress.Describe(err))
	}
	defer resp.Body.Close()
	raw, err := readCapped(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("registering a client at %s: %s", quote(ep.RegistrationURL), egress.Describe(err))
	}
	var rr registrationResponse
	jsonErr := json.Unmarshal(raw, &rr)
	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf("registering a client at %s: ", quote(ep.RegistrationURL)) + fmt.Sprintf(format, args...)
		return errors.New(redact(msg, rr.ClientSecret))
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		if rr.Error != "" {
			return nil, fail("the server answered HTTP %d: %s; register a client by hand instead", resp.StatusCode, describeOAuthError(rr.Error, rr.ErrorDescription))
		}
		return nil, fail("the server answered HTTP %d; register a client by hand instead", resp.StatusCode)
	}
	if jsonErr != nil {
		return nil, fail("the answer is not a JSON document (%s)", mediaType(resp))
	}
	if rr.ClientID == "" {
		return nil, fail("the answer has no client_id")
	}
	if rr.RedirectURIs != nil && !slices.Contains(rr.RedirectURIs, redirectURI) {
		return nil, fail("the server changed redirect_uris to %s, dropping %s; refusing the registration", quote(strings.Join(rr.RedirectURIs, " ")), quote(redirectURI))
	}
	cl := &Client{ID: rr.ClientID, Secret: rr.ClientSecret, AuthMethod: method, RedirectURI: redirectURI}
	if rr.TokenEndpointAuthMethod != "" {
		cl.AuthMethod = rr.TokenEndpointAuthMethod
	}
	switch cl.AuthMethod {
	case AuthNone:
		cl.Secret = "" // a public client sends none, so keep none
	case AuthClientSecretPost, AuthClientSecretBasic:
		if cl.Secret == "" {
			return nil, fail("the server registered the client for %s but returned no client_secret; refusing the registration", cl.AuthMethod)
		}
	default:
		return nil, fail("the server registered the client for token endpoint authentication %s, which the gateway does not support; register a client by hand instead", quote(cl.AuthMethod))
	}
	return cl, nil
}

// registrationAuthMethod asks for a public client unless the server lists
// methods without "none".
func registrationAuthMethod(supported []string) string {
	switch {
	case len(supported) == 0, slices.Contains(supported, AuthNone):
		return AuthNone
	case !slices.Contains(supported, AuthClientSecretPost) && slices.Contains(supported, AuthClientSecretBasic):
		return AuthClientSecretBasic
	default:
		return AuthClientSecretPost
	}
}

// applicationType is "web" for the gateway's https callback. OpenID Connect
// registration refuses loopback redirect URIs for web clients, so a local
// gateway (http://localhost/…) registers as "native", the type that allows
// them.
func applicationType(redirectURI string) string {
	if u, err := url.Parse(redirectURI); err == nil && u.Scheme == "http" && isLoopback(u.Hostname()) {
		return "native"
	}
	return "web"
}

// describeOAuthError renders an RFC 6749 §5.2 error for a message.
func describeOAuthError(code, description string) string {
	s := clip(code, 60)
	if description != "" {
		s += " (" + clip(description, 200) + ")"
	}
	return s
}
