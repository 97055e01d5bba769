package mcpproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpexecutor/executor/mcpproxy/mcpupstream"
	"github.com/mcpexecutor/executor/sandbox"
)

// DirectPrefix is where connections' direct endpoints live:
// /mcp/direct/<integration>/<org|user>/<connection> serves that
// connection's tools as plain MCP tools, for clients that do not write code.
// An upstream MCP server's tools keep their own names and results, so the
// endpoint is a passthrough with the gateway's credential, policy, rate
// limits and audit in the middle; OpenAPI and GraphQL tools return the same
// `{ok, data, http?}` union code mode sees.
const DirectPrefix = "/mcp/direct/"

// directEndpoints are the direct endpoints served so far, one per
// connection, built on first use and rebuilt when its tools change.
type directEndpoints struct {
	mu    sync.Mutex
	byKey map[string]*directEndpoint // by connection key
}

// directEndpoint is one connection's endpoint.
type directEndpoint struct {
	*mcpEndpoint
	key string // the connection's

	mu    sync.Mutex
	built *connTools            // the catalog entry the tool list was made from
	names map[string]*toolEntry // by the name the endpoint lists
}

// ServeDirectMCP serves a connection's direct endpoint (DirectPrefix). The
// request context must carry a Principal (WithPrincipal). A user-owned
// connection's endpoint is the caller's own connection of that name.
func (g *Gateway) ServeDirectMCP(w http.ResponseWriter, r *http.Request) {
	p, ok := PrincipalFrom(r.Context())
	if !ok {
		WriteRPCError(w, http.StatusUnauthorized, -32001, "Unauthorized")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, DirectPrefix), "/")
	if !strings.HasPrefix(r.URL.Path, DirectPrefix) || len(parts) != 3 || parts[0] == "" || parts[2] == "" ||
		(parts[1] != OwnerOrg && parts[1] != OwnerUser) {
		WriteRPCError(w, http.StatusNotFound, -32000, "Not Found: a connection's direct endpoint is "+DirectPrefix+"<integration>/<org|user>/<connection>")
		return
	}
	ct := g.catalog.connection(p, parts[0], parts[1], parts[2])
	if ct == nil {
		WriteRPCError(w, http.StatusNotFound, -32000, "Not Found: you have no connection "+strings.Join(parts, "/")+
			"; tools.executor.coreTools.connections.list() or the console's Integrations page lists yours")
		return
	}
	g.directEndpoint(ct).ServeHTTP(w, r)
}

// directEndpoint returns ct's endpoint with its tool list up to date.
func (g *Gateway) directEndpoint(ct *connTools) *directEndpoint {
	key := ct.conn.key()
	g.direct.mu.Lock()
	if g.direct.byKey == nil {
		g.direct.byKey = map[string]*directEndpoint{}
	}
	d := g.direct.byKey[key]
	if d == nil {
		d = &directEndpoint{key: key}
		path := DirectPrefix + ct.conn.Integration + "/" + ct.conn.Owner + "/" + ct.conn.Name
		d.mcpEndpoint = newEndpoint(g, path, g.mcp.streams,
			func(*mcpEndpoint) server.ToolFilterFunc { return d.filterTools },
			server.WithInstructions("The tools of the connection "+ct.conn.Address()+", served by Executor. Every call is checked against its policies and recorded."))
		d.direct = true
		g.direct.byKey[key] = d
		g.direct.dropRemovedLocked(g.catalog)
	}
	g.direct.mu.Unlock()
	d.sync()
	return d
}

// connectionChanged brings the endpoint of the connection with key, if one
// was served, up to date at once, so that clients with an open stream hear
// of new tools without having to ask; a removed connection's endpoint
// closes.
func (g *Gateway) connectionChanged(key string) {
	g.direct.mu.Lock()
	d := g.direct.byKey[key]
	g.direct.mu.Unlock()
	if d == nil {
		return
	}
	if !g.catalog.has(key) {
		g.direct.mu.Lock()
		if g.direct.byKey[key] == d {
			delete(g.direct.byKey, key)
		}
		g.direct.mu.Unlock()
		d.close()
		return
	}
	d.sync()
}

