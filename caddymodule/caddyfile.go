package caddymodule

import (
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/mcpexecutor/executor/mcpproxy"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("executor", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("executor", parseHandler)
	// "before respond": respond sorts before reverse_proxy, so a fallback
	// respond would otherwise answer first.
	httpcaddyfile.RegisterDirectiveOrder("executor", httpcaddyfile.Before, "respond")
}

// parseGlobalOption sets up the executor app from the global options block.
// Syntax:
//
//	executor {
//	    storage         <path>
//	    secret_key      <key>          # e.g. {env.EXECUTOR_SECRET_KEY}
//	    secret_key_file <path>
//	    organization    <id> <name> <slug>
//	    allow_local_network on|off
//	    execution_timeout <duration>
//	    execution_memory  <size>       # e.g. 64MiB
//	    allow_stdio on|off
//	    approval_modes model|browser|native...   # the first is the default
//	    rate_limit principal|connection <n>/s|<n>/m <burst> | off
//	    integration <slug> openapi|mcp|graphql {
//	        name        <name>
//	        description <text>
//	        spec        <url or file>      # openapi
//	        base_url    <url>              # openapi
//	        endpoint    <url>              # mcp, graphql
//	        transport   streamable-http|sse|auto   # mcp
//	        command     <program> [<args>...]      # mcp over stdio
//	        env         <name> <value>             # mcp over stdio
//	        cwd         <folder>                   # mcp over stdio
//	        header      <name> <value>
//	        query       <name> <value>
//	        auth_header <name> [<prefix>]          # mcp, graphql: an API-key template
//	    }
//	    connection <integration> org|user <name> {
//	        template <template>            # default none
//	        value    <value>               # the token, e.g. {env.PETS_API_KEY}
//	        var      <name> <value>        # a named variable
//	        subject  <principal id>        # owner of a user connection
//	    }
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	d.Next() // option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "storage":
			if !d.AllArgs(&app.Storage) {
				return nil, d.ArgErr()
			}
		case "secret_key":
			if !d.AllArgs(&app.SecretKey) {
				return nil, d.ArgErr()
			}
		case "secret_key_file":
			if !d.AllArgs(&app.SecretKeyFile) {
				return nil, d.ArgErr()
			}
		case "organization":
			var org mcpproxy.Organization
			if !d.AllArgs(&org.ID, &org.Name, &org.Slug) {
				return nil, d.Errf("organization takes three arguments: <id> <name> <slug>")
			}
			app.Organization = &org
		case "allow_local_network", "allow_stdio":
			opt := d.Val()
			var v string
			if !d.AllArgs(&v) || (v != "on" && v != "off") {
				return nil, d.Errf("%s takes on or off", opt)
			}
			on := v == "on"
			if opt == "allow_stdio" {
				app.AllowStdio = &on
			} else {
				app.AllowLocalNetwork = &on
			}
		case "approval_modes":
			app.ApprovalModes = d.RemainingArgs()
			if len(app.ApprovalModes) == 0 {
				return nil, d.Errf("approval_modes takes one or more of %s", strings.Join(mcpproxy.AllModes, ", "))
			}
			if err := mcpproxy.ValidApprovalModes(app.ApprovalModes); err != nil {
				return nil, d.Errf("approval_modes: %v", err)
			}
		case "rate_limit":
			scope, l, err := parseRateLimit(d)
			if err != nil {
				return nil, err
			}
			if scope == "principal" {
				app.PrincipalRateLimit = l
			} else {
				app.ConnectionRateLimit = l
			}
		case "integration":
			in, err := parseIntegration(d)
			if err != nil {
				return nil, err
			}
			app.Integrations = append(app.Integrations, in)
		case "connection":
			c, err := parseConnection(d)
			if err != nil {
				return nil, err
			}
			app.Connections = append(app.Connections, c)
		case "execution_timeout":
			dur, err := parseDurationArg(d)
			if err != nil {
				return nil, err
			}
			app.ExecutionTimeout = dur
		case "execution_memory":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			n, err := humanize.ParseBytes(v)
			if err != nil {
				return nil, d.Errf("execution_memory %q: %v", v, err)
			}
			app.ExecutionMemory = int64(n)
		default:
			return nil, d.Errf("unrecognized executor option %q", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "executor", Value: caddyconfig.JSON(app, nil)}, nil
}

