package mcpproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/sandbox"
)

// decideFor is the policy decision for p calling e. System tools that change
// configuration are protected: a rule can make them stricter (block) but
// never lift their approval, so injected code cannot write itself an
// `approve *` rule.
func (g *Gateway) decideFor(p Principal, e *toolEntry) decision {
	d := g.policies.decide(p, e.segs, e.Tool.RequiresApproval)
	if e.system != nil && e.system.protected && d.Action == ActionApprove {
		d = decision{Action: ActionRequireApproval, Default: true}
	}
	return d
}

// Call is one tool call, from any entry point: code mode, the console's Run
// panel, or a connection's direct endpoint. Every one goes through Invoke.
type Call struct {
	Principal Principal
	// Path is the sandbox path: the tool address without "tools.".
	Path string
	// Args is the JSON arguments object (null or empty means {}).
	Args json.RawMessage
	// Source names the entry point for the audit log: "execute", "console",
	// "direct".
	Source string
	// Execution is the code-mode execution the call belongs to, if any.
	Execution string

	// seq numbers the call within its run; run holds the run's approval
	// rules. Without a run, a call that needs approval is refused.
	seq int
	run *runOptions
}

// ThrownError rejects the tool call inside the sandbox (the script sees an
// exception) instead of returning a result value. Its message is shown to
// the agent as is, so it never carries secrets or internal details.
type ThrownError struct {
	Message string
	// outcome is what the audit log records instead of "thrown".
	outcome string
}

func (e *ThrownError) Error() string { return e.Message }

// builtins are sandbox paths the gateway answers itself.
var builtins = map[string]bool{"search": true, "describe.tool": true, "executor.integrations.list": true}

// Invoke is the single path every tool call takes: resolve the tool, check
// the policy, validate the arguments, inject the connection's credential,
// call the integration, and record the call. It returns the JSON the caller
// sees (the `{ok,…}` union for tools, plain values for the search and
// describe builtins), or a *ThrownError.
func (g *Gateway) Invoke(ctx context.Context, c Call) (json.RawMessage, error) {
	args := c.Args
	if len(bytes.TrimSpace(args)) == 0 || bytes.Equal(bytes.TrimSpace(args), []byte("null")) {
		args = json.RawMessage("{}")
	}
	if c.Path == "" {
		return nil, &ThrownError{Message: "Tool path missing in invocation"}
	}
	if builtins[c.Path] {
		return g.invokeBuiltin(ctx, c.Principal, c.Path, args)
	}
	e, ok := g.catalog.lookup(c.Principal, c.Path)
	if !ok {
		return marshalResult(notFound(g, c.Principal, c.Path))
	}
	if args[0] != '{' {
		return marshalResult(&integration.Result{Error: &integration.ToolError{
			Code: "invalid_tool_arguments", Message: "Tool arguments must be an object.",
		}})
	}
	if limited := g.limits.Load().take(c.Principal.ID, e.connectionKey(c.Principal), g.now()); limited != nil {
		g.audit(ctx, c.Principal, auditRecord{Kind: "call", Address: e.Address(), args: args,
			Outcome: "rate_limited", Source: c.Source, Execution: c.Execution})
		return marshalResult(limited.result())
	}
	start := time.Now()
	d, res, err := g.run(ctx, c, e, args)
	rec := auditRecord{Kind: "call", Address: e.Address(), Decision: d.Action, Pattern: d.Pattern, PolicyID: d.PolicyID,
		DurationMS: time.Since(start).Milliseconds(), args: args, Source: c.Source, Execution: c.Execution}
	var susp *sandbox.Suspend
	switch {
	case errors.As(err, &susp):
		return nil, err // audited when the execution is stored
	case err != nil:
		var thrown *ThrownError
		if errors.As(err, &thrown) {
			rec.Outcome = "thrown"
			if thrown.outcome != "" {
				rec.Outcome = thrown.outcome
			}
			g.audit(ctx, c.Principal, rec)
			return nil, err
		}
		rec.Outcome = "internal_error"
		g.audit(ctx, c.Principal, rec)
		return nil, g.defect(c.Path, err)
	case res.OK:
		rec.Outcome = "ok"
	case res.Error != nil:
		rec.Outcome = res.Error.Code
	}
	g.audit(ctx, c.Principal, rec)
	return marshalResult(res)
}

