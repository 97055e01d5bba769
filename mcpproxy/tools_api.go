package mcpproxy

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/mcpexecutor/executor/mcpproxy/mcpupstream"
)

// toolView is one tool in GET /api/tools.
type toolView struct {
	Address             string `json:"address"`
	Owner               string `json:"owner,omitempty"`
	Integration         string `json:"integration"`
	Connection          string `json:"connection,omitempty"`
	Name                string `json:"name"`
	PluginID            string `json:"pluginId"`
	Description         string `json:"description,omitempty"`
	RequiresApproval    bool   `json:"requiresApproval,omitempty"`
	ApprovalDescription string `json:"approvalDescription,omitempty"`
	Static              bool   `json:"static,omitempty"`
	// Policy is the decision for the caller: approve, require_approval or
	// block; PolicyPattern and PolicyID name the rule that made it, and
	// PolicyDefault is true when no rule matched and the tool's own
	// annotation decided.
	Policy        string `json:"policy,omitempty"`
	PolicyPattern string `json:"policyPattern,omitempty"`
	PolicyID      string `json:"policyId,omitempty"`
	PolicyDefault bool   `json:"policyDefault,omitempty"`
}

// handleToolsList is GET /api/tools?integration&owner&connection&query&includeBlocked.
func (g *Gateway) handleToolsList(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	entries := g.listable(p)
	if q.Get("includeBlocked") == "true" {
		entries = g.catalog.visible(p)
	}
	if query := strings.TrimSpace(q.Get("query")); query != "" {
		hits := rank(entries, newSearchQuery(query, ""))
		entries = entries[:0:0]
		for _, h := range hits {
			entries = append(entries, h.entry)
		}
	}

	out := []toolView{}
	for _, e := range entries {
		if (q.Get("integration") != "" && e.Integration != q.Get("integration")) || (q.Get("owner") != "" && e.Owner != q.Get("owner")) ||
			(q.Get("connection") != "" && e.Connection != q.Get("connection")) {
			continue
		}
		d := g.decideFor(p, e)
		out = append(out, toolView{Address: e.Address(), Owner: e.Owner, Integration: e.Integration, Connection: e.Connection, Name: e.Tool.Name,
			PluginID: e.Kind, Description: e.Tool.Description, RequiresApproval: e.Tool.RequiresApproval,
			ApprovalDescription: e.Tool.ApprovalDescription, Static: e.Static,
			Policy: d.Action, PolicyPattern: d.Pattern, PolicyID: d.PolicyID, PolicyDefault: d.Default})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleToolSchema is GET /api/tools/schema?address=.
func (g *Gateway) handleToolSchema(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	path := strings.TrimPrefix(r.URL.Query().Get("address"), "tools.")
	e, ok := g.catalog.lookup(p, path)
	if !ok {
		writeError(w, http.StatusNotFound, "tool %q not found", r.URL.Query().Get("address"))
		return
	}
	d := describeEntry(e)
	writeJSON(w, http.StatusOK, map[string]any{
		"address":               e.Address(),
		"name":                  e.Tool.Name,
		"description":           e.Tool.Description,
		"inputSchema":           rawOrNull(e.Tool.InputSchema),
		"outputSchema":          rawOrNull(e.Tool.OutputSchema),
		"schemaDefinitions":     e.Defs,
		"inputTypeScript":       d.InputTypeScript,
		"outputTypeScript":      d.OutputTypeScript,
		"typeScriptDefinitions": d.TypeScriptDefinitions,
		"requiresApproval":      e.Tool.RequiresApproval,
		"approvalDescription":   e.Tool.ApprovalDescription,
	})
}

func rawOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// handleMCPStatus is GET /api/mcp/status: the state of pooled upstream MCP
// clients and stdio child processes.
func (g *Gateway) handleMCPStatus(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	out := []mcpupstream.ConnectionStatus{}
	if k, ok := g.kinds["mcp"].(*mcpupstream.Kind); ok {
		for _, s := range k.Status() {
			// Keys are owner/subject/integration/name: show org connections
			// and the caller's own.
			parts := strings.SplitN(s.Key, "/", 3)
			if len(parts) == 3 && (parts[0] == OwnerOrg || parts[1] == p.ID) {
				out = append(out, s)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}
