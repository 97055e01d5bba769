package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Limits on token responses (G9).
const (
	// MaxTokenBytes caps an access or refresh token; real ones are well
	// under 8 KiB, and the gateway stores and sends them on every call.
	MaxTokenBytes = 16 << 10
	// DefaultTokenLifetime is assumed when a token response has no
	// expires_in, so that the token is refreshed rather than trusted forever.
	DefaultTokenLifetime = time.Hour
)

var (
	// ErrReauthRequired means the refresh token was refused (invalid_grant:
	// expired, revoked or already rotated): the user must connect again.
	ErrReauthRequired = errors.New("the authorization server no longer accepts the refresh token; reconnect to sign in again")
	// ErrRefreshFailed is any other refresh failure; retrying later may help.
	ErrRefreshFailed = errors.New("refreshing the access token failed")
)

// Token is the result of a token request. AccessToken and RefreshToken are
// credentials: store them encrypted.
type Token struct {
	AccessToken string
	// RefreshToken is empty when the server issued none; after Refresh,
	// empty means keep the old one.
	RefreshToken string
	// TokenType is "Bearer" (the only type accepted).
	TokenType string
	// Scope is the granted scope when the server said; "" otherwise.
	Scope string
	// ExpiresAt is now plus expires_in, or plus DefaultTokenLifetime when
	// the server gave none.
	ExpiresAt time.Time
}

// Exchange trades an authorization code for tokens at ep.TokenURL, sending
// the code_verifier, the redirect_uri and the same resource as the
// authorization request (G12). The response is checked (G9): token_type
// Bearer (any case) or absent, an access_token of at most MaxTokenBytes,
// DefaultTokenLifetime when expires_in is missing, a body of at most 1 MiB.
// The request follows no redirects. Errors never contain the code, the
// verifier, the secret or a token.
func Exchange(ctx context.Context, client *http.Client, ep *Endpoints, cl *Client, code, verifier string) (*Token, error) {
	const what = "exchanging the authorization code"
	if code == "" || verifier == "" {
		return nil, fmt.Errorf("%s: no code or no PKCE verifier given; start the connection again", what)
	}
	cfg, ctx, err := tokenConfig(ctx, client, ep, cl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	if ep.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", ep.Resource))
	}
	t, err := cfg.Exchange(ctx, code, opts...)
	tok, err := checkToken(t, err)
	if err != nil {
		return nil, tokenError(what, ep, nil, err, append(clientSecrets(cl), code, verifier)...)
	}
	return tok, nil
}

// ClientCredentials gets a token with the client_credentials grant, sending
// the scopes and ep.Resource. The client must have a secret. The response is
// checked as in Exchange.
func ClientCredentials(ctx context.Context, client *http.Client, ep *Endpoints, cl *Client, scopes []string) (*Token, error) {
	const what = "requesting a client-credentials token"
	if cl.method() == AuthNone {
		return nil, fmt.Errorf("%s: the client has no secret; the client_credentials grant needs a confidential client", what)
	}
	cfg, ctx, err := tokenConfig(ctx, client, ep, cl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cc := clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.Endpoint.TokenURL,
		AuthStyle:    cfg.Endpoint.AuthStyle,
		Scopes:       scopes,
	}
	if ep.Resource != "" {
		cc.EndpointParams = url.Values{"resource": {ep.Resource}}
	}
	tok, err := checkToken(cc.Token(ctx))
	if err != nil {
		return nil, tokenError(what, ep, nil, err, clientSecrets(cl)...)
	}
	return tok, nil
}

// Refresh gets a new access token with a refresh token, sending ep.Resource
// again (G12). A rotated refresh token is returned in Token.RefreshToken;
// empty means keep the old one. The caller must store a rotated refresh
// token before using the new access token: the old one is then dead.
//
// invalid_grant yields an error wrapping ErrReauthRequired; any other
// failure wraps ErrRefreshFailed. Messages never contain a token or secret.
func Refresh(ctx context.Context, client *http.Client, ep *Endpoints, cl *Client, refreshToken string) (*Token, error) {
	const what = "refreshing the access token"
	if refreshToken == "" {
		return nil, tokenError(what, ep, ErrReauthRequired, errors.New("there is no refresh token"))
	}
	cfg, ctx, err := tokenConfig(ctx, client, ep, cl)
	if err != nil {
		return nil, tokenError(what, ep, ErrRefreshFailed, err, append(clientSecrets(cl), refreshToken)...)
	}
	// oauth2.Config's refresh cannot send resource. clientcredentials lets a
	// caller override grant_type "for non-compliant implementations", which
	// turns its request into exactly the refresh_token grant with our
	// parameters, so that refresh shares the client authentication, the
	// 1 MiB cap and the response parsing of the other grants instead of
	// duplicating them in a hand-written form POST.
	params := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if ep.Resource != "" {
		params.Set("resource", ep.Resource)
	}
	cc := clientcredentials.Config{
		ClientID:       cfg.ClientID,
		ClientSecret:   cfg.ClientSecret,
		TokenURL:       cfg.Endpoint.TokenURL,
		AuthStyle:      cfg.Endpoint.AuthStyle,
		EndpointParams: params,
	}
	tok, err := checkToken(cc.Token(ctx))
	if err != nil {
		return nil, tokenError(what, ep, ErrRefreshFailed, err, append(clientSecrets(cl), refreshToken)...)
	}
	// x/oauth2 fills in the old refresh token when the server sent none.
	if tok.RefreshToken == refreshToken {
		tok.RefreshToken = ""
	}
	return tok, nil
}

