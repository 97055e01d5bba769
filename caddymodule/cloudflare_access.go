package caddymodule

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/mcpexecutor/executor/caddymodule/access"
)

func init() {
	caddy.RegisterModule(CloudflareAccess{})
}

// CloudflareAccess authenticates requests by the Cloudflare Access
// application token in the `Cf-Access-Jwt-Assertion` header, verified on
// every request against the team's signing keys (RS256 only, exact issuer,
// audience bound to the route, `type` app, expiry within the leeway). The
// `CF_Authorization` cookie, query strings and identity headers such as
// `Cf-Access-Authenticated-User-Email` are never trusted.
//
// It is an `http.authentication.providers` module, so it also works with
// Caddy's `authentication` handler; the `executor` handler uses it through
// `access cloudflare { … }`.
type CloudflareAccess struct {
	// TeamDomain is the Access team domain, e.g. `acme.cloudflareaccess.com`.
	TeamDomain string `json:"team_domain,omitempty"`

	// Audiences are the AUD tags accepted on the console and API (and on
	// /mcp too, unless MCPAudiences is set).
	Audiences []string `json:"aud,omitempty"`

	// MCPAudiences, when set, are the only AUD tags accepted on /mcp, and
	// they are refused everywhere else: give the MCP endpoint its own Access
	// application (with Managed OAuth) so an agent's token cannot drive the
	// console API.
	MCPAudiences []string `json:"mcp_aud,omitempty"`

	// CertsURL overrides `https://<team_domain>/cdn-cgi/access/certs`.
	CertsURL string `json:"certs_url,omitempty"`

	// AllowServiceTokens lists the service-token common names (client ids,
	// e.g. `e367….access`) that may sign in, or `*` for any. Service tokens
	// are refused (403) unless listed.
	AllowServiceTokens []string `json:"allow_service_tokens,omitempty"`

	// Leeway is the clock skew tolerated on exp, nbf and iat. Default 30s,
	// at most 60s.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	tokenVerifier
}

// CaddyModule returns the Caddy module information.
func (CloudflareAccess) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.cloudflare_access",
		New: func() caddy.Module { return new(CloudflareAccess) },
	}
}

// Provision validates the settings and starts (or shares) the verifier.
func (c *CloudflareAccess) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	team := strings.TrimSpace(repl.ReplaceKnown(c.TeamDomain, ""))
	if team == "" {
		return fmt.Errorf("team_domain is required, e.g. `team_domain acme.cloudflareaccess.com`")
	}
	cfg := access.CloudflareConfig(team)
	if c.CertsURL != "" {
		cfg.JWKSURL = repl.ReplaceKnown(c.CertsURL, "")
	}
	if c.Leeway != 0 {
		cfg.Leeway = timeDuration(c.Leeway)
	}
	c.audiences = replaceAll(repl, c.Audiences)
	c.mcpAudiences = replaceAll(repl, c.MCPAudiences)
	c.allowService = c.AllowServiceTokens
	c.readToken = access.TokenFromHeader
	return c.provision(ctx, cfg)
}

// Cleanup releases the shared verifier.
func (c *CloudflareAccess) Cleanup() error { return c.cleanup() }

// Authenticate implements caddyauth.Authenticator.
func (c *CloudflareAccess) Authenticate(_ http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	return c.authenticate(r)
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	cloudflare {
//	    team_domain <team>.cloudflareaccess.com
//	    aud         <tag> [<tag>...]
//	    mcp_aud     <tag> [<tag>...]
//	    certs_url   <url>
//	    allow_service_tokens <common_name>... | *
//	    leeway      <duration>
//	}
func (c *CloudflareAccess) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	common := sharedOptions{&c.Audiences, &c.MCPAudiences, &c.AllowServiceTokens, &c.Leeway}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if ok, err := common.parse(d); ok || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		switch d.Val() {
		case "team_domain":
			if !d.AllArgs(&c.TeamDomain) {
				return d.ArgErr()
			}
		case "certs_url":
			if !d.AllArgs(&c.CertsURL) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized cloudflare access option %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*CloudflareAccess)(nil)
	_ caddy.CleanerUpper      = (*CloudflareAccess)(nil)
	_ caddyauth.Authenticator = (*CloudflareAccess)(nil)
	_ caddyfile.Unmarshaler   = (*CloudflareAccess)(nil)
	_ identifier              = (*CloudflareAccess)(nil)
)
