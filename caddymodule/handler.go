package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/mcpexecutor/executor/mcpproxy"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `executor` HTTP handler. It serves, on the site it is
// placed in:
//
//   - `/mcp`: the MCP endpoint (streamable HTTP);
//   - `/api/*`: the JSON API the console uses;
//   - `/.well-known/oauth-protected-resource[/mcp]`,
//     `/.well-known/oauth-authorization-server` and the OAuth client ID
//     metadata document (`/api/oauth/client-id-metadata.json`): public,
//     always JSON;
//   - everything else: the web console (static files, SPA fallback).
//
// Every request except those public documents must carry a verified
// identity from the configured access provider, or the handler must be in
// local-administrator mode, which is allowed only on loopback listeners.
type Handler struct {
	// Access is the authentication provider module (namespace
	// `http.authentication.providers`, key `provider`): `cloudflare_access`
	// or `jwt`.
	AccessRaw json.RawMessage `json:"access,omitempty" caddy:"namespace=http.authentication.providers inline_key=provider"`

	// LocalAdmin serves every request as the local administrator, without
	// authentication. Allowed only when every listener of the server is a
	// loopback address, and only for requests whose Host is loopback.
	LocalAdmin bool `json:"local_admin,omitempty"`

	// PublicOrigin is the origin clients use, e.g.
	// `https://executor.example.com`. It names the resource in OAuth
	// metadata and builds approval links. Default: the request's scheme and
	// Host (which Caddy's site matching has already checked).
	PublicOrigin string `json:"public_origin,omitempty"`

	// AllowedOrigins are extra browser origins allowed to call /mcp.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	// OAuthPassthrough, when set, reverse-proxies the well-known OAuth
	// documents to this origin (e.g. your team's Access domain) instead of
	// generating them.
	OAuthPassthrough string `json:"oauth_passthrough,omitempty"`

	// ConsoleRoot serves the console from this folder instead of the files
	// embedded in the binary, so an operator can restyle it.
	ConsoleRoot string `json:"console_root,omitempty"`

	app        *App
	ident      identifier
	console    http.Handler
	wellKnown  *wellKnown
	logger     *zap.Logger
	siteOrigin string
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.executor",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision loads the access provider, checks local mode against the
// server's listeners, and registers with the executor app.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.LocalAdmin && h.AccessRaw != nil {
		return errors.New("access: choose either a provider (cloudflare, jwt) or local, not both")
	}
	if !h.LocalAdmin && h.AccessRaw == nil {
		return errors.New("access is not configured: add `access cloudflare { … }` (or `access jwt { … }`) for production, " +
			"or `access local` for a loopback-only local administrator")
	}
	if h.LocalAdmin {
		if err := checkLoopbackListeners(ctx); err != nil {
			return err
		}
	} else {
		mod, err := ctx.LoadModule(h, "AccessRaw")
		if err != nil {
			return fmt.Errorf("loading access provider: %w", err)
		}
		id, ok := mod.(identifier)
		if !ok {
			return fmt.Errorf("access provider %T cannot be used by the executor handler; use cloudflare_access or jwt", mod)
		}
		h.ident = id
	}
	if h.PublicOrigin != "" {
		u, err := url.Parse(h.PublicOrigin)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("public_origin %q must be a scheme and host, e.g. https://executor.example.com", h.PublicOrigin)
		}
		h.siteOrigin = strings.TrimSuffix(h.PublicOrigin, "/")
	} else if !h.LocalAdmin {
		if err := checkHostConstrained(ctx); err != nil {
			return err
		}
	}
	console, err := newConsole(h.ConsoleRoot, !h.LocalAdmin)
	if err != nil {
		return err
	}
	h.console = console
	wk, err := newWellKnown(h.OAuthPassthrough)
	if err != nil {
		return err
	}
	h.wellKnown = wk

	appIface, err := ctx.App("executor")
	if err != nil {
		return fmt.Errorf("loading the executor app: %w", err)
	}
	h.app = appIface.(*App)
	return h.app.register(h)
}

// checkHostConstrained refuses a production handler without public_origin
// on a server that answers any Host (security.md C4). Without public_origin
// the handler takes its origin (the OAuth resource metadata, approval
// links) from the request's Host, which is safe only where Caddy has
// matched that Host against the site's addresses: on a server every route
// of which has a host matcher.
func checkHostConstrained(ctx caddy.Context) error {
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if ok && srv != nil && routesMatchHosts(srv.Routes) {
		return nil
	}
	return errors.New("public_origin is required on a site that answers any host name (such as `:443` or `http://`): " +
		"the gateway names itself in OAuth metadata and approval links, and must not take that name from the request's Host header; " +
		"add `public_origin https://executor.example.com` to the executor block, or give the site its host name")
}

