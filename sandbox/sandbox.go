// Package sandbox runs untrusted, agent-written JavaScript or TypeScript in
// QuickJS (QuickJS-ng compiled to wasm, run by wazero through
// github.com/fastschema/qjs v0.0.6).
//
// The package knows nothing about MCP or HTTP. Every tools.<path>(args) call a
// script makes goes to the Bridge of its Request; everything else a script can
// reach is inside the wasm instance. Each Run gets a fresh runtime that is
// discarded afterwards, so nothing one script does is visible to the next.
//
// What a script sees:
//
//   - its code runs as the body of an async function: top-level await and
//     return work, and the returned value (JSON) is the result;
//   - tools: a lazy proxy; tools.a.b(args) returns a promise of the Bridge's
//     answer. It cannot be enumerated, assigned to or deleted from;
//   - console.log/info/warn/error/debug, captured as "[level] text" lines;
//   - emit(value), which hands a JSON value to the caller (Result.Emitted);
//   - fetch throws; setTimeout, setInterval, std, os and bjson do not exist;
//     the file system is empty;
//   - Date.now(), new Date() and Math.random() are recorded (Result.Trace) so
//     that a run can be replayed exactly (Request.Replay).
//
// Limits (Limits, Options) are enforced by the host: a CPU budget that pauses
// while tool calls are pending, a hard cap on the wasm memory, a C stack guard
// that turns any deep recursion into "stack overflow", caps on logs, result
// size and the number of tool calls.
//
// The QuickJS engine is the wasm binary of github.com/fastschema/qjs v0.0.6,
// patched (wasm.go) and driven through its C exports (quickjs.go) rather
// than through qjs's Go API; the binary is pinned by its hash.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Request is one execution.
type Request struct {
	// Code is the JavaScript or TypeScript source as the agent sent it. It
	// may be wrapped in a Markdown code fence; a program that is a single
	// function (arrow, expression or declaration) or an `export default` is
	// invoked and its value returned. At most 2 MiB, nested at most 3,000
	// levels deep.
	Code string
	// Bridge performs the script's tool calls. A nil Bridge makes every
	// tool call fail.
	Bridge Bridge
	// Limits of this run; zero fields take the defaults.
	Limits Limits
	// Replay is the Trace of an earlier run of the same Code. The run then
	// re-executes deterministically: recorded tool results are delivered
	// instead of calling the Bridge, recorded clock and random values are
	// returned, and the run continues live once the recording is used up.
	// See Run.
	Replay []Event
}

// Limits bound one run. Zero values mean the defaults.
type Limits struct {
	// Timeout is the CPU budget: only time the VM could run counts; the
	// clock is paused while the script waits for pending tool calls.
	// Default 300s.
	Timeout time.Duration
	// MaxLogBytes caps the captured console text (all lines together).
	// Beyond it lines are dropped and one line "[truncated N log bytes]" is
	// appended. Default 64 KiB.
	MaxLogBytes int
	// MaxResultBytes caps the JSON of the returned value, and separately the
	// JSON of all emitted values together. Default 4 MiB.
	MaxResultBytes int
	// MaxToolCalls caps the number of tool calls in one run; the call past
	// the limit throws "tool call limit (N) exceeded". Default 1000.
	MaxToolCalls int
	// MaxConcurrentCalls caps the Bridge calls in flight; further calls are
	// queued (their promises stay pending) until one finishes. Default 32.
	MaxConcurrentCalls int
}

// Default limits.
const (
	DefaultTimeout            = 300 * time.Second
	DefaultMaxLogBytes        = 64 << 10
	DefaultMaxResultBytes     = 4 << 20
	DefaultMaxToolCalls       = 1000
	DefaultMaxConcurrentCalls = 32
)

func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxLogBytes <= 0 {
		l.MaxLogBytes = DefaultMaxLogBytes
	}
	if l.MaxResultBytes <= 0 {
		l.MaxResultBytes = DefaultMaxResultBytes
	}
	if l.MaxToolCalls <= 0 {
		l.MaxToolCalls = DefaultMaxToolCalls
	}
	if l.MaxConcurrentCalls <= 0 {
		l.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	return l
}

// Bridge connects a script's tool calls to the outside world.
type Bridge interface {
	// Call performs one tools.<path>(args) call. args is the JSON the
	// script passed (`null` if none).
	//
	// The returned JSON becomes the promise's resolved value (parsed in JS
	// with JSON.parse; nil means null, invalid JSON rejects the promise).
	// A returned error rejects the promise with new Error(err.Error()), so
	// the message must be fit for the script to read.
	// An error that is (errors.As) a *Suspend stops the run: see Suspension.
	//
	// Call runs on its own goroutine; many may run concurrently. ctx is
	// canceled when the run ends.
	Call(ctx context.Context, call Call) (json.RawMessage, error)
}

// BridgeFunc adapts a function to Bridge.
type BridgeFunc func(ctx context.Context, call Call) (json.RawMessage, error)

// Call implements Bridge.
func (f BridgeFunc) Call(ctx context.Context, call Call) (json.RawMessage, error) {
	return f(ctx, call)
}

