package mcpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpexecutor/executor/sandbox"
	"github.com/mcpexecutor/executor/store"
)

// A paused execution is durable: when a tool call needs a person's approval
// the run stops, and the execution — its code, who ran it, the trace of
// everything the script received so far (tool results, clock and random
// values) and the pending call — is written to the store. Resuming runs the
// code again in a fresh sandbox and replays the trace, so calls made before
// the pause are never repeated upstream, the run survives a restart, and any
// session of the same principal can resume it.

// DefaultApprovalTimeout is how long a paused call waits for a decision
// before it is declined automatically.
const DefaultApprovalTimeout = 240 * time.Second

// browserResumeWait is how long resume waits for a decision made in the
// console (browser mode).
const browserResumeWait = 4*time.Minute + time.Second

// maxArgsPreview caps the arguments shown in an approval message.
const maxArgsPreview = 4000

// Execution statuses.
const (
	statusPaused   = "paused"
	statusResuming = "resuming"
	statusSettled  = "settled"
)

// execution is a paused (or settled) code-mode run.
type execution struct {
	ID        string           `json:"id"`
	Principal string           `json:"principal"`
	Session   string           `json:"session,omitempty"`
	Mode      string           `json:"mode"`   // model, browser, native, console
	Source    string           `json:"source"` // execute, console
	Code      string           `json:"code"`
	Trace     []sandbox.Event  `json:"trace"`
	Pending   *pendingCall     `json:"pending,omitempty"`
	Status    string           `json:"status"`
	Decision  *approval        `json:"decision,omitempty"`
	Outcome   *storedOutcome   `json:"outcome,omitempty"`
	CreatedAt time.Time        `json:"createdAt"`
	ExpiresAt time.Time        `json:"expiresAt"`
	Origin    string           `json:"origin,omitempty"`
	Approved  map[int]approval `json:"approved,omitempty"` // earlier approvals of this run, by call seq
}

// pendingCall is the call waiting for a decision, bound to its exact
// address and arguments.
type pendingCall struct {
	Seq         int             `json:"seq"`
	Path        string          `json:"path"`
	Args        json.RawMessage `json:"args"`
	Hash        string          `json:"hash"`
	Message     string          `json:"message"`
	Pattern     string          `json:"pattern,omitempty"`
	Description string          `json:"description,omitempty"`
	// Target is where the call goes (method and URL, or server and tool),
	// as the integration describes it; empty when it cannot.
	Target string `json:"target,omitempty"`
}

// approval is a decision on one pending call.
type approval struct {
	Action  string          `json:"action"` // accept, decline, cancel
	Content json.RawMessage `json:"content,omitempty"`
	Hash    string          `json:"hash"`
	By      string          `json:"by"`
	Reason  string          `json:"reason,omitempty"`
	At      time.Time       `json:"at"`
}

// storedOutcome is what a settled execution returned, replayed to anyone
// who resumes it again.
type storedOutcome struct {
	Result *mcp.CallToolResult `json:"result"`
	Next   string              `json:"next,omitempty"` // the execution it paused again as
}

