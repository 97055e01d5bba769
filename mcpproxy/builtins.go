package mcpproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/mcpexecutor/executor/mcpproxy/tsschema"
)

func (g *Gateway) invokeBuiltin(ctx context.Context, p Principal, path string, args json.RawMessage) (json.RawMessage, error) {
	var v any
	var err error
	switch path {
	case "search":
		v, err = g.builtinSearch(p, args)
	case "describe.tool":
		v, err = g.builtinDescribe(p, args)
	case "executor.integrations.list":
		v, err = g.builtinIntegrations(p, args)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// pageArgs are the paging arguments builtins share.
type pageArgs struct {
	Query     *string  `json:"query"`
	Namespace *string  `json:"namespace"`
	Limit     *float64 `json:"limit"`
	Offset    *float64 `json:"offset"`
}

func parsePageArgs(name string, args json.RawMessage, defLimit int) (q, ns string, limit, offset int, err error) {
	var a pageArgs
	if len(args) == 0 || args[0] != '{' || json.Unmarshal(args, &a) != nil {
		return "", "", 0, 0, &ThrownError{Message: fmt.Sprintf("%s expects an object: { query?: string; namespace?: string; limit?: number; offset?: number }", name)}
	}
	limit, offset = defLimit, 0
	if a.Limit != nil {
		if *a.Limit <= 0 || *a.Limit != float64(int(*a.Limit)) {
			return "", "", 0, 0, &ThrownError{Message: name + " limit must be a positive number when provided"}
		}
		limit = min(int(*a.Limit), 200)
	}
	if a.Offset != nil {
		if *a.Offset < 0 || *a.Offset != float64(int(*a.Offset)) {
			return "", "", 0, 0, &ThrownError{Message: name + " offset must be a non-negative number when provided"}
		}
		offset = int(*a.Offset)
	}
	if a.Query != nil {
		q = *a.Query
	}
	if a.Namespace != nil {
		ns = *a.Namespace
	}
	return q, ns, limit, offset, nil
}

// page is the paged result shape of search and list builtins.
type page struct {
	Items      []any `json:"items"`
	Total      int   `json:"total"`
	HasMore    bool  `json:"hasMore"`
	NextOffset *int  `json:"nextOffset"`
}

func paginate[T any](all []T, limit, offset int, item func(T) any) page {
	p := page{Items: []any{}, Total: len(all)}
	for i := offset; i < len(all) && i < offset+limit; i++ {
		p.Items = append(p.Items, item(all[i]))
	}
	if offset+limit < len(all) {
		p.HasMore = true
		next := offset + limit
		p.NextOffset = &next
	}
	return p
}

type searchItem struct {
	Path        string `json:"path"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Integration string `json:"integration"`
	Score       int    `json:"score"`
}

// builtinSearch is tools.search({query?, namespace?, limit?=12, offset?=0}).
func (g *Gateway) builtinSearch(p Principal, args json.RawMessage) (any, error) {
	q, ns, limit, offset, err := parsePageArgs("tools.search", args, 12)
	if err != nil {
		return nil, err
	}
	hits := g.search(p, newSearchQuery(q, ns))
	return paginate(hits, limit, offset, func(h searchHit) any {
		return searchItem{Path: h.entry.Path, Name: h.entry.Tool.Name, Description: h.entry.Tool.Description, Integration: h.entry.Integration, Score: h.score}
	}), nil
}

// search ranks the tools p may discover: the index picks the candidates,
// then they are scored. An empty query lists a namespace.
func (g *Gateway) search(p Principal, q searchQuery) []searchHit {
	if !q.hasQuery {
		return rank(g.listable(p), q)
	}
	ix := g.catalog.index()
	blocks := g.policies.hasBlock(p)
	var cand []*toolEntry
	for _, i := range ix.candidates(&q) {
		e := ix.entries[i]
		if canSee(p, e) && (!blocks || g.decideFor(p, e).Action != ActionBlock) {
			cand = append(cand, e)
		}
	}
	return rank(cand, q)
}

// listable is what p may discover: visible tools minus blocked ones.
func (g *Gateway) listable(p Principal) []*toolEntry {
	all := g.catalog.visible(p)
	if !g.policies.hasBlock(p) {
		return all
	}
	out := all[:0:0]
	for _, e := range all {
		if g.decideFor(p, e).Action != ActionBlock {
			out = append(out, e)
		}
	}
	return out
}

// suggestions are up to five paths close to an unknown one: a search for
// its last segment within its first segment's namespace, then everywhere.
func (g *Gateway) suggestions(p Principal, path string) []string {
	segs := strings.Split(path, ".")
	last, first := segs[len(segs)-1], segs[0]
	hits := g.search(p, newSearchQuery(last, first))
	if len(hits) == 0 {
		hits = g.search(p, newSearchQuery(last, ""))
	}
	out := []string{}
	for i := 0; i < len(hits) && i < 5; i++ {
		out = append(out, hits[i].entry.Path)
	}
	if len(out) == 0 {
		for _, e := range g.listable(p) {
			if len(out) < 5 && strings.HasPrefix(e.Path, first+".") {
				out = append(out, e.Path)
			}
		}
	}
	return out
}

// Standard TypeScript definitions every describe output may reference.
var standardDefinitions = map[string]string{
	"ToolError":    "{ code: string; message: string; status?: number; details?: unknown; retryable?: boolean; }",
	"ToolHttpMeta": "{ status: number; headers: Record<string, string>; }",
	"ToolFile":     "{ name: string; mimeType: string; size: number; base64: string; }",
}

type describeOut struct {
	Path                  string            `json:"path"`
	Name                  string            `json:"name"`
	Description           string            `json:"description,omitempty"`
	InputTypeScript       string            `json:"inputTypeScript,omitempty"`
	OutputTypeScript      string            `json:"outputTypeScript,omitempty"`
	TypeScriptDefinitions map[string]string `json:"typeScriptDefinitions,omitempty"`
	Error                 map[string]any    `json:"error,omitempty"`
}

// builtinDescribe is tools.describe.tool({path}).
func (g *Gateway) builtinDescribe(p Principal, args json.RawMessage) (any, error) {
	var a map[string]json.RawMessage
	if json.Unmarshal(args, &a) != nil {
		return nil, &ThrownError{Message: "tools.describe.tool expects an object: { path: string }"}
	}
	if _, ok := a["includeSchemas"]; ok {
		return nil, &ThrownError{Message: "tools.describe.tool no longer accepts includeSchemas; it always returns TypeScript shapes"}
	}
	var path string
	if json.Unmarshal(a["path"], &path) != nil || path == "" {
		return nil, &ThrownError{Message: "tools.describe.tool expects an object: { path: string }"}
	}
	path = strings.TrimPrefix(path, "tools.")
	if d, ok := builtinDescriptors[path]; ok {
		return d, nil
	}
	e, ok := g.catalog.lookup(p, path)
	if ok && g.decideFor(p, e).Action == ActionBlock {
		ok = false // a blocked tool is not there for the agent
	}
	if !ok {
		return describeOut{Path: path, Name: path, Error: map[string]any{
			"code": "tool_not_found", "message": "Tool not found: " + path, "suggestions": g.suggestions(p, path),
		}}, nil
	}
	return describeEntry(e), nil
}

func describeEntry(e *toolEntry) describeOut {
	r := tsschema.NewRenderer(e.Defs)
	out := describeOut{Path: e.Path, Name: e.Tool.Name, Description: e.Tool.Description}
	if len(e.Tool.InputSchema) > 0 {
		out.InputTypeScript = r.Type(e.Tool.InputSchema)
	} else {
		out.InputTypeScript = "{}"
	}
	data := "unknown"
	if len(e.Tool.OutputSchema) > 0 {
		data = r.Type(e.Tool.OutputSchema)
	}
	out.OutputTypeScript = "{ ok: true; data: " + data + "; http?: ToolHttpMeta } | { ok: false; error: ToolError }"
	out.TypeScriptDefinitions = r.Definitions()
	if out.TypeScriptDefinitions == nil {
		out.TypeScriptDefinitions = map[string]string{}
	}
	for k, v := range standardDefinitions {
		out.TypeScriptDefinitions[k] = v
	}
	return out
}

// builtinDescriptors describe the builtins themselves.
var builtinDescriptors = map[string]describeOut{
	"search": {
		Path: "search", Name: "search",
		Description:      "Search the tools you can call. Returns paths to pass to tools.describe.tool and to call as tools.<path>(args).",
		InputTypeScript:  "{ query?: string; namespace?: string; limit?: number; offset?: number; }",
		OutputTypeScript: "{ items: { path: string; name: string; description?: string; integration: string; score: number; }[]; total: number; hasMore: boolean; nextOffset: number | null; }",
	},
	"describe.tool": {
		Path: "describe.tool", Name: "describe.tool",
		Description:      "Describe one tool: its input and output as TypeScript.",
		InputTypeScript:  "{ path: string; }",
		OutputTypeScript: "{ path: string; name: string; description?: string; inputTypeScript?: string; outputTypeScript?: string; typeScriptDefinitions?: Record<string, string>; }",
	},
	"executor.integrations.list": {
		Path: "executor.integrations.list", Name: "executor.integrations.list",
		Description:      "List integrations with how many tools you can call in each.",
		InputTypeScript:  "{ query?: string; limit?: number; offset?: number; }",
		OutputTypeScript: "{ items: { id: string; name: string; description?: string; kind: string; canRemove?: boolean; canRefresh?: boolean; toolCount: number; }[]; total: number; hasMore: boolean; nextOffset: number | null; }",
	},
}

// integrationSummary is one integration in lists.
type integrationSummary struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Kind        string `json:"kind"`
	CanRemove   bool   `json:"canRemove"`
	CanRefresh  bool   `json:"canRefresh"`
	ToolCount   int    `json:"toolCount"`
}

// integrationSummaries lists integrations with the number of tools p can
// call in each; the built-in `executor` integration comes first.
func (g *Gateway) integrationSummaries(p Principal) ([]integrationSummary, error) {
	ints, err := g.listIntegrations()
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, e := range g.listable(p) {
		counts[e.Integration]++
	}
	out := []integrationSummary{{ID: "executor", Name: "Executor", Description: "The gateway's own tools", Kind: "built-in", ToolCount: counts["executor"]}}
	for _, in := range ints {
		out = append(out, integrationSummary{ID: in.Slug, Name: in.Name, Description: in.Description, Kind: in.Kind,
			CanRemove: in.Source != "caddyfile", CanRefresh: true, ToolCount: counts[in.Slug]})
	}
	return out, nil
}

// builtinIntegrations is tools.executor.integrations.list({query?, limit?=50, offset?}).
func (g *Gateway) builtinIntegrations(p Principal, args json.RawMessage) (any, error) {
	q, _, limit, offset, err := parsePageArgs("tools.executor.integrations.list", args, 50)
	if err != nil {
		return nil, err
	}
	all, err := g.integrationSummaries(p)
	if err != nil {
		return nil, err
	}
	if q = normalizeSearch(q); q != "" {
		var kept []integrationSummary
		for _, s := range all {
			if strings.Contains(normalizeSearch(s.ID+" "+s.Name+" "+s.Description+" "+s.Kind), q) {
				kept = append(kept, s)
			}
		}
		all = kept
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ID == "executor" && all[j].ID != "executor" })
	return paginate(all, limit, offset, func(s integrationSummary) any { return s }), nil
}