// routesMatchHosts reports whether every route matches on the Host: each of
// its matcher sets (any one of which may match) has a host matcher.
func routesMatchHosts(routes caddyhttp.RouteList) bool {
	if len(routes) == 0 {
		return false
	}
	for _, r := range routes {
		if len(r.MatcherSets) == 0 {
			return false
		}
		for _, set := range r.MatcherSets {
			if !slices.ContainsFunc(set, func(m any) bool {
				switch hm := m.(type) {
				case caddyhttp.MatchHost:
					return len(hm) > 0
				case *caddyhttp.MatchHost:
					return hm != nil && len(*hm) > 0
				}
				return false
			}) {
				return false
			}
		}
	}
	return true
}

// checkLoopbackListeners refuses local-administrator mode on a server that
// listens on anything but loopback addresses.
func checkLoopbackListeners(ctx caddy.Context) error {
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil {
		return errors.New("access local: cannot determine the server's listen addresses")
	}
	for _, l := range srv.Listen {
		na, err := caddy.ParseNetworkAddress(l)
		if err != nil {
			return fmt.Errorf("access local: listen address %q: %w", l, err)
		}
		if na.IsUnixNetwork() {
			continue
		}
		host := na.Host
		if host == "" || !mcpproxy.IsLoopbackHost(host) {
			return fmt.Errorf("access local (no authentication) is allowed only on loopback addresses, but this server listens on %q: "+
				"bind it to 127.0.0.1 (`bind 127.0.0.1` in the site block) or configure `access cloudflare { … }`", l)
		}
	}
	if len(srv.Listen) == 0 {
		return errors.New("access local (no authentication) is allowed only on loopback addresses, but this server listens on every interface: add `bind 127.0.0.1` to the site block")
	}
	return nil
}

// Cleanup unregisters from the app.
func (h *Handler) Cleanup() error {
	if h.app != nil {
		h.app.unregister(h)
	}
	return nil
}

// ServeHTTP routes the request after establishing who is calling.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	tracked := &wroteHeader{ResponseWriter: w}
	defer recoverPanic(h.logger, tracked, r)
	return h.serve(tracked, r)
}

// wroteHeader notes whether the response has begun.
type wroteHeader struct {
	http.ResponseWriter
	started bool
}

func (w *wroteHeader) WriteHeader(code int) { w.started = true; w.ResponseWriter.WriteHeader(code) }
func (w *wroteHeader) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}
func (w *wroteHeader) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recoverPanic turns a panic while serving r into a generic 500 (security.md
// I6): the stack goes to the log, with the method and path but nothing else
// of the request, and the client learns nothing. Go's server would instead
// log the panic and cut the connection without an answer.
// http.ErrAbortHandler is let through: it is how a handler aborts on purpose.
func recoverPanic(log *zap.Logger, w *wroteHeader, r *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	log.Error("panic while serving a request", zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.Any("panic", p), zap.Stack("stack"))
	if !w.started {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":"internal error"}` + "\n"))
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	stripIdentityHeaders(r.Header)
	setSecurityHeaders(w.Header(), r.TLS != nil)
	if len(r.RequestURI) > maxRequestURI {
		// No address of the gateway is anywhere near this long (security.md C7).
		http.Error(w, "URI Too Long", http.StatusRequestURITooLong)
		return nil
	}
	p := cleanPath(r.URL.Path)

	if p == healthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		h.serveHealth(w, r)
		return nil
	}
	if h.wellKnown.matches(p) {
		h.wellKnown.serve(w, r, p, h.origin(r), h.issuer())
		return nil
	}
	if p == mcpproxy.ClientMetadataPath && r.Method == http.MethodGet {
		// Public like the well-known documents: authorization servers read
		// it to learn who the client_id they were given is.
		mcpproxy.ServeClientMetadata(w, h.origin(r))
		return nil
	}

	gw := h.app.gateway(r.Context(), 15*time.Second)
	if gw == nil {
		writeUnavailable(w, p)
		return nil
	}

	principal, ierr := h.identify(r)
	if ierr != nil {
		h.unauthorized(w, r, p, ierr)
		return nil
	}
	// The token has done its job; nothing behind this point sees it.
	r.Header.Del("Cf-Access-Jwt-Assertion")
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl != nil {
		repl.Set("http.auth.user.id", principal.ID)
		repl.Set("http.auth.user.email", principal.Email)
	}
	ctx := mcpproxy.WithPrincipal(r.Context(), principal)
	ctx = mcpproxy.WithSite(ctx, mcpproxy.Site{Origin: h.origin(r), AllowedOrigins: h.AllowedOrigins, Local: h.LocalAdmin})
	r = r.WithContext(ctx)

	switch {
	case p == "/mcp":
		gw.ServeMCP(flushWriter{w}, r)
	case strings.HasPrefix(p, "/mcp/"):
		// Connections' direct endpoints; anything else under /mcp/ is a
		// JSON-RPC 404, never the console's HTML.
		u := *r.URL
		u.Path, u.RawPath = p, ""
		r.URL = &u
		gw.ServeDirectMCP(flushWriter{w}, r)
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		gw.ServeAPI(w, r)
	default:
		h.console.ServeHTTP(w, r)
	}
	return nil
}

// healthPath answers load balancers and orchestrators, without a token.
const healthPath = "/health"

// serveHealth is 200 {"status":"ok"} when the gateway serves requests and,
// behind access, holds the keys to verify tokens; otherwise 503
// {"status":"degraded"} with the check that fails. It tells nothing else
// about the gateway.
func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{"gateway": "ok"}
	healthy := true
	if h.app.gateway(r.Context(), 0) == nil {
		checks["gateway"], healthy = "starting", false
	}
	if h.ident != nil {
		checks["access_keys"] = "ok"
		if !h.ident.ready() {
			checks["access_keys"], healthy = "unavailable", false
		}
	}
	status, word := http.StatusOK, "ok"
	if !healthy {
		status, word = http.StatusServiceUnavailable, "degraded"
	}
	writeJSONBody(w, status, map[string]any{"status": word, "checks": checks})
}

