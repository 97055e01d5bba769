package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The well-known OAuth documents are the only public paths. They are matched
// exactly on the cleaned path.
const (
	pathProtectedResource    = "/.well-known/oauth-protected-resource"
	pathProtectedResourceMCP = "/.well-known/oauth-protected-resource/mcp"
	pathAuthorizationServer  = "/.well-known/oauth-authorization-server"
)

// maxWellKnownBytes caps a proxied well-known document.
const maxWellKnownBytes = 256 << 10

// wellKnown answers the OAuth discovery documents. With Cloudflare Access
// Managed OAuth these requests are answered at the edge and never reach us;
// when they do, we answer JSON (never the console's HTML): proxied to the
// configured origin, or a generated protected-resource document and a JSON
// 404 for the authorization-server document (the gateway is not one).
type wellKnown struct {
	upstream *url.URL
	client   *http.Client
}

func newWellKnown(passthrough string) (*wellKnown, error) {
	wk := &wellKnown{}
	if passthrough == "" {
		return wk, nil
	}
	u, err := url.Parse(passthrough)
	if err != nil || u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackURL(u)) || u.Host == "" {
		return nil, fmt.Errorf("oauth_passthrough %q must be an https origin, e.g. https://acme.cloudflareaccess.com", passthrough)
	}
	wk.upstream = &url.URL{Scheme: u.Scheme, Host: u.Host}
	wk.client = &http.Client{
		Timeout: 10 * time.Second,
		// A redirect could point anywhere; the document must come from the
		// configured origin.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{Proxy: nil, ResponseHeaderTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4},
	}
	return wk, nil
}

func isLoopbackURL(u *url.URL) bool {
	h := u.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

func (wk *wellKnown) matches(p string) bool {
	return p == pathProtectedResource || p == pathProtectedResourceMCP || p == pathAuthorizationServer
}

func (wk *wellKnown) serve(w http.ResponseWriter, r *http.Request, p, origin, issuer string) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSONBody(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
		return
	}
	if len(r.URL.RawQuery) > 1024 {
		writeJSONBody(w, http.StatusRequestURITooLong, map[string]string{"error": "query_too_long"})
		return
	}
	if wk.upstream != nil {
		wk.proxy(w, r, p)
		return
	}
	switch p {
	case pathAuthorizationServer:
		writeJSONBody(w, http.StatusNotFound, map[string]string{
			"error":             "not_found",
			"error_description": "This gateway is not an OAuth authorization server. Enable Cloudflare Access Managed OAuth on the application, or set oauth_passthrough.",
		})
	default:
		servers := []string{}
		if issuer != "" {
			servers = append(servers, issuer)
		}
		writeJSONBody(w, http.StatusOK, map[string]any{
			"resource":                 origin + "/mcp",
			"authorization_servers":    servers,
			"bearer_methods_supported": []string{"header"},
			"resource_name":            "Executor",
		})
	}
}

// proxy fetches the same path from the configured origin, without any of
// the client's headers, and relays it only if it is JSON.
func (wk *wellKnown) proxy(w http.ResponseWriter, r *http.Request, p string) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	target := *wk.upstream
	target.Path = p
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		writeJSONBody(w, http.StatusBadGateway, map[string]string{"error": "bad_gateway"})
		return
	}
	req.Header.Set("Accept", "application/json")
	resp, err := wk.client.Do(req)
	if err != nil {
		writeJSONBody(w, http.StatusBadGateway, map[string]string{"error": "bad_gateway", "error_description": "the OAuth passthrough origin did not answer"})
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWellKnownBytes+1))
	if err == nil && len(body) > maxWellKnownBytes {
		err = errors.New("too large")
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) || !json.Valid(body) {
		writeJSONBody(w, http.StatusBadGateway, map[string]string{"error": "bad_gateway", "error_description": "the OAuth passthrough origin did not return a JSON document"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if cc := resp.Header.Get("Cache-Control"); cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