// parseHandler sets up the executor handler from Caddyfile tokens. Syntax:
//
//	executor {
//	    access cloudflare {
//	        team_domain <team>.cloudflareaccess.com
//	        aud         <tag> [<tag>...]
//	        mcp_aud     <tag> [<tag>...]
//	        certs_url   <url>
//	        allow_service_tokens <common_name>... | *
//	        leeway      30s
//	    }
//	    access jwt {
//	        issuer   <url>
//	        jwks_url <url>
//	        aud      <aud>...
//	    }
//	    access local                  # loopback only, no sign-in
//	    public_origin     <https://host>
//	    allowed_origins   <origin>...
//	    oauth_passthrough <https://origin>
//	    console_root      <folder>
//	}
func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	h.Next() // directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "access":
			if !h.NextArg() {
				return nil, h.Errf("access needs a kind: cloudflare, jwt or local")
			}
			switch kind := h.Val(); kind {
			case "local":
				if h.NextArg() {
					return nil, h.ArgErr()
				}
				handler.LocalAdmin = true
			case "cloudflare":
				var cf CloudflareAccess
				if err := cf.UnmarshalCaddyfile(h.Dispenser); err != nil {
					return nil, err
				}
				handler.AccessRaw = caddyconfig.JSONModuleObject(cf, "provider", "cloudflare_access", nil)
			case "jwt":
				var j JWT
				if err := j.UnmarshalCaddyfile(h.Dispenser); err != nil {
					return nil, err
				}
				handler.AccessRaw = caddyconfig.JSONModuleObject(j, "provider", "jwt", nil)
			default:
				return nil, h.Errf("unknown access kind %q: use cloudflare, jwt or local", kind)
			}
		case "public_origin":
			if !h.AllArgs(&handler.PublicOrigin) {
				return nil, h.ArgErr()
			}
		case "allowed_origins":
			handler.AllowedOrigins = append(handler.AllowedOrigins, h.RemainingArgs()...)
		case "oauth_passthrough":
			if !h.AllArgs(&handler.OAuthPassthrough) {
				return nil, h.ArgErr()
			}
		case "console_root":
			if !h.AllArgs(&handler.ConsoleRoot) {
				return nil, h.ArgErr()
			}
		default:
			return nil, h.Errf("unrecognized executor option %q", h.Val())
		}
	}
	return handler, nil
}

func timeDuration(d caddy.Duration) time.Duration { return time.Duration(d) }

func replaceAll(repl *caddy.Replacer, in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, repl.ReplaceKnown(s, ""))
	}
	return out
}

func parseDurationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("invalid duration %q: %v", s, err)
	}
	return caddy.Duration(dur), nil
}

// parseIntegration reads `integration <slug> <kind> { … }`.
func parseIntegration(d *caddyfile.Dispenser) (mcpproxy.DeclaredIntegration, error) {
	var in mcpproxy.DeclaredIntegration
	if !d.Args(&in.Slug, &in.Kind) {
		return in, d.Errf("integration takes a slug and a kind: integration <slug> openapi|mcp|graphql { … }")
	}
	pair := func(m *map[string]string) error {
		var k, v string
		if !d.AllArgs(&k, &v) {
			return d.Errf("%s takes a name and a value", d.Val())
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[k] = v
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "name":
			in.Name = strings.Join(d.RemainingArgs(), " ")
		case "description":
			in.Description = strings.Join(d.RemainingArgs(), " ")
		case "spec":
			if !d.AllArgs(&in.Spec) {
				return in, d.ArgErr()
			}
		case "base_url":
			if !d.AllArgs(&in.BaseURL) {
				return in, d.ArgErr()
			}
		case "endpoint":
			if !d.AllArgs(&in.Endpoint) {
				return in, d.ArgErr()
			}
		case "transport":
			if !d.AllArgs(&in.Transport) {
				return in, d.ArgErr()
			}
		case "command":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return in, d.ArgErr()
			}
			in.Command, in.Args = args[0], args[1:]
		case "cwd":
			if !d.AllArgs(&in.Cwd) {
				return in, d.ArgErr()
			}
		case "env":
			err = pair(&in.Env)
		case "header":
			err = pair(&in.Headers)
		case "query":
			err = pair(&in.QueryParams)
		case "auth_header":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return in, d.Errf("auth_header takes a header name and an optional prefix")
			}
			in.AuthHeader = args[0]
			if len(args) == 2 {
				in.AuthPrefix = args[1]
			}
		default:
			return in, d.Errf("unrecognized integration option %q", d.Val())
		}
		if err != nil {
			return in, err
		}
	}
	return in, nil
}

