package mcpproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// maxAPIBodyBytes caps a JSON API request body.
const maxAPIBodyBytes = 16 << 20

// newAPI builds the /api router. Every route runs with a verified Principal
// in its context; state-changing requests from another site are refused by
// CrossOriginProtection (Sec-Fetch-Site / Origin).
func (g *Gateway) newAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/account/me", g.handleAccountMe)
	mux.HandleFunc("GET /api/config", g.handleConfig)

	mux.HandleFunc("GET /api/integrations", g.handleIntegrationsList)
	mux.HandleFunc("POST /api/integrations/detect", g.handleDetect)
	mux.HandleFunc("GET /api/integrations/{slug}", g.handleIntegrationGet)
	mux.HandleFunc("PATCH /api/integrations/{slug}", g.handleIntegrationPatch)
	mux.HandleFunc("DELETE /api/integrations/{slug}", g.handleIntegrationDelete)
	mux.HandleFunc("POST /api/openapi/preview", g.handleOpenAPIPreview)
	mux.HandleFunc("POST /api/openapi/specs", g.handleOpenAPIAdd)
	mux.HandleFunc("POST /api/mcp/probe", g.handleMCPProbe)
	mux.HandleFunc("POST /api/mcp/servers", g.handleMCPAdd)
	mux.HandleFunc("GET /api/mcp/status", g.handleMCPStatus)
	mux.HandleFunc("POST /api/graphql/integrations", g.handleGraphQLAdd)

	mux.HandleFunc("GET /api/connections", g.handleConnectionsList)
	mux.HandleFunc("POST /api/connections", g.handleConnectionCreate)
	mux.HandleFunc("GET /api/connections/{owner}/{integration}/{name}", g.handleConnectionGet)
	mux.HandleFunc("PATCH /api/connections/{owner}/{integration}/{name}", g.handleConnectionPatch)
	mux.HandleFunc("DELETE /api/connections/{owner}/{integration}/{name}", g.handleConnectionDelete)
	mux.HandleFunc("POST /api/connections/{owner}/{integration}/{name}/refresh", g.handleConnectionRefresh)

	mux.HandleFunc("GET /api/policies", g.handlePoliciesList)
	mux.HandleFunc("POST /api/policies", g.handlePolicyCreate)
	mux.HandleFunc("PATCH /api/policies/{id}", g.handlePolicyPatch)
	mux.HandleFunc("DELETE /api/policies/{id}", g.handlePolicyDelete)
	mux.HandleFunc("GET /api/audit", g.handleAudit)

	mux.HandleFunc("GET /api/executions", g.handleExecutionsList)
	mux.HandleFunc("POST /api/executions", g.handleExecutionCreate)
	mux.HandleFunc("GET /api/executions/{id}", g.handleExecutionGet)
	mux.HandleFunc("POST /api/executions/{id}/resume", g.handleExecutionResume)
	mux.HandleFunc("GET /api/mcp-sessions/{sid}/executions/{eid}", g.handleSessionExecutionGet)
	mux.HandleFunc("POST /api/mcp-sessions/{sid}/executions/{eid}/resume", g.handleSessionExecutionResume)
	mux.HandleFunc("/api/mcp-sessions/", func(w http.ResponseWriter, r *http.Request) { writeError(w, http.StatusNotFound, "Not found") })

	mux.HandleFunc("POST /api/oauth/probe", g.handleOAuthProbe)
	mux.HandleFunc("GET /api/oauth/clients", g.handleOAuthClientsList)
	mux.HandleFunc("POST /api/oauth/clients", g.handleOAuthClientCreate)
	mux.HandleFunc("DELETE /api/oauth/clients/{slug}", g.handleOAuthClientDelete)
	mux.HandleFunc("POST /api/oauth/start", g.handleOAuthStart)
	mux.HandleFunc("GET /api/oauth/callback", g.handleOAuthCallback)
	mux.HandleFunc("GET "+ClientMetadataPath, g.handleClientMetadata)
	mux.HandleFunc("POST /api/oauth/cancel", g.handleOAuthCancel)

	mux.HandleFunc("GET /api/tools", g.handleToolsList)
	mux.HandleFunc("GET /api/tools/schema", g.handleToolSchema)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not found: %s %s is not an API route", r.Method, r.URL.Path)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "Forbidden: cross-origin requests to the API are refused")
	}))
	return cop.Handler(requireJSON(boundLargeBodies(mux)))
}

// requireJSON refuses bodies that are not JSON on state-changing requests,
// which also stops form-based cross-site requests.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			if r.ContentLength != 0 && !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
				writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) handleAccountMe(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	org := g.config().Organization
	writeJSON(w, http.StatusOK, map[string]any{
		"user": map[string]any{
			"id":     p.ID,
			"email":  p.Email,
			"name":   p.Name,
			"kind":   p.Kind,
			"groups": nonNil(p.Groups),
		},
		"organization": org,
	})
}

// handleConfig is GET /api/config: what this gateway permits, so a client
// offers only what will be accepted.
func (g *Gateway) handleConfig(w http.ResponseWriter, r *http.Request) {
	cfg := g.config()
	kinds := make([]string, 0, len(g.kinds))
	for k := range g.kinds {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	writeJSON(w, http.StatusOK, map[string]any{
		"version":           cfg.Version,
		"allowStdio":        cfg.AllowStdio,
		"allowLocalNetwork": cfg.AllowLocalNetwork,
		"kinds":             kinds,
		"approvalTimeoutMs": cfg.approvalTimeout().Milliseconds(),
		"approvalModes":     cfg.approvalModes(),
		"rateLimits":        map[string]RateLimit{"principal": cfg.PrincipalRate, "connection": cfg.ConnectionRate},
		"storageBytes":      g.storageBytes(),
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeJSON writes v as the JSON response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// writeError writes {"error": "<sentence>", "code": "<word>"}, the code
// derived from the status.
func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeCodedError(w, status, statusCode(status), format, args...)
}

// writeCodedError writes an error with a code a client can branch on, so
// it never has to match the sentence.
func writeCodedError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...), "code": code})
}

// statusCode is the error code of a response that has no more specific one.
func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return "upstream_failed"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal_error"
	}
	return "error"
}

// decodeJSON reads a JSON request body into v, refusing unknown fields, and
// writes a 400 naming the problem when it cannot.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeError(w, http.StatusRequestEntityTooLarge, "the request body is larger than %d bytes", maxAPIBodyBytes)
		case errors.Is(err, io.EOF):
			writeError(w, http.StatusBadRequest, "the request body is empty; send a JSON object")
		default:
			writeError(w, http.StatusBadRequest, "invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid JSON body: unexpected data after the object")
		return false
	}
	return true
}