func (h *Handler) identify(r *http.Request) (mcpproxy.Principal, *identityError) {
	if h.LocalAdmin {
		// Local mode trusts the machine, not the network: refuse requests that
		// arrived on a non-loopback address or name a non-loopback Host (DNS
		// rebinding, a tunnel forwarding public traffic to the loopback port).
		if !loopbackRequest(r) {
			return mcpproxy.Principal{}, &identityError{http.StatusForbidden, "local_mode_non_loopback"}
		}
		return mcpproxy.LocalAdmin, nil
	}
	return h.ident.identify(r)
}

func loopbackRequest(r *http.Request) bool {
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	if !mcpproxy.IsLoopbackHost(host) {
		return false
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := la.(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
			return false
		}
	}
	return true
}

func (h *Handler) origin(r *http.Request) string {
	if h.siteOrigin != "" {
		return h.siteOrigin
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *Handler) issuer() string {
	if h.ident == nil {
		return ""
	}
	return h.ident.issuer()
}

// unauthorized answers in the shape each kind of client understands: MCP
// clients get a JSON-RPC error with a Bearer challenge, the API gets JSON,
// browsers get the sign-in page. Never HTML to an MCP client.
func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, p string, ierr *identityError) {
	status := ierr.status
	text := http.StatusText(status)
	switch {
	case p == "/mcp" || strings.HasPrefix(p, "/mcp/"):
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, h.origin(r)))
			w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		}
		code := -32001
		if status == http.StatusForbidden {
			code = -32003
		}
		mcpproxy.WriteRPCError(w, status, code, text)
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		writeJSONBody(w, status, map[string]string{"error": text})
	default:
		serveSignIn(w, status)
	}
}

func writeUnavailable(w http.ResponseWriter, p string) {
	if p == "/mcp" || strings.HasPrefix(p, "/mcp/") {
		mcpproxy.WriteRPCError(w, http.StatusServiceUnavailable, -32000, "the gateway is starting; try again in a moment")
		return
	}
	writeJSONBody(w, http.StatusServiceUnavailable, map[string]string{"error": "the gateway is starting; try again in a moment"})
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// cleanPath returns the decoded, cleaned request path, so `/api/../mcp`,
// `//mcp` and `/mcp/` route (and authenticate) as what they resolve to.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean("/" + p)
	return c
}

// identityHeaderPrefixes are request headers a client could use to claim an
// identity. They are removed before anything reads them, in every case and
// underscore variant.
var identityHeaderPrefixes = []string{"cf-access-authenticated-", "x-forwarded-user", "x-forwarded-email", "x-forwarded-preferred-username",
	"x-forwarded-groups", "remote-user", "remote-email", "remote-groups", "x-auth-request-", "x-user-id", "x-user-email", "x-remote-user",
	"x-executor-"}

func stripIdentityHeaders(h http.Header) {
	for k := range h {
		n := strings.ReplaceAll(strings.ToLower(k), "_", "-")
		for _, p := range identityHeaderPrefixes {
			if strings.HasPrefix(n, p) {
				delete(h, k)
				break
			}
		}
	}
}

// maxRequestURI caps a request's path and query, in bytes.
const maxRequestURI = 8 << 10

func setSecurityHeaders(h http.Header, overTLS bool) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// The console needs no camera, microphone, location or payment, nor
	// should anything framed or injected into it (security.md J12).
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
	if overTLS {
		// Where Caddy terminates TLS itself; behind Cloudflare the edge
		// sets its own.
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// flushWriter exposes Flush on Caddy's wrapped response writer, which only
// offers Unwrap; without it mcp-go cannot stream SSE or elicitation.
type flushWriter struct{ http.ResponseWriter }

func (f flushWriter) Flush() { _ = http.NewResponseController(f.ResponseWriter).Flush() }

func (f flushWriter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