// dropRemovedLocked closes the endpoints of connections that are gone.
func (ds *directEndpoints) dropRemovedLocked(c *catalog) {
	for key, d := range ds.byKey {
		if !c.has(key) {
			delete(ds.byKey, key)
			go d.close()
		}
	}
}

func (ds *directEndpoints) close() {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for key, d := range ds.byKey {
		delete(ds.byKey, key)
		d.close()
	}
}

// sync rebuilds the tool list when the connection's tools changed since it
// was built; mcp-go then tells the endpoint's sessions the list changed.
// It reads the catalog under d.mu, so that of two syncs racing a change
// the later never installs the older tools.
func (d *directEndpoint) sync() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.g.catalog.mu.RLock()
	ct := d.g.catalog.conns[d.key]
	d.g.catalog.mu.RUnlock()
	if ct == nil || d.built == ct {
		return
	}
	names := make(map[string]*toolEntry, len(ct.tools))
	tools := make([]server.ServerTool, 0, len(ct.tools))
	for _, e := range ct.tools { // in path order, so the names are stable
		t := directTool(e)
		if err := mcp.ValidateParamHeaderAnnotations(&t); err != nil {
			d.g.logger.Warn("tool left out of the direct endpoint", "path", e.Path, "error", err)
			continue
		}
		if e.Kind == "mcp" {
			if names[t.Name] != nil {
				continue // the upstream's own names are unique
			}
		} else {
			t.Name = uniqueName(clientSafeName(t.Name), names)
		}
		names[t.Name] = e
		path, passthrough := e.Path, e.Kind == "mcp"
		tools = append(tools, server.ServerTool{Tool: t, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return d.call(ctx, path, passthrough, req), nil
		}})
	}
	d.built, d.names = ct, names
	d.server.SetTools(tools...)
}

// filterTools hides the tools a policy blocks for the caller: what it cannot
// call, it does not see.
func (d *directEndpoint) filterTools(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
	p, _ := PrincipalFrom(ctx)
	d.mu.Lock()
	names := d.names
	d.mu.Unlock()
	out := make([]mcp.Tool, 0, len(tools))
	for _, t := range tools {
		if e := names[t.Name]; e != nil && d.g.decideFor(p, e).Action != ActionBlock {
			out = append(out, t)
		}
	}
	return out
}

// maxToolName is the longest tool name the endpoint gives a tool of its
// own naming: what the strictest model APIs accept.
const maxToolName = 64

// clientSafeName is a catalog tool name (which may contain dots) as model
// APIs accept tool names, [A-Za-z0-9_-]{1,64}: "pets.getPet" becomes
// "pets_getPet". A longer name keeps its start and a hash of the whole.
func clientSafeName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	out := string(b)
	if out == "" {
		out = "tool"
	}
	if len(out) > maxToolName {
		sum := sha256.Sum256([]byte(name))
		out = out[:maxToolName-9] + "_" + hex.EncodeToString(sum[:4])
	}
	return out
}

// uniqueName is name, or name with the first free suffix _2, _3, … when
// taken already holds it.
func uniqueName(name string, taken map[string]*toolEntry) string {
	if taken[name] == nil {
		return name
	}
	for i := 2; ; i++ {
		suffix := "_" + strconv.Itoa(i)
		n := name
		if len(n)+len(suffix) > maxToolName {
			n = n[:maxToolName-len(suffix)]
		}
		if taken[n+suffix] == nil {
			return n + suffix
		}
	}
}

