package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"

	"github.com/mcpexecutor/executor/caddymodule/access"
	"github.com/mcpexecutor/executor/mcpproxy"
)

// verifiers shares one JWKS cache per verifier configuration across reloads.
var verifiers = caddy.NewUsagePool()

type verifierHolder struct{ *access.Verifier }

func (v verifierHolder) Destruct() error { v.Close(); return nil }

// identityError is why a request has no principal: status 401 (no valid token
// for this route) or 403 (a valid token that is not allowed here).
type identityError struct {
	status int
	reason string
}

func (e *identityError) Error() string { return e.reason }

// identifier is what the executor handler needs from an auth provider: the
// principal behind a request, and the issuer to name in resource metadata.
type identifier interface {
	identify(r *http.Request) (mcpproxy.Principal, *identityError)
	issuer() string
	// ready reports whether tokens can be verified now (the keys are in).
	ready() bool
}

// tokenVerifier is the part the cloudflare_access and jwt providers share:
// one verifier, audiences bound to routes, service-token allow-list, and the
// mapping from claims to a principal.
type tokenVerifier struct {
	verifier     *access.Verifier
	poolKey      string
	iss          string
	audiences    []string
	mcpAudiences []string
	mcpPath      string
	allowService []string
	readToken    func(h http.Header) (string, error)
	logger       *zap.Logger
}

func (t *tokenVerifier) provision(ctx caddy.Context, cfg access.Config) error {
	t.logger = ctx.Logger()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(t.audiences) == 0 {
		return errors.New("aud: at least one audience tag is required (the AUD of the Access application that protects the console and API)")
	}
	for _, a := range append(slices.Clone(t.audiences), t.mcpAudiences...) {
		if strings.TrimSpace(a) == "" {
			return errors.New("aud and mcp_aud must not contain empty values")
		}
	}
	if t.mcpPath == "" {
		t.mcpPath = "/mcp"
	}
	key, _ := json.Marshal(struct {
		Iss, URL string
		Algs     []string
		Type     string
		Leeway   time.Duration
	}{cfg.Issuer, cfg.JWKSURL, cfg.Algorithms, cfg.RequireType, cfg.Leeway})
	t.poolKey = string(key)
	t.iss = cfg.Issuer
	v, _, err := verifiers.LoadOrNew(t.poolKey, func() (caddy.Destructor, error) {
		v, err := access.New(cfg)
		if err != nil {
			return nil, err
		}
		return verifierHolder{v}, nil
	})
	if err != nil {
		return fmt.Errorf("starting the token verifier: %w", err)
	}
	t.verifier = v.(verifierHolder).Verifier
	return nil
}

func (t *tokenVerifier) cleanup() error {
	if t.verifier == nil {
		return nil
	}
	t.verifier = nil
	_, err := verifiers.Delete(t.poolKey)
	return err
}

func (t *tokenVerifier) issuer() string { return t.iss }

func (t *tokenVerifier) ready() bool { return t.verifier != nil && t.verifier.Ready() }

// routeAudiences binds audiences to routes: when mcp_aud is set, /mcp accepts
// only those and everything else accepts only aud, so the MCP application's
// token cannot drive the console API and vice versa.
func (t *tokenVerifier) routeAudiences(r *http.Request) []string {
	if len(t.mcpAudiences) == 0 {
		return t.audiences
	}
	if isMCPPath(r.URL.Path, t.mcpPath) {
		return t.mcpAudiences
	}
	return t.audiences
}

// otherApplication reports whether raw is a valid token for the audiences
// of the routes other than r's (only when aud and mcp_aud differ).
func (t *tokenVerifier) otherApplication(r *http.Request, raw string) bool {
	if len(t.mcpAudiences) == 0 {
		return false
	}
	other := t.mcpAudiences
	if isMCPPath(r.URL.Path, t.mcpPath) {
		other = t.audiences
	}
	_, err := t.verifier.Verify(r.Context(), raw, other)
	return err == nil
}

func isMCPPath(p, mcpPath string) bool {
	clean := path.Clean("/" + p)
	return clean == mcpPath || strings.HasPrefix(clean, mcpPath+"/")
}

func (t *tokenVerifier) identify(r *http.Request) (mcpproxy.Principal, *identityError) {
	raw, err := t.readToken(r.Header)
	if err != nil {
		return mcpproxy.Principal{}, &identityError{http.StatusUnauthorized, "missing"}
	}
	claims, err := t.verifier.Verify(r.Context(), raw, t.routeAudiences(r))
	if err != nil {
		reason := "invalid"
		var ae *access.Error
		if errors.As(err, &ae) {
			reason = ae.Reason
		}
		t.logger.Debug("token rejected", zap.String("reason", reason), zap.String("path", r.URL.Path))
		if reason == access.ReasonAudience && t.otherApplication(r, raw) {
			// A valid token of the other application (the MCP one on the
			// console API, or the reverse): known, but not allowed here.
			return mcpproxy.Principal{}, &identityError{http.StatusForbidden, "other_application"}
		}
		return mcpproxy.Principal{}, &identityError{http.StatusUnauthorized, reason}
	}
	p := mcpproxy.Principal{ID: claims.ID(), Email: claims.Email, Name: claims.Name, Groups: claims.Groups, Kind: mcpproxy.KindUser}
	if claims.IsServiceToken() {
		p.Kind = mcpproxy.KindService
		if !slices.Contains(t.allowService, "*") && !slices.Contains(t.allowService, claims.CommonName) {
			t.logger.Warn("service token not allowed", zap.String("common_name", claims.CommonName))
			return mcpproxy.Principal{}, &identityError{http.StatusForbidden, "service_token_not_allowed"}
		}
	}
	if p.ID == "" {
		return mcpproxy.Principal{}, &identityError{http.StatusUnauthorized, "no_subject"}
	}
	if p.Name == "" {
		p.Name = p.Email
	}
	return p, nil
}

// authenticate implements caddyauth.Authenticator on top of identify, so the
// providers also work with Caddy's own `authentication` handler.
func (t *tokenVerifier) authenticate(r *http.Request) (caddyauth.User, bool, error) {
	p, ierr := t.identify(r)
	if ierr != nil {
		return caddyauth.User{}, false, nil
	}
	return userOf(p), true, nil
}

func userOf(p mcpproxy.Principal) caddyauth.User {
	return caddyauth.User{ID: p.ID, Metadata: map[string]string{
		"email":  p.Email,
		"name":   p.Name,
		"kind":   string(p.Kind),
		"groups": strings.Join(p.Groups, ","),
	}}
}
