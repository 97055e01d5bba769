package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/mcpexecutor/executor/caddymodule/access"
)

func init() {
	caddy.RegisterModule(JWT{})
}

// JWT authenticates requests by a JWT from any OIDC issuer that publishes
// its signing keys as a JWKS (Pomerium, oauth2-proxy, an identity-aware
// proxy, your own IdP). It shares its verifier with `cloudflare_access`:
// asymmetric algorithms only (never `none` or HMAC), exact issuer, audience
// bound to the route, exp required.
type JWT struct {
	// Issuer is the exact expected `iss` claim.
	Issuer string `json:"issuer,omitempty"`

	// JWKSURL is where the issuer publishes its keys.
	JWKSURL string `json:"jwks_url,omitempty"`

	// Audiences accepted on the console and API (and /mcp unless
	// MCPAudiences is set).
	Audiences []string `json:"aud,omitempty"`

	// MCPAudiences, when set, are the only audiences accepted on /mcp.
	MCPAudiences []string `json:"mcp_aud,omitempty"`

	// Header carries the token. Default `Authorization`, where the value
	// must be `Bearer <token>`; any other header carries the bare token.
	Header string `json:"header,omitempty"`

	// Algorithms narrows the accepted signature algorithms. Default: RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA.
	Algorithms []string `json:"algorithms,omitempty"`

	// AllowServiceTokens lists service identities (tokens without `sub`
	// carrying `common_name`) that may sign in, or `*`.
	AllowServiceTokens []string `json:"allow_service_tokens,omitempty"`

	// Leeway is the clock skew tolerated; default 30s, at most 60s.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	tokenVerifier
}

// CaddyModule returns the Caddy module information.
func (JWT) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.jwt",
		New: func() caddy.Module { return new(JWT) },
	}
}

// Provision validates the settings and starts (or shares) the verifier.
func (j *JWT) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	cfg := access.Config{
		Issuer:     repl.ReplaceKnown(j.Issuer, ""),
		JWKSURL:    repl.ReplaceKnown(j.JWKSURL, ""),
		Algorithms: j.Algorithms,
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = access.GenericAlgorithms()
	}
	if j.Leeway != 0 {
		cfg.Leeway = timeDuration(j.Leeway)
	}
	header := j.Header
	if header == "" {
		header = "Authorization"
	}
	j.readToken = func(h http.Header) (string, error) { return tokenFromNamedHeader(h, header) }
	j.audiences = replaceAll(repl, j.Audiences)
	j.mcpAudiences = replaceAll(repl, j.MCPAudiences)
	j.allowService = j.AllowServiceTokens
	if err := j.provision(ctx, cfg); err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	return nil
}

// tokenFromNamedHeader reads exactly one value of header; for Authorization
// it must use the Bearer scheme.
func tokenFromNamedHeader(h http.Header, header string) (string, error) {
	vals := h.Values(header)
	if len(vals) != 1 {
		return "", errors.New("expected exactly one token header")
	}
	v := strings.TrimSpace(vals[0])
	if strings.EqualFold(header, "Authorization") {
		scheme, tok, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", errors.New("authorization scheme must be Bearer")
		}
		v = strings.TrimSpace(tok)
	}
	if v == "" {
		return "", errors.New("empty token")
	}
	return v, nil
}

// Cleanup releases the shared verifier.
func (j *JWT) Cleanup() error { return j.cleanup() }

// Authenticate implements caddyauth.Authenticator.
func (j *JWT) Authenticate(_ http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	return j.authenticate(r)
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	jwt {
//	    issuer     <url>
//	    jwks_url   <url>
//	    aud        <aud> [<aud>...]
//	    mcp_aud    <aud> [<aud>...]
//	    header     <name>
//	    algorithms <alg>...
//	    allow_service_tokens <common_name>... | *
//	    leeway     <duration>
//	}
func (j *JWT) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	common := sharedOptions{&j.Audiences, &j.MCPAudiences, &j.AllowServiceTokens, &j.Leeway}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if ok, err := common.parse(d); ok || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		switch d.Val() {
		case "issuer":
			if !d.AllArgs(&j.Issuer) {
				return d.ArgErr()
			}
		case "jwks_url":
			if !d.AllArgs(&j.JWKSURL) {
				return d.ArgErr()
			}
		case "header":
			if !d.AllArgs(&j.Header) {
				return d.ArgErr()
			}
		case "algorithms":
			j.Algorithms = append(j.Algorithms, d.RemainingArgs()...)
			if len(j.Algorithms) == 0 {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized jwt option %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*JWT)(nil)
	_ caddy.CleanerUpper      = (*JWT)(nil)
	_ caddyauth.Authenticator = (*JWT)(nil)
	_ caddyfile.Unmarshaler   = (*JWT)(nil)
	_ identifier              = (*JWT)(nil)
)