// tokenConfig checks the token endpoint and the client and returns the
// x/oauth2 configuration for them, with a context that makes x/oauth2 use
// client without following redirects.
func tokenConfig(ctx context.Context, client *http.Client, ep *Endpoints, cl *Client) (*oauth2.Config, context.Context, error) {
	if client == nil {
		return nil, nil, errNoClient
	}
	if _, err := checkEndpoint("token endpoint", ep.TokenURL, true); err != nil {
		return nil, nil, err
	}
	if cl.ID == "" {
		return nil, nil, errors.New("the client has no ID; register it first")
	}
	cfg := &oauth2.Config{
		ClientID:    cl.ID,
		RedirectURL: cl.RedirectURI,
		Endpoint:    oauth2.Endpoint{TokenURL: ep.TokenURL},
	}
	// An explicit style: x/oauth2's auto-detection would retry a refused
	// request with the secret placed the other way.
	switch m := cl.method(); m {
	case AuthNone:
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams // client_id only
	case AuthClientSecretPost, AuthClientSecretBasic:
		if cl.Secret == "" {
			return nil, nil, fmt.Errorf("the client uses %s but has no secret; enter the client secret", m)
		}
		cfg.ClientSecret = cl.Secret
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if m == AuthClientSecretBasic {
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		}
	default:
		return nil, nil, fmt.Errorf("the client's token endpoint authentication %s is not supported; use none, client_secret_post or client_secret_basic", quote(m))
	}
	return cfg, context.WithValue(ctx, oauth2.HTTPClient, egress.NoRedirects(client)), nil
}

// checkToken applies G9 to what x/oauth2 returned.
func checkToken(t *oauth2.Token, err error) (*Token, error) {
	if err != nil {
		return nil, err
	}
	switch {
	case t.AccessToken == "":
		return nil, errors.New("the token response has no access_token")
	case len(t.AccessToken) > MaxTokenBytes:
		return nil, fmt.Errorf("the access token is %d bytes, more than the %d KiB the gateway accepts", len(t.AccessToken), MaxTokenBytes>>10)
	case len(t.RefreshToken) > MaxTokenBytes:
		return nil, fmt.Errorf("the refresh token is %d bytes, more than the %d KiB the gateway accepts", len(t.RefreshToken), MaxTokenBytes>>10)
	case t.TokenType != "" && !strings.EqualFold(t.TokenType, "Bearer"):
		return nil, fmt.Errorf("the token_type is %s; the gateway only sends Bearer tokens", quote(t.TokenType))
	}
	tok := &Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: "Bearer", ExpiresAt: t.Expiry}
	if tok.ExpiresAt.IsZero() {
		tok.ExpiresAt = time.Now().Add(DefaultTokenLifetime)
	}
	if scope, ok := t.Extra("scope").(string); ok {
		tok.Scope = scope
	}
	return tok, nil
}

// tokenError describes a failed token request without any of secrets, and
// wraps kind (a sentinel, or nil) and transport failures (for
// context.DeadlineExceeded and the egress refusals). For a refresh (kind
// ErrRefreshFailed), invalid_grant turns kind into ErrReauthRequired.
func tokenError(what string, ep *Endpoints, kind error, err error, secrets ...string) error {
	var msg string
	var cause error
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		code, description := re.ErrorCode, re.ErrorDescription
		if code == "" {
			// x/oauth2 parses a text/plain body as a form; some servers send
			// their JSON error that way.
			var e struct {
				Code        string `json:"error"`
				Description string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &e) == nil {
				code, description = e.Code, e.Description
			}
		}
		if code == "invalid_grant" && kind == ErrRefreshFailed {
			kind = ErrReauthRequired
		}
		switch {
		case code != "":
			msg = fmt.Sprintf("the token endpoint %s refused: %s", quote(ep.TokenURL), describeOAuthError(code, description))
		case status >= 300 && status < 400:
			msg = fmt.Sprintf("the token endpoint %s answered with a redirect (HTTP %d), which token requests never follow; check the token URL", quote(ep.TokenURL), status)
		default:
			msg = fmt.Sprintf("the token endpoint %s answered HTTP %d without an OAuth error", quote(ep.TokenURL), status)
		}
	case isTransport(err):
		msg, cause = "reaching the token endpoint failed: "+egress.Describe(err), err
	case strings.HasPrefix(err.Error(), "oauth2: cannot"):
		msg = fmt.Sprintf("the token endpoint %s sent an answer that is not a token response, or one larger than 1 MiB", quote(ep.TokenURL))
	default:
		msg = err.Error() // our own checks
	}
	switch kind {
	case ErrReauthRequired:
		msg += "; reconnect to sign in again"
	case ErrRefreshFailed:
		msg += "; try again later, and reconnect if it keeps failing"
	}
	e := &flowError{msg: redact(what+": "+msg, secrets...)}
	for _, w := range []error{kind, cause} {
		if w != nil {
			e.wrapped = append(e.wrapped, w)
		}
	}
	return e
}

// clientSecrets lists the forms in which the client's secret travels, for
// redact: as is, and as the HTTP Basic credential x/oauth2 builds.
func clientSecrets(cl *Client) []string {
	if cl.Secret == "" {
		return nil
	}
	basic := url.QueryEscape(cl.ID) + ":" + url.QueryEscape(cl.Secret)
	return []string{cl.Secret, base64.StdEncoding.EncodeToString([]byte(basic))}
}

func isTransport(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// flowError carries a redacted message and the errors callers may test for
// with errors.Is and errors.As.
type flowError struct {
	msg     string
	wrapped []error
}

func (e *flowError) Error() string   { return e.msg }
func (e *flowError) Unwrap() []error { return e.wrapped }