// run decides and performs a call to a catalog tool: the policy decision
// first (a blocked call goes no further), then the arguments (so a doomed
// call never waits for an approval), then the approval gate, then the call.
func (g *Gateway) run(ctx context.Context, c Call, e *toolEntry, args json.RawMessage) (decision, *integration.Result, error) {
	d := g.decideFor(c.Principal, e)
	if d.Action == ActionBlock {
		return d, &integration.Result{Error: &integration.ToolError{
			Code:    "tool_blocked",
			Message: "Tool blocked by policy: " + e.Path,
			Details: map[string]any{"address": e.Address(), "pattern": d.Pattern},
		}}, nil
	}
	kind, hasKind := g.kinds[e.Kind]
	if f, ok := kind.(interface {
		FlattenArgs(*integration.Tool, json.RawMessage) (json.RawMessage, *integration.Result, error)
	}); ok && e.system == nil {
		flat, res, err := f.FlattenArgs(e.Tool, args)
		if err != nil || res != nil {
			return d, res, err
		}
		args = flat
	}
	if issues := validateArgs(e, args); len(issues) > 0 {
		return d, &integration.Result{Error: &integration.ToolError{
			Code:    "invalid_tool_arguments",
			Message: "Tool arguments did not match the input schema.",
			Details: map[string]any{"issues": issues},
		}}, nil
	}
	if d.Action == ActionRequireApproval {
		if c.run == nil {
			return d, nil, noApprover(c.Source, e.Path)
		}
		if err := c.run.gate(ctx, c.seq, e, d, args, g.target(ctx, c.Principal, e, kind, args)); err != nil {
			return d, nil, err
		}
	}
	res, err := g.perform(ctx, c, e, kind, hasKind, args)
	return d, res, err
}

// target says where a call would go, for the person deciding on it
// (security.md M7): the kind's description of the request, or "".
func (g *Gateway) target(ctx context.Context, p Principal, e *toolEntry, kind integration.Kind, args json.RawMessage) string {
	t, ok := kind.(integration.Targeter)
	if !ok || e.system != nil {
		return ""
	}
	conn, err := g.resolveConnection(ctx, p, e)
	if err != nil {
		return ""
	}
	return t.Target(conn, e.Tool, args)
}

// perform calls the tool: a system tool in process, or the integration kind
// with the connection's credential.
func (g *Gateway) perform(ctx context.Context, c Call, e *toolEntry, kind integration.Kind, hasKind bool, args json.RawMessage) (*integration.Result, error) {
	if e.system != nil {
		data, err := e.system.run(ctx, g, c.Principal, args)
		if err != nil {
			var te *integration.ToolError
			if errors.As(err, &te) {
				return &integration.Result{Error: te}, nil
			}
			return nil, err
		}
		return integration.Succeed(data, nil), nil
	}
	if !hasKind {
		return nil, fmt.Errorf("integration kind %q is not available in this build", e.Kind)
	}
	conn, err := g.resolveConnection(ctx, c.Principal, e)
	if err != nil {
		var te *integration.ToolError
		if errors.As(err, &te) {
			return &integration.Result{Error: te}, nil
		}
		return nil, err
	}
	res, err := kind.Call(ctx, conn, e.Tool, args)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, errors.New("integration returned no result")
	}
	if s, ok := kind.(interface{ Stale(key string) bool }); ok && s.Stale(conn.Key) {
		g.scheduleRefresh(conn.Key)
	}
	return res, nil
}

// noApprover refuses a call that needs approval where nobody can be asked.
func noApprover(source, path string) error {
	msg := fmt.Sprintf("Tool %q requires approval; call it from execute or the console, where a person can approve it.", path)
	if source == "direct" {
		msg = fmt.Sprintf("Tool %q requires a person's approval, and this MCP client cannot be asked for it (it did not declare elicitation). "+
			"Call it through execute on /mcp, where the call waits for an approval, or ask an administrator for a policy that approves it.", path)
	}
	return &ThrownError{Message: msg, outcome: "approval_unavailable"}
}

func notFound(g *Gateway, p Principal, path string) *integration.Result {
	if reason := g.catalog.heldTool(p, path); reason != "" {
		// Nothing of the held definition: not even its description.
		what := "changed its definition"
		if reason == "new" {
			what = "added it"
		}
		return &integration.Result{Error: &integration.ToolError{
			Code:    "tool_held",
			Message: fmt.Sprintf("Tool held: the MCP server %s after a person last approved the connection's tools, so it is kept from agents until someone reviews it (console: the connection's Refresh button; API: POST /api/connections/…/refresh).", what),
			Details: map[string]any{"path": path, "reason": reason},
		}}
	}
	return &integration.Result{Error: &integration.ToolError{
		Code:    "tool_not_found",
		Message: "Tool not found: " + path,
		Details: map[string]any{"path": path, "suggestions": g.suggestions(p, path)},
	}}
}

// defect hides an internal error behind a correlation id: the agent sees
// only the id; the cause is logged.
func (g *Gateway) defect(path string, err error) error {
	id := correlationID()
	g.logger.Error("internal tool error", "id", id, "path", path, "error", err)
	return &ThrownError{Message: "Internal tool error [" + id + "]"}
}

// correlationID is 8 random hex characters that tie a message shown to a
// user to the log line holding the cause.
func correlationID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func marshalResult(r *integration.Result) (json.RawMessage, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding tool result: %w", err)
	}
	return b, nil
}
