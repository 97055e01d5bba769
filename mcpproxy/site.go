package mcpproxy

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Site describes how the gateway is reached: the host (caddymodule) sets it
// on every request from its configuration, never from request headers.
type Site struct {
	// Origin is the public origin, e.g. "https://executor.example.com". URLs
	// the gateway hands out (approval links, resource metadata) use it.
	Origin string
	// AllowedOrigins may call /mcp from a browser in addition to Origin.
	AllowedOrigins []string
	// Local marks the loopback-only local-administrator mode, where any
	// loopback origin is accepted.
	Local bool
}

type siteKey struct{}

// WithSite returns a context carrying s.
func WithSite(ctx context.Context, s Site) context.Context {
	return context.WithValue(ctx, siteKey{}, s)
}

// siteFrom returns the Site of r, deriving the origin from the request when
// the host set none (tests, embedding without Caddy).
func siteFrom(r *http.Request) Site {
	s, _ := r.Context().Value(siteKey{}).(Site)
	if s.Origin == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		s.Origin = scheme + "://" + r.Host
	}
	s.Origin = strings.TrimSuffix(s.Origin, "/")
	return s
}

func requestOrigin(r *http.Request) string { return siteFrom(r).Origin }

// originAllowed reports whether a browser Origin header may use the endpoint.
// An absent Origin (non-browser clients) is allowed; "null" never is.
func originAllowed(r *http.Request) bool {
	o := r.Header.Values("Origin")
	if len(o) == 0 {
		return true
	}
	if len(o) > 1 {
		return false
	}
	origin := strings.TrimSuffix(o[0], "/")
	s := siteFrom(r)
	if strings.EqualFold(origin, s.Origin) || slices.ContainsFunc(s.AllowedOrigins, func(a string) bool {
		return strings.EqualFold(strings.TrimSuffix(a, "/"), origin)
	}) {
		return true
	}
	if s.Local {
		return isLoopbackOrigin(origin)
	}
	return false
}

func isLoopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" {
		return false
	}
	return IsLoopbackHost(u.Hostname())
}

// IsLoopbackHost reports whether host (without port) names this machine:
// localhost, *.localhost, 127.0.0.0/8 or ::1.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// originFrom is the site origin carried by a request context.
func originFrom(ctx context.Context) string {
	if s, ok := ctx.Value(siteKey{}).(Site); ok && s.Origin != "" {
		return strings.TrimSuffix(s.Origin, "/")
	}
	return ""
}