// callHash binds an approval to one call: the canonical address and
// arguments.
func callHash(path string, args json.RawMessage) string {
	return argsDigest(json.RawMessage(`{"address":` + jsonString("tools."+path) + `,"args":` + string(canonicalJSON(args)) + `}`))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// approvalMessage is what the human sees: the tool's own description of the
// call (or the address and the rule), then the exact arguments.
func approvalMessage(e *toolEntry, d decision, args json.RawMessage, target string) string {
	head := e.Tool.ApprovalDescription
	switch {
	case head != "":
	case d.Pattern != "":
		head = fmt.Sprintf("Approve %s? (matched policy: %s)", e.Address(), d.Pattern)
	default:
		head = fmt.Sprintf("Approve %s?", e.Address())
	}
	var pretty strings.Builder
	if b, err := json.MarshalIndent(json.RawMessage(args), "", "  "); err == nil {
		pretty.Write(b)
	} else {
		pretty.Write(args)
	}
	preview := pretty.String()
	if len(preview) > maxArgsPreview {
		preview = preview[:maxArgsPreview] + "\n… [truncated]"
	}
	if target != "" {
		head += "\n\nSends: " + target
	}
	return head + "\n\nArguments:\n" + preview
}

// runOptions say how one run treats calls that need approval.
type runOptions struct {
	principal Principal
	execution string // id of the run (a paused execution keeps it)
	source    string
	mode      string
	session   string
	origin    string
	// approved are decisions for calls of this run, by seq (from resume).
	approved map[int]approval
	// autoApprove accepts every approval inline (the console's Run panel).
	autoApprove bool
	// elicit asks the MCP client inline (native mode on 2025 protocols); it
	// returns accept, decline or cancel.
	elicit func(ctx context.Context, message string) string
}

// approvalGate is the part of Invoke that handles require_approval for a
// run: a decision given for this exact call, an inline answer, or a
// suspension that makes the run durable.
func (o *runOptions) gate(ctx context.Context, seq int, e *toolEntry, d decision, args json.RawMessage, target string) error {
	hash := callHash(e.Path, args)
	if a, ok := o.approved[seq]; ok {
		if a.Hash != hash {
			return &ThrownError{Message: fmt.Sprintf("The approval for call #%d was given for different arguments; tools.%s was not called. Run execute again.", seq, e.Path)}
		}
		if a.Action == "accept" {
			return nil
		}
		return declined(e.Path, a.Action)
	}
	if o.autoApprove {
		return nil
	}
	msg := approvalMessage(e, d, args, target)
	if o.elicit != nil {
		if a := o.elicit(ctx, msg); a != "accept" {
			return declined(e.Path, a)
		}
		return nil
	}
	return &sandbox.Suspend{Reason: &pendingCall{Seq: seq, Path: e.Path, Args: args, Hash: hash, Message: msg, Pattern: d.Pattern,
		Description: e.Tool.ApprovalDescription, Target: target}}
}

func declined(path, action string) error {
	verb := "declined"
	if action == "cancel" {
		verb = "cancelled"
	}
	return &ThrownError{Message: fmt.Sprintf("Tool %q requires approval but the request was %s by the user.", path, verb), outcome: "declined"}
}

// runCode executes code (or replays a paused execution) with o's approval
// rules and returns the sandbox result.
func (g *Gateway) runCode(ctx context.Context, code string, replay []sandbox.Event, o *runOptions) sandbox.Result {
	release, ok := g.running.take(o.principal.ID, g.maxRunning())
	if !ok {
		return sandbox.Result{Status: sandbox.StatusFailed, ErrorKind: sandbox.KindLimit, Error: fmt.Sprintf(
			"%d of your executions are running already, the most there may be at once; wait for one to finish, or run the calls of several in one execution", g.maxRunning())}
	}
	defer release()
	bridge := sandbox.BridgeFunc(func(ctx context.Context, call sandbox.Call) (json.RawMessage, error) {
		return g.Invoke(ctx, Call{Principal: o.principal, Path: call.Path, Args: call.Args, Source: o.source, Execution: o.execution, seq: call.Seq, run: o})
	})
	return g.sandbox.Run(ctx, sandbox.Request{Code: code, Bridge: bridge, Limits: g.config().Limits, Replay: replay})
}

// startExecution runs code for an MCP or console request and, if it pauses,
// stores it. It returns the result and, when paused, the stored execution.
func (g *Gateway) startExecution(ctx context.Context, o *runOptions, code string) (sandbox.Result, *execution, error) {
	if g.sandbox == nil {
		return sandbox.Result{}, nil, errors.New("the sandbox engine is not configured")
	}
	o.execution = newExecutionID()
	res := g.runCode(ctx, code, nil, o)
	if res.Status != sandbox.StatusSuspended {
		return res, nil, nil
	}
	ex, err := g.pause(o, code, res)
	return res, ex, err
}

// pause stores a suspended run as a new paused execution.
func (g *Gateway) pause(o *runOptions, code string, res sandbox.Result) (*execution, error) {
	pc, ok := res.Suspended.Reason.(*pendingCall)
	if !ok {
		return nil, fmt.Errorf("the run stopped for an unknown reason: %v", res.Suspended.Reason)
	}
	now := time.Now().UTC()
	timeout := g.config().approvalTimeout()
	ex := &execution{ID: o.execution, Principal: o.principal.ID, Session: o.session, Mode: o.mode, Source: o.source, Code: code,
		Trace: res.Trace, Pending: pc, Status: statusPaused, CreatedAt: now, ExpiresAt: now.Add(timeout), Origin: o.origin, Approved: o.approved}
	err := g.store.Update(func(tx store.Tx) error {
		waiting, err := waitingExecutions(tx, ex.Principal, ex.ID, now)
		if err != nil {
			return err
		}
		if limit := g.maxWaiting(); waiting >= limit {
			return &userError{http.StatusTooManyRequests, fmt.Sprintf(
				"%d of your executions already wait for a decision, the most there may be; decide on them (the console's Approvals page) or let them expire, then run this again", limit)}
		}
		return tx.PutJSON(store.Executions, ex.ID, ex)
	})
	var tooMany *userError
	if errors.As(err, &tooMany) {
		g.audit(context.Background(), o.principal, auditRecord{Kind: "call", Address: "tools." + pc.Path, Decision: ActionRequireApproval,
			Pattern: pc.Pattern, Outcome: "too_many_waiting", ArgsDigest: pc.Hash, Source: o.source, Execution: ex.ID})
		return nil, tooMany
	}
	if err != nil {
		return nil, fmt.Errorf("saving the paused execution: %w", err)
	}
	g.pruneExecutionsNow(now)
	g.audit(context.Background(), o.principal, auditRecord{Kind: "call", Address: "tools." + pc.Path, Decision: ActionRequireApproval,
		Pattern: pc.Pattern, Outcome: "paused", ArgsDigest: pc.Hash, Source: o.source, Execution: ex.ID})
	return ex, nil
}

// maxRunningPerPrincipal bounds the executions of one principal that run at
// once (security.md H14): each holds a runtime and may wait minutes for its
// tool calls, and the rate limit bounds how fast they start, not how many
// pile up behind slow upstreams.
const maxRunningPerPrincipal = 32

func (g *Gateway) maxRunning() int {
	if n := g.config().maxRunning; n > 0 {
		return n
	}
	return maxRunningPerPrincipal
}

// maxWaitingPerPrincipal bounds the executions of one principal that wait
// for a decision at once. Each holds its code and everything its tool calls
// returned so far, so an agent pausing in a loop could otherwise fill the
// database (security.md K13).
const maxWaitingPerPrincipal = 100

// executionRetention is how long an execution is kept: from its start, or
// for one still paused from the end of its approval window. Long enough to
// look into, not forever.
const executionRetention = 7 * 24 * time.Hour

func (g *Gateway) maxWaiting() int {
	if n := g.config().maxWaiting; n > 0 {
		return n
	}
	return maxWaitingPerPrincipal
}

// waitingExecutions counts principal's executions that wait for a decision
// at now, other than the one with id except.
func waitingExecutions(tx store.Tx, principal, except string, now time.Time) (int, error) {
	n := 0
	err := tx.ForEach(store.Executions, "", func(id string, v []byte) error {
		var ex struct {
			Principal string    `json:"principal"`
			Status    string    `json:"status"`
			ExpiresAt time.Time `json:"expiresAt"`
		}
		if id != except && json.Unmarshal(v, &ex) == nil && ex.Principal == principal && ex.Status == statusPaused && now.Before(ex.ExpiresAt) {
			n++
		}
		return nil
	})
	return n, err
}

// pruneExecutionsNow starts pruneExecutions in the background, at most once
// an hour.
func (g *Gateway) pruneExecutionsNow(now time.Time) {
	last := g.executionsPruned.Load()
	if now.UnixMilli()-last < time.Hour.Milliseconds() || !g.executionsPruned.CompareAndSwap(last, now.UnixMilli()) {
		return
	}
	go func() {
		if err := g.pruneExecutions(now); err != nil {
			g.logger.Error("pruning old executions", "error", err)
		}
		g.checkStorage()
	}()
}

// storageAlarm is the size of the database above which the gateway warns,
// and again each time it has doubled since the last warning (security.md
// K13): the audit log, executions and tool catalogs are bounded, but an
// operator should hear of a file that grows anyway.
var storageAlarm int64 = 1 << 30

// checkStorage logs a warning when the database has grown past the alarm.
func (g *Gateway) checkStorage() {
	size := g.storageBytes()
	if warned := g.storageWarned.Load(); size >= max(storageAlarm, 2*warned) && g.storageWarned.CompareAndSwap(warned, size) {
		g.logger.Warn("the database file is large; look at what the audit log, executions and integrations hold",
			"bytes", size, "mib", size>>20)
	}
}

// storageBytes is the size of the database file.
func (g *Gateway) storageBytes() int64 {
	var size int64
	_ = g.store.View(func(tx store.Tx) error { size = tx.Size(); return nil })
	return size
}

// pruneExecutions deletes the executions that started, or, still paused,
// whose approval window closed, more than executionRetention before now.
func (g *Gateway) pruneExecutions(now time.Time) error {
	cutoff := now.Add(-executionRetention)
	return g.store.Update(func(tx store.Tx) error {
		var old []string
		err := tx.ForEach(store.Executions, "", func(id string, v []byte) error {
			var ex struct {
				Status    string    `json:"status"`
				CreatedAt time.Time `json:"createdAt"`
				ExpiresAt time.Time `json:"expiresAt"`
			}
			if json.Unmarshal(v, &ex) != nil {
				return nil
			}
			end := ex.CreatedAt
			if ex.Status == statusPaused {
				end = ex.ExpiresAt
			}
			if end.Before(cutoff) {
				old = append(old, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range old {
			if err := tx.Delete(store.Executions, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadExecution reads an execution.
func (g *Gateway) loadExecution(id string) (*execution, bool, error) {
	var ex execution
	var ok bool
	err := g.store.View(func(tx store.Tx) error {
		var err error
		ok, err = tx.GetJSON(store.Executions, id, &ex)
		return err
	})
	return &ex, ok, err
}

// errUnavailable says why an execution cannot be resumed.
type errUnavailable struct{ status string }

func (e *errUnavailable) Error() string { return e.status }

// decide records a decision on a paused execution, atomically and once: a
// second decision, a decision by another principal or one after the
// approval window are refused. The approval is bound to the pending call.
func (g *Gateway) decide(p Principal, id, action string, content json.RawMessage, session string) (*execution, error) {
	var ex execution
	err := g.store.Update(func(tx store.Tx) error {
		ok, err := tx.GetJSON(store.Executions, id, &ex)
		if err != nil {
			return err
		}
		if !ok {
			return &errUnavailable{"execution_not_found"}
		}
		if ex.Principal != p.ID || (session != "" && ex.Session != session) {
			return &errUnavailable{"execution_forbidden"}
		}
		if ex.Status != statusPaused || ex.Decision != nil {
			return &errUnavailable{"execution_already_settled"}
		}
		if time.Now().After(ex.ExpiresAt) {
			return &errUnavailable{"execution_expired"}
		}
		ex.Decision = &approval{Action: action, Content: content, Hash: ex.Pending.Hash, By: p.ID, At: time.Now().UTC()}
		return tx.PutJSON(store.Executions, id, &ex)
	})
	if err != nil {
		return nil, err
	}
	g.audit(context.Background(), p, auditRecord{Kind: "approval", Address: "tools." + ex.Pending.Path, Decision: ActionRequireApproval,
		Pattern: ex.Pending.Pattern, Outcome: decisionWord(action), ArgsDigest: ex.Pending.Hash, Source: "console", Execution: id})
	g.decisions.signal(id)
	return &ex, nil
}

func decisionWord(action string) string {
	switch action {
	case "accept":
		return "approved"
	case "cancel":
		return "canceled"
	}
	return "denied"
}

// continueExecution resumes a paused execution for p with action (the
// agent's answer in model mode; a decision already recorded by a person
// wins). It claims the execution atomically, so concurrent resumes run it
// once; a repeated resume returns the recorded outcome.
func (g *Gateway) continueExecution(ctx context.Context, p Principal, id, action string, content json.RawMessage, o *runOptions) (*mcp.CallToolResult, error) {
	if v, ok := g.inflight.Load(id); ok {
		select {
		case <-v.(chan struct{}):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var ex execution
	// decidedHere: the decision is made by this resume (the agent's answer
	// or the approval window's timeout) rather than recorded earlier by a
	// person, who was audited then.
	claimed, decidedHere := false, false
	err := g.store.Update(func(tx store.Tx) error {
		decidedHere = false
		ok, err := tx.GetJSON(store.Executions, id, &ex)
		if err != nil {
			return err
		}
		if !ok {
			return &errUnavailable{"execution_not_found"}
		}
		if ex.Principal != p.ID {
			return &errUnavailable{"execution_forbidden"}
		}
		switch ex.Status {
		case statusSettled:
			return nil
		case statusResuming:
			return &errUnavailable{"execution_already_settled"}
		}
		if ex.Decision == nil {
			if action == "" {
				return &errUnavailable{"awaiting_decision"}
			}
			ex.Decision = &approval{Action: action, Content: content, Hash: ex.Pending.Hash, By: p.ID, At: time.Now().UTC()}
			decidedHere = true
		}
		if time.Now().After(ex.ExpiresAt) && ex.Decision.At.After(ex.ExpiresAt) {
			// The window closed before anyone decided: the call is declined.
			ex.Decision = &approval{Action: "decline", Hash: ex.Pending.Hash, By: "timeout", Reason: "approval_timeout", At: ex.ExpiresAt}
			decidedHere = true
		}
		ex.Status = statusResuming
		claimed = true
		return tx.PutJSON(store.Executions, id, &ex)
	})
	if err != nil {
		return nil, err
	}
	if !claimed {
		return ex.Outcome.Result, nil
	}
	done := make(chan struct{})
	g.inflight.Store(id, done)
	defer func() {
		g.inflight.Delete(id)
		close(done)
	}()
	outcome := g.runContinuation(ctx, p, &ex, o)
	err = g.store.Update(func(tx store.Tx) error {
		ex.Status, ex.Outcome = statusSettled, outcome
		ex.Trace, ex.Code = nil, "" // the outcome is all a later resume needs
		return tx.PutJSON(store.Executions, id, &ex)
	})
	if err != nil {
		return nil, fmt.Errorf("recording the outcome of %s: %w", id, err)
	}
	if decidedHere {
		word := decisionWord(ex.Decision.Action)
		if ex.Decision.By == "timeout" {
			word = "timed_out"
		}
		g.audit(ctx, p, auditRecord{Kind: "approval", Address: "tools." + ex.Pending.Path, Decision: ActionRequireApproval, Pattern: ex.Pending.Pattern,
			Outcome: word, ArgsDigest: ex.Pending.Hash, Source: ex.Source, Execution: id})
	}
	return outcome.Result, nil
}

// runContinuation replays the execution with its decision and formats what
// happens next: completion, failure, or another pause (a new execution).
func (g *Gateway) runContinuation(ctx context.Context, p Principal, ex *execution, o *runOptions) *storedOutcome {
	if o == nil {
		o = &runOptions{}
	}
	o.principal, o.source, o.execution = p, ex.Source, ex.ID
	if o.mode == "" {
		o.mode = ex.Mode
	}
	if o.session == "" {
		o.session = ex.Session
	}
	if o.origin == "" {
		o.origin = ex.Origin
	}
	o.approved = map[int]approval{}
	for k, v := range ex.Approved {
		o.approved[k] = v
	}
	o.approved[ex.Pending.Seq] = *ex.Decision
	res := g.runCode(ctx, ex.Code, ex.Trace, o)
	if res.Status == sandbox.StatusSuspended {
		o.execution = newExecutionID()
		next, err := g.pause(o, ex.Code, res)
		if err != nil {
			return &storedOutcome{Result: toolError("Error: " + err.Error())}
		}
		return &storedOutcome{Result: g.pausedResult(next), Next: next.ID}
	}
	return &storedOutcome{Result: formatExecution(res)}
}

// pausedResult tells the agent what to do about a paused execution,
// depending on the mode.
func (g *Gateway) pausedResult(ex *execution) *mcp.CallToolResult {
	pc := ex.Pending
	ttl := time.Until(ex.ExpiresAt).Milliseconds()
	if ex.Mode == ModeBrowser {
		url := fmt.Sprintf("%s/resume/%s?mcp_session_id=%s", ex.Origin, ex.ID, ex.Session)
		prompt := fmt.Sprintf("After the user has decided, call the resume tool with executionId %q. It waits for their decision (up to 4 minutes); if it returns this message again, ask the user whether they have decided.", ex.ID)
		text := "User approval required.\n\nTell the user to open this URL while signed in and approve or decline the paused interaction:\n" + url +
			"\n\nRequired next steps for this agent:\n" + prompt
		return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(text)},
			StructuredContent: map[string]any{"status": "user_approval_required", "executionId": ex.ID, "approvalUrl": url, "resumePrompt": prompt,
				"expiresAt": ex.ExpiresAt.Format(time.RFC3339), "ttlMs": ttl}}
	}
	instructions := fmt.Sprintf("Ask the user for values matching requestedSchema: show them the message and the arguments, and ask whether to approve this call. "+
		"Then call the resume tool with executionId %q and action \"accept\" if they approve, \"decline\" if they do not, or \"cancel\" to stop.", ex.ID)
	var args any = json.RawMessage(pc.Args)
	text := fmt.Sprintf("Execution paused: %s\n\nThis call needs the user's approval before it runs.\nexecutionId: %s\nresumeDeadline: %s (%d minutes approval window)\ninstructions: %s",
		pc.Message, ex.ID, ex.ExpiresAt.Format(time.RFC3339), int(time.Until(ex.ExpiresAt).Round(time.Minute).Minutes()), instructions)
	return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(text)},
		StructuredContent: map[string]any{
			"status": "waiting_for_interaction", "executionId": ex.ID, "expiresAt": ex.ExpiresAt.Format(time.RFC3339), "ttlMs": ttl,
			"interaction": map[string]any{
				"kind": "form", "message": pc.Message, "instructions": instructions, "address": "tools." + pc.Path, "args": args,
				"requestedSchema": map[string]any{"type": "object", "properties": map[string]any{}},
			},
		}}
}

// unavailableResult turns a resume refusal into the agent-facing result.
func unavailableResult(err error, id string) (*mcp.CallToolResult, bool) {
	var ue *errUnavailable
	if !errors.As(err, &ue) {
		return nil, false
	}
	return executionUnavailable(ue.status, id), true
}

// ---- decisions waiting (browser mode) ----

// decisionWaiters wakes a resume that waits for a person's decision.
type decisionWaiters struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func (d *decisionWaiters) wait(id string) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = map[string]chan struct{}{}
	}
	c, ok := d.ch[id]
	if !ok {
		c = make(chan struct{})
		d.ch[id] = c
	}
	return c
}

func (d *decisionWaiters) signal(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.ch[id]; ok {
		close(c)
		delete(d.ch, id)
	}
}

// awaitDecision waits until a person decided on id, the window closes, or
// max elapses; it polls the store too, so a decision made through another
// gateway process (sharing the file after a restart) is seen.
func (g *Gateway) awaitDecision(ctx context.Context, p Principal, id string, max time.Duration) (*execution, error) {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		wake := g.decisions.wait(id)
		ex, ok, err := g.loadExecution(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &errUnavailable{"execution_not_found"}
		}
		if ex.Principal != p.ID {
			return nil, &errUnavailable{"execution_forbidden"}
		}
		if ex.Decision != nil || ex.Status != statusPaused || time.Now().After(ex.ExpiresAt) {
			return ex, nil
		}
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			return ex, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ---- MCP: execute and resume ----

// executeMCP runs code for an MCP request in the session's mode.
func (e *mcpEndpoint) executeMCP(ctx context.Context, p Principal, req mcp.CallToolRequest, code string) *mcp.CallToolResult {
	g := e.g
	mode := e.modeOf(ctx)
	sid := ""
	if cs := server.ClientSessionFromContext(ctx); cs != nil {
		sid = cs.SessionID()
	}
	o := &runOptions{principal: p, source: "execute", mode: mode, session: sid, origin: originFrom(ctx)}
	modern := mcp.IsModernProtocol(server.RequestProtocolVersion(ctx))
	if mode == ModeNative {
		if st := req.Params.RequestState; st != "" {
			return e.resumeNative(ctx, p, req, st)
		}
		if !modern {
			o.elicit = func(ctx context.Context, message string) string { return e.elicit(ctx, message) }
		}
	}
	res, ex, err := g.startExecution(ctx, o, code)
	if err != nil {
		return toolError("Error: " + err.Error())
	}
	if ex == nil {
		return formatExecution(res)
	}
	if mode == ModeNative {
		return nativeRequest(ex)
	}
	return g.pausedResult(ex)
}

// elicit asks the client inline (protocols before 2026-07-28); any failure
// (no elicitation support, an error) counts as cancel.
func (e *mcpEndpoint) elicit(ctx context.Context, message string) string {
	res, err := e.server.RequestElicitation(ctx, mcp.ElicitationRequest{
		Request: mcp.Request{Method: string(mcp.MethodElicitationCreate)},
		Params:  mcp.ElicitationParams{Message: message, RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{}}},
	})
	if err != nil || res == nil {
		return "cancel"
	}
	return string(res.Action)
}

// nativeRequest asks a 2026-07-28 client for the decision with a multi
// round-trip input request; the request state names the durable execution,
// so the retry may come after a restart or to another process.
func nativeRequest(ex *execution) *mcp.CallToolResult {
	return server.NewInputRequestBuilder(ex.ID).Elicit("approval", mcp.ElicitationParams{
		Message:         ex.Pending.Message,
		RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{}},
	}).ToolResult()
}

// resumeNative continues an execution when the client retries with the
// user's answer.
func (e *mcpEndpoint) resumeNative(ctx context.Context, p Principal, req mcp.CallToolRequest, state string) *mcp.CallToolResult {
	out, final := e.g.answerNative(ctx, p, req, state)
	if final {
		return out
	}
	if next := nextPaused(out); next != "" {
		if ex, ok, _ := e.g.loadExecution(next); ok {
			return nativeRequest(ex)
		}
	}
	return out
}

// answerNative continues the paused execution a 2026-07-28 retry names
// (state), with the person's answer from its input responses. When final,
// out goes back as it is: a refusal, an error, or another input request.
func (g *Gateway) answerNative(ctx context.Context, p Principal, req mcp.CallToolRequest, state string) (out *mcp.CallToolResult, final bool) {
	action := "cancel"
	if r := server.ElicitationResponse(req.Params.InputResponses, "approval"); r != nil {
		action = string(r.Action)
	}
	out, err := g.continueExecution(ctx, p, state, action, nil, &runOptions{mode: ModeNative})
	if err != nil {
		if r, ok := unavailableResult(err, state); ok {
			return r, true
		}
		return toolError("Error: " + err.Error()), true
	}
	return out, out.NeedsInput()
}

// nextPaused returns the execution id a result says the run paused as.
func nextPaused(r *mcp.CallToolResult) string {
	if m, ok := r.StructuredContent.(map[string]any); ok {
		if id, ok := m["executionId"].(string); ok && (m["status"] == "waiting_for_interaction" || m["status"] == "user_approval_required") {
			return id
		}
	}
	return ""
}

// resumeMCP is the resume tool: model mode takes the agent's action; browser
// mode waits for the person's decision in the console.
func (g *Gateway) resumeMCP(ctx context.Context, p Principal, id string, args map[string]any, mode string) *mcp.CallToolResult {
	action, _ := args["action"].(string)
	var content json.RawMessage
	if c, ok := args["content"].(string); ok && c != "" && c != "{}" && json.Valid([]byte(c)) {
		content = json.RawMessage(c)
	}
	if mode != ModeBrowser {
		// A call paused for a person's decision in the console stays theirs
		// to decide, whichever session asks to resume it.
		if ex, ok, err := g.loadExecution(id); err == nil && ok && ex.Mode == ModeBrowser {
			mode = ModeBrowser
		}
	}
	if mode == ModeBrowser {
		ex, err := g.awaitDecision(ctx, p, id, browserResumeWait)
		if err != nil {
			if r, ok := unavailableResult(err, id); ok {
				return r
			}
			return toolError("Error: " + err.Error())
		}
		if ex.Status == statusPaused && ex.Decision == nil && time.Now().Before(ex.ExpiresAt) {
			return g.pausedResult(ex)
		}
		action = ""
	} else if action != "accept" && action != "decline" && action != "cancel" {
		return toolError(`MCP error -32602: Input validation error: Invalid arguments for tool resume: action must be "accept", "decline" or "cancel"`)
	}
	out, err := g.continueExecution(ctx, p, id, action, content, nil)
	if err != nil {
		if r, ok := unavailableResult(err, id); ok {
			return r
		}
		return toolError("Error: " + err.Error())
	}
	return out
}

// ---- API: browser approvals and the console's Run panel ----

func (g *Gateway) handleSessionExecutionGet(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	ex, ok, err := g.loadExecution(r.PathValue("eid"))
	if err != nil {
		g.writeErr(w, err)
		return
	}
	if !ok || ex.Principal != p.ID || ex.Session != r.PathValue("sid") || ex.Pending == nil {
		writeError(w, http.StatusNotFound, "Paused execution not found")
		return
	}
	res := g.pausedResult(ex)
	writeJSON(w, http.StatusOK, map[string]any{"text": res.Content[0].(mcp.TextContent).Text, "structured": res.StructuredContent,
		"status": ex.Status, "decided": ex.Decision != nil, "pending": pendingView(ex)})
}

// pendingView is the exact call a person approves: address, arguments and
// the rule that asked.
func pendingView(ex *execution) map[string]any {
	pc := ex.Pending
	return map[string]any{"executionId": ex.ID, "address": "tools." + pc.Path, "args": json.RawMessage(pc.Args), "message": pc.Message,
		"pattern": pc.Pattern, "description": pc.Description, "target": pc.Target, "mode": ex.Mode, "source": ex.Source, "createdAt": ex.CreatedAt.UnixMilli(),
		"expiresAt": ex.ExpiresAt.UnixMilli(), "status": ex.Status, "decision": ex.Decision}
}

var decisionTexts = map[string][2]string{
	"accept":  {"I've approved it", "approved"},
	"decline": {"I've denied it", "denied"},
	"cancel":  {"I've canceled it", "canceled"},
}

func (g *Gateway) handleSessionExecutionResume(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Action  string          `json:"action"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || decisionTexts[req.Action][0] == "" {
		writeError(w, http.StatusBadRequest, "Invalid approval response")
		return
	}
	id := r.PathValue("eid")
	if _, err := g.decide(p, id, req.Action, req.Content, r.PathValue("sid")); err != nil {
		var ue *errUnavailable
		if errors.As(err, &ue) && (ue.status == "execution_not_found" || ue.status == "execution_forbidden") {
			writeError(w, http.StatusNotFound, "Paused execution not found")
			return
		}
		if errors.As(err, &ue) {
			writeError(w, http.StatusConflict, "This paused execution is no longer available (%s).", ue.status)
			return
		}
		g.writeErr(w, err)
		return
	}
	t := decisionTexts[req.Action]
	writeJSON(w, http.StatusOK, map[string]any{"status": "completed", "text": t[0], "structured": map[string]any{"status": t[1], "executionId": id}, "isError": false})
}

// executionResponse is the console Run panel's view of a result.
func executionResponse(res *mcp.CallToolResult) map[string]any {
	text := ""
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			text += tc.Text
		}
	}
	status := "completed"
	if nextPaused(res) != "" {
		status = "paused"
	}
	return map[string]any{"status": status, "text": text, "structured": res.StructuredContent, "isError": res.IsError}
}

func (g *Gateway) handleExecutionCreate(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Code        string `json:"code"`
		AutoApprove bool   `json:"autoApprove"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Code) == "" {
		writeError(w, http.StatusBadRequest, "code is required")
		return
	}
	o := &runOptions{principal: p, source: "console", mode: "console", autoApprove: req.AutoApprove, origin: requestOrigin(r)}
	res, ex, err := g.startExecution(r.Context(), o, req.Code)
	if err != nil {
		g.writeErr(w, err)
		return
	}
	if ex != nil {
		writeJSON(w, http.StatusOK, executionResponse(g.pausedResult(ex)))
		return
	}
	writeJSON(w, http.StatusOK, executionResponse(formatExecution(res)))
}

func executionNotFound(w http.ResponseWriter, id string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"_tag": "ExecutionNotFoundError", "executionId": id, "error": "Paused execution not found"})
}

func (g *Gateway) handleExecutionGet(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	id := r.PathValue("id")
	ex, ok, err := g.loadExecution(id)
	if err != nil {
		g.writeErr(w, err)
		return
	}
	if !ok || ex.Principal != p.ID || ex.Pending == nil {
		executionNotFound(w, id)
		return
	}
	out := pendingView(ex)
	if ex.Outcome != nil {
		out["outcome"] = executionResponse(ex.Outcome.Result)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleExecutionsList is GET /api/executions?status=paused: the caller's
// executions waiting for a decision (the console's Approvals page).
func (g *Gateway) handleExecutionsList(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	want := r.URL.Query().Get("status")
	out := []map[string]any{}
	err := g.store.View(func(tx store.Tx) error {
		return tx.ForEach(store.Executions, "", func(_ string, v []byte) error {
			var ex execution
			if json.Unmarshal(v, &ex) != nil || ex.Principal != p.ID || ex.Pending == nil {
				return nil
			}
			if want != "" && ex.Status != want {
				return nil
			}
			if ex.Status == statusPaused && time.Now().After(ex.ExpiresAt) {
				ex.Status = "expired"
				if want == statusPaused {
					return nil
				}
			}
			out = append(out, pendingView(&ex))
			return nil
		})
	})
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleExecutionResume is POST /api/executions/{id}/resume {action}: a
// person's decision from the console. An execution started in the console
// continues right away; one started by an agent records the decision, which
// the agent's resume then uses.
func (g *Gateway) handleExecutionResume(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Action  string          `json:"action"`
		Content json.RawMessage `json:"content"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if decisionTexts[req.Action][0] == "" {
		writeError(w, http.StatusBadRequest, `action must be "accept", "decline" or "cancel"`)
		return
	}
	id := r.PathValue("id")
	ex, ok, err := g.loadExecution(id)
	if err != nil {
		g.writeErr(w, err)
		return
	}
	if !ok || ex.Principal != p.ID {
		executionNotFound(w, id)
		return
	}
	if ex.Source == "console" || ex.Status == statusSettled {
		out, err := g.continueExecution(r.Context(), p, id, req.Action, req.Content, nil)
		if err != nil {
			g.writeUnavailable(w, err, id)
			return
		}
		writeJSON(w, http.StatusOK, executionResponse(out))
		return
	}
	if _, err := g.decide(p, id, req.Action, req.Content, ""); err != nil {
		g.writeUnavailable(w, err, id)
		return
	}
	t := decisionTexts[req.Action]
	writeJSON(w, http.StatusOK, map[string]any{"status": "decided", "text": t[0], "structured": map[string]any{"status": t[1], "executionId": id}, "isError": false})
}

func (g *Gateway) writeUnavailable(w http.ResponseWriter, err error, id string) {
	var ue *errUnavailable
	if errors.As(err, &ue) {
		switch ue.status {
		case "execution_not_found", "execution_forbidden":
			executionNotFound(w, id)
		default:
			writeJSON(w, http.StatusConflict, map[string]string{"error": "This paused execution is no longer available: " + ue.status, "status": ue.status, "executionId": id})
		}
		return
	}
	g.writeErr(w, err)
}
