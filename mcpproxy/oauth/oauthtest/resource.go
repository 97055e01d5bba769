package oauthtest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ProtectResource wraps the handler of a resource server, such as an
// upstream MCP server, mounted at Options.Resource. It answers
// GET /.well-known/oauth-protected-resource (at the resource's path and at
// the root) with the RFC 9728 metadata, passes requests that carry a valid,
// unexpired access token issued by this server for Options.Resource
// ("Authorization: Bearer …"), and answers every other request 401 with
//
//	WWW-Authenticate: Bearer resource_metadata="<origin>/.well-known/oauth-protected-resource/<path>"
//
// plus scope (Options.Scopes) and, when a token was presented,
// error="invalid_token".
func (s *Server) ProtectResource(h http.Handler) http.Handler {
	prmPath := resourceMetadataPath(s.opts.Resource)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Resource != "" && r.Method == http.MethodGet &&
			(r.URL.Path == prmPath || r.URL.Path == "/.well-known/oauth-protected-resource") {
			s.serveResourceMetadata(w)
			return
		}
		token, presented := bearerToken(r)
		if !s.valid(token) {
			s.mu.Lock()
			s.stats.ResourceRejected++
			s.mu.Unlock()
			w.Header().Set("WWW-Authenticate", s.challenge(presented))
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_token", "error_description": "a valid access token is required"})
			return
		}
		s.mu.Lock()
		s.stats.ResourceRequests++
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func bearerToken(r *http.Request) (token string, presented bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(token), true
}

func (s *Server) valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.access[token]
	return a != nil && time.Now().Before(a.expires) && (s.opts.Resource == "" || a.resource == s.opts.Resource)
}

// challenge is the WWW-Authenticate value of a 401.
func (s *Server) challenge(tokenPresented bool) string {
	var params []string
	if s.opts.Resource != "" {
		if u, err := url.Parse(s.opts.Resource); err == nil {
			params = append(params, "resource_metadata="+strconv.Quote(u.Scheme+"://"+u.Host+resourceMetadataPath(s.opts.Resource)))
		}
	}
	if len(s.opts.Scopes) > 0 {
		params = append(params, "scope="+strconv.Quote(strings.Join(s.opts.Scopes, " ")))
	}
	if tokenPresented {
		params = append(params, `error="invalid_token"`)
	}
	if len(params) == 0 {
		return `Bearer realm="oauthtest"`
	}
	return "Bearer " + strings.Join(params, ", ")
}

// serveResourceMetadata answers with the RFC 9728 document for
// Options.Resource.
func (s *Server) serveResourceMetadata(w http.ResponseWriter) {
	m := map[string]any{
		"resource":                 s.opts.Resource,
		"authorization_servers":    []string{s.Issuer},
		"bearer_methods_supported": []string{"header"},
	}
	if s.opts.WrongResource {
		m["resource"] = attacker + "/mcp"
	}
	if len(s.opts.Scopes) > 0 {
		m["scopes_supported"] = s.opts.Scopes
	}
	writeJSON(w, http.StatusOK, m)
}