// parseConnection reads `connection <integration> org|user <name> { … }`.
func parseConnection(d *caddyfile.Dispenser) (ConnectionConfig, error) {
	var c ConnectionConfig
	if !d.Args(&c.Integration, &c.Owner, &c.Name) {
		return c, d.Errf("connection takes an integration, an owner and a name: connection <integration> org|user <name> { … }")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "template":
			if !d.AllArgs(&c.Template) {
				return c, d.ArgErr()
			}
		case "subject":
			if !d.AllArgs(&c.Subject) {
				return c, d.ArgErr()
			}
		case "value", "var":
			name := "token"
			var v string
			if d.Val() == "var" {
				if !d.AllArgs(&name, &v) {
					return c, d.Errf("var takes a name and a value")
				}
			} else if !d.AllArgs(&v) {
				return c, d.ArgErr()
			}
			if c.Values == nil {
				c.Values = map[string]string{}
			}
			c.Values[name] = v
		default:
			return c, d.Errf("unrecognized connection option %q", d.Val())
		}
	}
	return c, nil
}

// sharedOptions are the Caddyfile options both access providers take.
type sharedOptions struct {
	aud, mcpAud, allowService *[]string
	leeway                    *caddy.Duration
}

// parse handles the current option if it is a shared one.
func (o sharedOptions) parse(d *caddyfile.Dispenser) (bool, error) {
	list := map[string]*[]string{"aud": o.aud, "mcp_aud": o.mcpAud, "allow_service_tokens": o.allowService}
	if dst, ok := list[d.Val()]; ok {
		*dst = append(*dst, d.RemainingArgs()...)
		if len(*dst) == 0 {
			return true, d.ArgErr()
		}
		return true, nil
	}
	if d.Val() == "leeway" {
		dur, err := parseDurationArg(d)
		*o.leeway = dur
		return true, err
	}
	return false, nil
}

// parseRateLimit reads `rate_limit principal|connection <n>/s|<n>/m <burst>`
// or `rate_limit principal|connection off`.
func parseRateLimit(d *caddyfile.Dispenser) (string, *mcpproxy.RateLimit, error) {
	args := d.RemainingArgs()
	usage := d.Errf("rate_limit takes principal or connection, then a rate such as 50/s or 600/m and a burst, or off: rate_limit principal 50/s 200")
	if len(args) < 2 || (args[0] != "principal" && args[0] != "connection") {
		return "", nil, usage
	}
	if args[1] == "off" {
		if len(args) != 2 {
			return "", nil, usage
		}
		return args[0], &mcpproxy.RateLimit{}, nil
	}
	if len(args) != 3 {
		return "", nil, usage
	}
	n, unit, ok := strings.Cut(args[1], "/")
	rate, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || (unit != "s" && unit != "m") {
		return "", nil, d.Errf("rate_limit %s: %q is not a rate such as 50/s or 600/m", args[0], args[1])
	}
	if unit == "m" {
		rate /= 60
	}
	burst, err := strconv.Atoi(args[2])
	if err != nil {
		return "", nil, d.Errf("rate_limit %s: the burst %q is not a whole number", args[0], args[2])
	}
	l := &mcpproxy.RateLimit{Rate: rate, Burst: burst}
	if err := l.Validate("rate_limit " + args[0]); err != nil {
		return "", nil, d.Err(err.Error())
	}
	if !l.Enabled() {
		return "", nil, d.Errf("rate_limit %s: a rate of 0 allows nothing; write off to turn the limit off", args[0])
	}
	return args[0], l, nil
}