// directTool is how the endpoint lists a catalog tool. An upstream MCP
// server's tool keeps its own name, title, annotations and output schema;
// other tools are marked read-only unless they need an approval by default,
// and sync gives them names every client accepts.
func directTool(e *toolEntry) mcp.Tool {
	t := mcp.Tool{Name: e.Tool.Name, Description: e.Tool.Description, RawInputSchema: selfContainedSchema(e)}
	if e.Kind == "mcp" {
		var m mcpupstream.ToolMeta
		if json.Unmarshal(e.Tool.Meta, &m) == nil && m.OriginalName != "" {
			t.Name = m.OriginalName
			t.Title = m.Title
			if len(m.Annotations) > 0 {
				_ = json.Unmarshal(m.Annotations, &t.Annotations) // advisory; bad ones are dropped
			}
		}
		if len(e.Tool.OutputSchema) > 0 {
			t.RawOutputSchema = e.Tool.OutputSchema
		}
		return t
	}
	readOnly := !e.Tool.RequiresApproval
	t.Annotations.ReadOnlyHint = &readOnly
	return t
}

// selfContainedSchema is e's input schema with the shared definitions it
// references copied into its own $defs, so a client can read it alone.
func selfContainedSchema(e *toolEntry) json.RawMessage {
	raw := e.Tool.InputSchema
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage(`{"type":"object"}`)
	}
	if len(e.Defs) == 0 {
		return raw
	}
	reached := reachableDefs(raw, e.Defs)
	if len(reached) == 0 {
		return raw
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return raw
	}
	var own map[string]json.RawMessage
	_ = json.Unmarshal(obj["$defs"], &own)
	for k, v := range own {
		reached[k] = v
	}
	defs, err := json.Marshal(reached)
	if err != nil {
		return raw
	}
	obj["$defs"] = defs
	out, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return out
}

// call is one tools/call on the endpoint: through Invoke like every other
// call. A call that needs approval asks the person through the client when
// it can: inline (elicitation/create) on a session that declared
// elicitation, or, from a 2026-07-28 client that declared it, with an
// input_required round trip over a durable paused execution (see
// callPausing). Otherwise Invoke refuses it, saying where a person can
// approve it.
func (d *directEndpoint) call(ctx context.Context, path string, passthrough bool, req mcp.CallToolRequest) *mcp.CallToolResult {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return toolError("Unauthorized")
	}
	if state := req.Params.RequestState; state != "" {
		return d.resumePaused(ctx, p, path, passthrough, req, state)
	}
	c := Call{Principal: p, Path: path, Args: req.Params.RawArguments, Source: "direct"}
	switch {
	case canElicit(ctx):
		c.run = &runOptions{principal: p, source: "direct", elicit: d.elicit}
	case canAnswerInputRequests(ctx) && d.needsApproval(p, path):
		return d.callPausing(ctx, p, path, passthrough, req.Params.RawArguments)
	}
	out, err := d.g.Invoke(ctx, c)
	if err != nil {
		var thrown *ThrownError
		if errors.As(err, &thrown) {
			return toolError(thrown.Message)
		}
		return toolError("Internal tool error")
	}
	return directResult(out, passthrough)
}

// needsApproval reports whether p's call of path waits for a person under
// the policies as they are now. Invoke decides again when the call runs.
func (d *directEndpoint) needsApproval(p Principal, path string) bool {
	e, ok := d.g.catalog.lookup(p, path)
	return ok && d.g.decideFor(p, e).Action == ActionRequireApproval
}

// callPausing makes a call that needs approval for a 2026-07-28 client: as
// an execution of the one call (Invoke's checks, the approval gate, the
// audit and the durable pause all as in code mode), whose pause becomes an
// input_required result naming the execution. The client's retry carries
// the person's answer (resumePaused), possibly to another gateway process
// or after a restart.
func (d *directEndpoint) callPausing(ctx context.Context, p Principal, path string, passthrough bool, args json.RawMessage) *mcp.CallToolResult {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	var code strings.Builder
	code.WriteString("return await tools")
	for _, seg := range strings.Split(path, ".") {
		code.WriteString("[" + jsonString(seg) + "]")
	}
	// JSON.parse, not a literal: a "__proto__" key stays an own property.
	code.WriteString("(JSON.parse(" + jsonString(string(args)) + "))")
	o := &runOptions{principal: p, source: "direct", mode: ModeNative, origin: originFrom(ctx)}
	res, ex, err := d.g.startExecution(ctx, o, code.String())
	switch {
	case err != nil:
		return toolError("Error: " + err.Error())
	case ex != nil:
		return nativeRequest(ex)
	case res.Status != sandbox.StatusCompleted:
		return toolError(res.Error)
	}
	return directResult(res.Value, passthrough)
}