// Call is one tool call made by a script.
type Call struct {
	// Seq numbers the calls of a run from 1 in the order the script made
	// them; a replayed run gives its calls the same numbers.
	Seq int `json:"seq"`
	// Path is the dotted property chain: tools.github.issues.list → "github.issues.list".
	Path string `json:"path"`
	// Args is the JSON of the first argument, `null` if none.
	Args json.RawMessage `json:"args"`
}

// Suspend, returned (possibly wrapped) by Bridge.Call, stops the run: the
// call's promise never settles, and Run returns Status "suspended" with the
// Reason. The caller resumes later by running the same code again with the
// returned Trace as Request.Replay; the suspended call is then made again,
// for real, once the replay reaches it.
type Suspend struct {
	Reason any
}

func (s *Suspend) Error() string {
	return fmt.Sprintf("execution suspended: %v", s.Reason)
}

// Status of a finished run.
type Status string

// Statuses.
const (
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusSuspended Status = "suspended"
)

// ErrorKind classifies a failed run.
type ErrorKind string

// Error kinds.
const (
	KindSyntax     ErrorKind = "syntax"     // the code does not parse (TypeScript or JavaScript)
	KindRuntime    ErrorKind = "runtime"    // the script threw, or returned something that is not JSON
	KindTimeout    ErrorKind = "timeout"    // CPU budget used up, the caller's context ended, or nothing left to wait for
	KindMemory     ErrorKind = "memory"     // the runtime ran out of memory
	KindStack      ErrorKind = "stack"      // recursion too deep
	KindDivergence ErrorKind = "divergence" // a replayed run did not repeat its recording
	KindLimit      ErrorKind = "limit"      // the result is larger than MaxResultBytes
	KindInternal   ErrorKind = "internal"   // the sandbox itself failed
)

// Result of a run. Logs, Emitted, Trace and Duration are filled whatever the
// Status.
type Result struct {
	Status Status
	// Value is the JSON of the returned value when Status is completed;
	// `null` for undefined or no return.
	Value json.RawMessage
	// Error is the message when Status is failed, formatted like QuickJS
	// formats an uncaught error ("Error: boom\n    at f (code.ts:3:9)"),
	// with positions in the agent's code; syntax errors read
	// "SyntaxError: <what> (line:column)".
	Error     string
	ErrorKind ErrorKind
	// Logs are the console lines, "[log] a 1", "[warn] w", …
	Logs []string
	// Emitted are the values passed to emit(value), in order.
	Emitted []json.RawMessage
	// Trace records everything nondeterministic that entered the VM, in
	// order; pass it as Request.Replay to re-run deterministically.
	Trace []Event
	// Suspended is set when Status is suspended.
	Suspended *Suspension
	// Duration is the VM time consumed, waits for tool calls excluded.
	Duration time.Duration
}

// Suspension describes why a run stopped before finishing.
type Suspension struct {
	// Call is the tool call whose Bridge.Call returned the *Suspend.
	Call Call
	// Reason is Suspend.Reason.
	Reason any
}

// EventKind names what an Event records.
type EventKind string

// Event kinds.
const (
	// EventCall: the script started tool call Seq with Path and Args.
	EventCall EventKind = "call"
	// EventResult: the result of call Seq was handed to the script (OK and
	// Value, or Error). Undelivered marks results that arrived after the
	// run was suspended and were never seen by the script.
	EventResult EventKind = "result"
	// EventNow: Date.now() or new Date() returned Time (milliseconds since
	// the epoch) Count times in a row.
	EventNow EventKind = "now"
	// EventSeed: Math.random() was seeded with Seed (four 32-bit words of
	// xoshiro128**); all its values follow from it.
	EventSeed EventKind = "seed"
)

// Event is one nondeterministic input of a run. It is JSON-serialisable with
// short field names so that traces stay small.
type Event struct {
	Kind        EventKind       `json:"k"`
	Seq         int             `json:"s,omitempty"`
	Path        string          `json:"p,omitempty"`
	Args        json.RawMessage `json:"a,omitempty"`
	OK          bool            `json:"ok,omitempty"`
	Value       json.RawMessage `json:"v,omitempty"`
	Error       string          `json:"e,omitempty"`
	Undelivered bool            `json:"u,omitempty"`
	Time        float64         `json:"t,omitempty"`
	Count       int             `json:"n,omitempty"`
	Seed        []uint32        `json:"r,omitempty"`
}

func (ev Event) describe() string {
	switch ev.Kind {
	case EventCall:
		return fmt.Sprintf("called tools.%s(%s)", ev.Path, preview(ev.Args))
	case EventResult:
		return fmt.Sprintf("received the result of call #%d", ev.Seq)
	case EventNow:
		return "read the clock (Date.now() or new Date())"
	case EventSeed:
		return "used Math.random()"
	}
	return string(ev.Kind)
}

func preview(raw json.RawMessage) string {
	const max = 200
	if len(raw) > max {
		return string(raw[:max]) + "…"
	}
	return string(raw)
}

// errClosed is returned by Run after Engine.Close.
var errClosed = errors.New("sandbox: engine is closed")