// resumePaused continues the paused call a client's retry names, with the
// person's answer from its input responses.
func (d *directEndpoint) resumePaused(ctx context.Context, p Principal, path string, passthrough bool, req mcp.CallToolRequest, state string) *mcp.CallToolResult {
	if ex, ok, err := d.g.loadExecution(state); err == nil && ok && ex.Principal == p.ID && ex.Source == "direct" &&
		ex.Pending != nil && ex.Pending.Path != path {
		return toolError(fmt.Sprintf("The requestState is for a call of %s, not of this tool; call the tool again without it.", ex.Pending.Path))
	}
	out, final := d.g.answerNative(ctx, p, req, state)
	if final || out.IsError {
		return out
	}
	var done struct {
		Result json.RawMessage `json:"result"`
	}
	b, err := json.Marshal(out.StructuredContent)
	if err != nil || json.Unmarshal(b, &done) != nil {
		return toolError("Internal tool error")
	}
	return directResult(done.Result, passthrough)
}

// canAnswerInputRequests reports whether the request comes from a
// 2026-07-28 client that declared elicitation for it.
func canAnswerInputRequests(ctx context.Context) bool {
	info := server.RequestProtocolInfoFromContext(ctx)
	return info != nil && info.Modern && info.ClientCapabilities != nil && info.ClientCapabilities.Elicitation != nil
}

// canElicit reports whether the request's client can be asked inline: a
// session (protocols before 2026-07-28) that declared elicitation.
func canElicit(ctx context.Context) bool {
	if mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
		return false
	}
	s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	return ok && s.GetClientCapabilities().Elicitation != nil
}

// directResult turns Invoke's union into an MCP result. With passthrough
// (an upstream MCP server's tool), the upstream's result, also one with
// isError, goes back as it sent it; anything else is the union, as text and
// as structuredContent, with isError when ok is false.
func directResult(out json.RawMessage, passthrough bool) *mcp.CallToolResult {
	var u struct {
		OK    bool            `json:"ok"`
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Code    string          `json:"code"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(out, &u); err != nil {
		return toolError("Internal tool error")
	}
	if passthrough {
		upstream := u.Data
		if !u.OK {
			upstream = nil
			if u.Error != nil && u.Error.Code == "mcp_tool_error" {
				upstream = u.Error.Details
			}
		}
		if r := upstreamResult(upstream); r != nil {
			r.IsError = r.IsError || !u.OK
			return r
		}
	}
	text := string(out)
	var buf bytes.Buffer
	if json.Indent(&buf, out, "", "  ") == nil {
		text = buf.String()
	}
	return &mcp.CallToolResult{
		Content:              []mcp.Content{mcp.NewTextContent(truncateText(text))},
		RawStructuredContent: out,
		IsError:              !u.OK,
	}
}

// upstreamResult parses raw as an MCP CallToolResult, or returns nil when it
// is not one. What belongs to the upstream's own protocol exchange (its
// result type, input requests) is dropped: this endpoint answers in its own.
func upstreamResult(raw json.RawMessage) *mcp.CallToolResult {
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	r, err := mcp.ParseCallToolResult(&raw) // fails without a content array
	if err != nil {
		return nil
	}
	r.ResultType = ""
	r.MultiRoundTripResult = mcp.MultiRoundTripResult{}
	return r
}
