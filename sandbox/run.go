package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxTraceEvents bounds a run's trace; only clock readings can approach it
// (tool calls are bounded by MaxToolCalls).
const maxTraceEvents = 100_000

// maxCodeBytes bounds the source of one run (esbuild and QuickJS hold
// several copies of it).
const maxCodeBytes = 2 << 20

// settleGrace is how long jobs may keep running after the script settled.
const settleGrace = 50 * time.Millisecond

// Run executes req on a fresh runtime, on the caller's goroutine, and
// discards the runtime afterwards. It never panics and always returns a
// Result; ctx ending stops the run (ErrorKind "timeout").
//
// Tool calls: each tools.<path>(args) starts Bridge.Call on its own
// goroutine. Results are handed to the script one at a time, each followed
// by running every job it caused, in the order they arrive; the Trace records
// that order.
//
// Replay: with req.Replay set, Run re-executes the code and, while the
// recording lasts, each tool call the script starts must equal the next
// recorded one (same path, byte-identical arguments) or the run stops with
// ErrorKind "divergence"; recorded calls are not sent to the Bridge, their
// results are handed over in the recorded order whenever the script waits,
// and Date.now()/Math.random() return the recorded values. Once the
// recording is used up the run continues live: results that arrived after a
// suspension are delivered first, then the calls that were started but never
// answered (the suspended one, typically) are sent to the Bridge in Seq
// order. The returned Trace holds the replayed events followed by the new
// ones, so it can itself be replayed.
func (e *Engine) Run(ctx context.Context, req Request) Result {
	lim := req.Limits.withDefaults()
	if len(req.Code) > maxCodeBytes {
		return Result{Status: StatusFailed, ErrorKind: KindLimit,
			Error: fmt.Sprintf("the code is %d bytes, more than the limit of %d; send a shorter program", len(req.Code), maxCodeBytes)}
	}
	prog := e.programs.get(req.Code)
	if prog.syntaxErr != "" {
		return Result{Status: StatusFailed, ErrorKind: KindSyntax, Error: prog.syntaxErr}
	}
	r := newRun(e, ctx, req, lim, prog)
	if _, err := e.take(r); err != nil {
		msg := "the sandbox could not start a runtime"
		if errors.Is(err, errClosed) {
			msg = "the sandbox is shut down"
		} else {
			e.log.Error("sandbox: building a runtime failed", "err", err)
		}
		return Result{Status: StatusFailed, ErrorKind: KindInternal, Error: msg}
	}
	defer e.release(r)
	defer r.cancelCalls()
	stop := context.AfterFunc(ctx, func() { r.vm.interrupt(causeCanceled) })
	defer stop()
	r.execute()
	return r.result()
}

// completion is the outcome of one Bridge call.
type completion struct {
	call       Call
	ok         bool
	value      json.RawMessage
	errMsg     string
	suspend    *Suspend
	notStarted bool // the run was suspended before the call reached the Bridge
}

// run is the state of one execution. Everything but the channels is used
// only on the goroutine that called Run (host functions run there too).
type run struct {
	e      *Engine
	vm     *vm
	ctx    context.Context
	lim    Limits
	bridge Bridge
	prog   *program

	callCtx     context.Context
	cancelCalls context.CancelFunc

	logs       []string
	logBytes   int
	logDropped int
	emitted    []json.RawMessage
	emitBytes  int
	trace      []Event

	done        bool   // the main function settled
	doneKind    string // "ok", "throw", "unserialisable"
	donePayload string
	evalErr     error // an exception escaped an Eval
	trap        any   // a panic came out of the VM
	stalled     bool  // nothing left to wait for, yet not settled

	seq         int
	live        int // Bridge calls launched and not yet reported
	completions chan completion
	sem         chan struct{}
	halt        chan struct{} // closed on suspension: queued calls must not start
	queued      []completion  // delivered before anything live
	delivering  *completion
	made        []Call // calls the current evaluation made, not yet sent (see start)
	suspension  *Suspension

	replay     []Event // the positional part of Request.Replay
	pos        int
	nowUsed    int
	late       []Event // results recorded as undelivered
	wentLive   bool
	unresolved map[int]Call // replayed calls still waiting for a result

	remaining  time.Duration
	vmTime     time.Duration
	budget     *time.Timer // interrupts the VM when the budget is used up; runs only in exec
	grace      *time.Timer // ends the VM shortly after the script settled
	divergence string
}

func newRun(e *Engine, ctx context.Context, req Request, lim Limits, prog *program) *run {
	r := &run{
		e:           e,
		ctx:         ctx,
		lim:         lim,
		bridge:      req.Bridge,
		prog:        prog,
		completions: make(chan completion, lim.MaxConcurrentCalls),
		sem:         make(chan struct{}, lim.MaxConcurrentCalls),
		halt:        make(chan struct{}),
		remaining:   lim.Timeout,
		unresolved:  map[int]Call{},
	}
	r.callCtx, r.cancelCalls = context.WithCancel(context.WithoutCancel(ctx))
	for _, ev := range req.Replay {
		if ev.Kind == EventResult && ev.Undelivered {
			r.late = append(r.late, ev)
		} else {
			r.replay = append(r.replay, ev)
		}
	}
	if len(r.replay) == 0 {
		r.goLive()
	}
	return r
}

func (r *run) execute() {
	defer func() {
		if p := recover(); p != nil {
			r.trap = p
		}
	}()
	if exc := r.exec(r.evalMain); exc != "" {
		r.evalErr = errors.New(exc)
		return
	}
	// Calls made by a script that settled without waiting for them are
	// sent all the same, and canceled with the rest when Run returns.
	defer r.start()
	for !r.done {
		c, ok := r.next()
		if !ok {
			return
		}
		r.delivering = &c
		if exc := r.exec(r.vm.deliver); exc != "" {
			r.evalErr = errors.New(exc)
			return
		}
	}
}

// evalMain evaluates the program, compiling it first unless an earlier run
// of the same code left its bytecode in the cache.
func (r *run) evalMain() string {
	bc := r.prog.bytecode()
	if bc == nil {
		var exc string
		if bc, exc = r.vm.compile(r.vm.files.code, r.prog.js); exc != "" {
			return exc
		}
		r.prog.setBytecode(bc)
	}
	return r.vm.evalBytecode(r.vm.files.code, bc)
}

// exec runs f (which calls into the VM) with the CPU budget running and
// returns the text of an exception that escaped.
func (r *run) exec(f func() string) string {
	start := time.Now()
	if r.remaining <= 0 {
		r.vm.interrupt(causeBudget)
	}
	if r.budget == nil {
		r.budget = time.AfterFunc(r.remaining, func() { r.vm.interrupt(causeBudget) })
	} else {
		r.budget.Reset(r.remaining)
	}
	defer func() {
		r.budget.Stop()
		if r.grace != nil {
			r.grace.Stop()
		}
		d := time.Since(start)
		r.vmTime += d
		r.remaining -= d
	}()
	return f()
}

// next returns the completion to deliver, waiting (with the budget clock
// stopped) for a Bridge call if needed. It returns false when the run must
// stop: suspended, diverged, canceled, or nothing left that could settle it.
func (r *run) next() (completion, bool) {
	if r.replaying() {
		ev := r.replay[r.pos]
		if ev.Kind != EventResult {
			r.diverge("the script is waiting for tool results, but the recorded run " + ev.describe() + " first")
			return completion{}, false
		}
		call, ok := r.unresolved[ev.Seq]
		if !ok {
			r.diverge(fmt.Sprintf("the recording delivers the result of call #%d, which the script has not made", ev.Seq))
			return completion{}, false
		}
		delete(r.unresolved, ev.Seq)
		r.trace = append(r.trace, ev)
		r.pos++
		r.consumed()
		return completionOf(call, ev), true
	}
	if len(r.made) == 1 && r.live == 0 && len(r.queued) == 0 {
		return r.callHere()
	}
	r.start()
	if len(r.queued) > 0 {
		c := r.queued[0]
		r.queued = r.queued[1:]
		r.trace = append(r.trace, resultEvent(c, false))
		return c, true
	}
	if r.live == 0 {
		r.stalled = true
		return completion{}, false
	}
	select {
	case c := <-r.completions:
		r.live--
		if c.suspend != nil {
			r.suspend(c)
			return completion{}, false
		}
		r.trace = append(r.trace, resultEvent(c, false))
		return c, true
	case <-r.ctx.Done():
		r.vm.interrupt(causeCanceled)
		return completion{}, false
	case <-r.e.closing:
		r.vm.interrupt(causeCanceled)
		return completion{}, false
	}
}

// suspend records the suspension and waits for the calls already at the
// Bridge; their results are recorded as undelivered.
func (r *run) suspend(c completion) {
	r.suspension = &Suspension{Call: c.call, Reason: c.suspend.Reason}
	close(r.halt)
	for r.live > 0 {
		select {
		case o := <-r.completions:
			r.live--
			if o.suspend == nil && !o.notStarted {
				r.trace = append(r.trace, resultEvent(o, true))
			}
		case <-r.ctx.Done():
			return
		case <-r.e.closing:
			return
		}
	}
}

func (r *run) replaying() bool { return r.pos < len(r.replay) }

// consumed switches to live execution once the recording is used up.
func (r *run) consumed() {
	if !r.replaying() && !r.wentLive {
		r.goLive()
	}
}

// goLive queues the results that arrived after a suspension and sends the
// calls the recording never answered to the Bridge.
func (r *run) goLive() {
	r.wentLive = true
	for _, ev := range r.late {
		if call, ok := r.unresolved[ev.Seq]; ok {
			delete(r.unresolved, ev.Seq)
			r.queued = append(r.queued, completionOf(call, ev))
		}
	}
	seqs := make([]int, 0, len(r.unresolved))
	for seq := range r.unresolved {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		r.launch(r.unresolved[seq])
	}
	clear(r.unresolved)
}

// diverge stops a replayed run.
func (r *run) diverge(msg string) error {
	if r.divergence == "" {
		r.divergence = "replay diverged from the recorded run: " + msg
	}
	r.vm.interrupt(causeDivergence)
	return errors.New(r.divergence)
}

func completionOf(call Call, ev Event) completion {
	return completion{call: call, ok: ev.OK, value: ev.Value, errMsg: ev.Error}
}

func resultEvent(c completion, undelivered bool) Event {
	ev := Event{Kind: EventResult, Seq: c.call.Seq, OK: c.ok, Undelivered: undelivered}
	if c.ok {
		ev.Value = c.value
	} else {
		ev.Error = c.errMsg
	}
	return ev
}

// start sends the calls the last evaluation made to the Bridge, each on
// its own goroutine (see launch), so that they run in parallel.
func (r *run) start() {
	for _, call := range r.made {
		r.launch(call)
	}
	r.made = r.made[:0]
}

// callHere makes the one call the last evaluation made, with no other call
// outstanding, on the run's own goroutine: the script can do nothing until
// its result is delivered, and a hand-off to a goroutine and back cost more
// than the rest of the sandbox's share of the call (BenchmarkRunToolCall:
// p50 0.57 ms with it, 0.32 ms without). Calls are therefore made when the
// evaluation that made them returns, not while it still runs. Like next, it
// returns false when the run must stop.
func (r *run) callHere() (completion, bool) {
	c := completion{call: r.made[0]}
	r.made = r.made[:0]
	ctx, cancel := context.WithCancel(r.callCtx)
	stopRun := context.AfterFunc(r.ctx, cancel)
	stopEngine := context.AfterFunc(r.e.closeCtx, cancel)
	r.invoke(ctx, &c)
	stopRun()
	stopEngine()
	cancel()
	if r.ctx.Err() != nil || r.e.closeCtx.Err() != nil {
		r.vm.interrupt(causeCanceled)
		return completion{}, false
	}
	if c.suspend != nil {
		r.suspend(c)
		return completion{}, false
	}
	r.trace = append(r.trace, resultEvent(c, false))
	return c, true
}

// launch sends call to the Bridge on its own goroutine. A call that has a
// free slot when the script makes it counts as started: a suspension that
// follows waits for it and records its result, however the goroutines are
// scheduled. Only a call queued behind MaxConcurrentCalls can be halted
// before it starts (and is made again on resume).
func (r *run) launch(call Call) {
	r.live++
	r.e.calls.Add(1)
	slot := false
	select {
	case r.sem <- struct{}{}:
		slot = true
	default:
	}
	go func() {
		defer r.e.calls.Done()
		c := completion{call: call}
		if !slot {
			select {
			case r.sem <- struct{}{}:
				select {
				case <-r.halt:
					c.notStarted = true
					<-r.sem
				default:
					slot = true
				}
			case <-r.halt:
				c.notStarted = true
			case <-r.callCtx.Done():
				c.errMsg = "the execution ended before this tool call started"
			}
		}
		if slot {
			r.invoke(r.callCtx, &c)
			<-r.sem
		}
		select {
		case r.completions <- c:
		case <-r.callCtx.Done():
		}
	}()
}

// invoke calls the Bridge, turning whatever it does into a completion.
func (r *run) invoke(ctx context.Context, c *completion) {
	defer func() {
		if p := recover(); p != nil {
			r.e.log.Error("sandbox: Bridge.Call panicked", "path", c.call.Path, "panic", p)
			c.ok, c.value, c.errMsg = false, nil, "internal tool error"
		}
	}()
	if r.bridge == nil {
		c.errMsg = "no tools are available to this execution"
		return
	}
	raw, err := r.bridge.Call(ctx, c.call)
	if err != nil {
		var s *Suspend
		if errors.As(err, &s) {
			c.suspend = s
			return
		}
		c.errMsg = err.Error()
		return
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		raw = json.RawMessage("null")
	case !json.Valid(raw):
		c.errMsg = "tools." + c.call.Path + " returned invalid JSON"
		return
	}
	c.ok, c.value = true, append(json.RawMessage(nil), raw...) // the Bridge may reuse its buffer
}

// Host side of the script's globals (see host.go).

func (r *run) startCall(path, args string) (int, error) {
	if r.seq >= r.lim.MaxToolCalls {
		return 0, fmt.Errorf("tool call limit (%d) exceeded", r.lim.MaxToolCalls)
	}
	if !json.Valid([]byte(args)) {
		return 0, errors.New("tool arguments must be JSON")
	}
	call := Call{Seq: r.seq + 1, Path: path, Args: json.RawMessage(args)}
	if r.replaying() {
		ev := r.replay[r.pos]
		if ev.Kind != EventCall || ev.Seq != call.Seq || ev.Path != path || !bytes.Equal(ev.Args, call.Args) {
			return 0, r.diverge(fmt.Sprintf("the script called tools.%s(%s), but the recorded run %s", path, preview(call.Args), ev.describe()))
		}
		r.seq = call.Seq
		r.trace = append(r.trace, ev)
		r.unresolved[call.Seq] = call
		r.pos++
		r.consumed()
		return call.Seq, nil
	}
	r.seq = call.Seq
	r.trace = append(r.trace, Event{Kind: EventCall, Seq: call.Seq, Path: path, Args: call.Args})
	r.made = append(r.made, call)
	return call.Seq, nil
}

// takeDelivery returns the completion being delivered as the JSON that
// __sbx_deliver parses.
func (r *run) takeDelivery() string {
	c := r.delivering
	r.delivering = nil
	if c == nil {
		return `{"i":0}`
	}
	var b strings.Builder
	b.WriteString(`{"i":`)
	b.WriteString(strconv.Itoa(c.call.Seq))
	if c.ok {
		b.WriteString(`,"ok":true,"v":`)
		b.Write(c.value)
	} else {
		msg, _ := json.Marshal(c.errMsg)
		b.WriteString(`,"ok":false,"e":`)
		b.Write(msg)
	}
	b.WriteByte('}')
	return b.String()
}

func (r *run) settle(kind, payload string) {
	if r.done {
		return
	}
	r.done = true
	r.doneKind, r.donePayload = kind, payload
	// Jobs still queued may run, briefly: a script that settles while a
	// microtask loop spins must not burn its whole budget.
	r.grace = time.AfterFunc(settleGrace, func() { r.vm.interrupt(causeSettled) })
	if r.replaying() {
		r.diverge("the script finished, but the recorded run " + r.replay[r.pos].describe())
	}
}

var logLevels = map[string]bool{"log": true, "info": true, "warn": true, "error": true, "debug": true}

func (r *run) addLog(level, text string) {
	if !logLevels[level] {
		level = "log"
	}
	line := "[" + level + "] " + text
	if r.logDropped > 0 || r.logBytes+len(line) > r.lim.MaxLogBytes {
		r.logDropped += len(line)
		return
	}
	r.logBytes += len(line)
	r.logs = append(r.logs, line)
}

func (r *run) emit(value string) error {
	if !json.Valid([]byte(value)) {
		return errors.New("emit: the value could not be read as JSON")
	}
	if r.emitBytes+len(value) > r.lim.MaxResultBytes {
		return fmt.Errorf("emit: output limit (%d bytes) exceeded", r.lim.MaxResultBytes)
	}
	r.emitBytes += len(value)
	r.emitted = append(r.emitted, json.RawMessage(value))
	return nil
}

func (r *run) now() (float64, error) {
	if r.replaying() {
		ev := r.replay[r.pos]
		if ev.Kind != EventNow {
			return 0, r.diverge("the script read the clock, but the recorded run " + ev.describe())
		}
		r.recordNow(ev.Time)
		if r.nowUsed++; r.nowUsed >= max(ev.Count, 1) {
			r.nowUsed = 0
			r.pos++
			r.consumed()
		}
		return ev.Time, nil
	}
	t := float64(time.Now().UnixMilli())
	if n := len(r.trace); n > 0 && r.trace[n-1].Kind == EventNow && r.trace[n-1].Time == t {
		r.trace[n-1].Count++
		return t, nil
	}
	if len(r.trace) >= maxTraceEvents {
		return 0, errors.New("the clock was read too often in this execution")
	}
	r.recordNow(t)
	return t, nil
}

func (r *run) recordNow(t float64) {
	if n := len(r.trace); n > 0 && r.trace[n-1].Kind == EventNow && r.trace[n-1].Time == t {
		r.trace[n-1].Count++
		return
	}
	r.trace = append(r.trace, Event{Kind: EventNow, Time: t, Count: 1})
}

func (r *run) seed() ([]uint32, error) {
	if r.replaying() {
		ev := r.replay[r.pos]
		if ev.Kind != EventSeed || len(ev.Seed) != 4 {
			return nil, r.diverge("the script used Math.random(), but the recorded run " + ev.describe())
		}
		r.trace = append(r.trace, ev)
		r.pos++
		r.consumed()
		return ev.Seed, nil
	}
	s := newSeed()
	r.trace = append(r.trace, Event{Kind: EventSeed, Seed: s})
	return s, nil
}

// result assembles the Result once the VM has stopped.
func (r *run) result() Result {
	res := Result{
		Logs:     r.logs,
		Emitted:  r.emitted,
		Trace:    r.trace,
		Duration: r.vmTime,
	}
	if r.logDropped > 0 {
		res.Logs = append(res.Logs, fmt.Sprintf("[truncated %d log bytes]", r.logDropped))
	}
	fail := func(kind ErrorKind, msg string) Result {
		res.Status, res.ErrorKind, res.Error = StatusFailed, kind, msg
		return res
	}
	switch {
	case r.suspension != nil:
		res.Status = StatusSuspended
		res.Suspended = r.suspension
		return res
	case r.divergence != "":
		return fail(KindDivergence, r.divergence)
	case r.done:
		switch r.doneKind {
		case "ok":
			if !json.Valid([]byte(r.donePayload)) { // QuickJS could not hand the text over
				if r.nearMemoryLimit() {
					return fail(KindMemory, "out of memory")
				}
				return fail(KindInternal, "internal error: the result could not be read from the runtime")
			}
			if len(r.donePayload) > r.lim.MaxResultBytes {
				return fail(KindLimit, fmt.Sprintf("the result is %d bytes of JSON, more than the limit of %d; return less, or emit() it in parts", len(r.donePayload), r.lim.MaxResultBytes))
			}
			res.Status, res.Value = StatusCompleted, json.RawMessage(r.donePayload)
			return res
		case "toolarge":
			return fail(KindLimit, fmt.Sprintf("the result is at least %s bytes of JSON, more than the limit of %d; return less, or emit() it in parts", r.donePayload, r.lim.MaxResultBytes))
		case "throw":
			if r.donePayload == "Error: null" && r.nearMemoryLimit() {
				// QuickJS throws null when it cannot even allocate the
				// "out of memory" error.
				return fail(KindMemory, "out of memory")
			}
			return r.failure(res, r.donePayload)
		default:
			return fail(KindRuntime, r.donePayload)
		}
	}
	switch r.vm.interruptCause() {
	case causeBudget:
		return fail(KindTimeout, r.timeoutMessage())
	case causeCanceled:
		return fail(KindTimeout, r.canceledMessage())
	}
	switch {
	case r.trap != nil:
		kind := r.vm.trapKind(r.trap)
		r.e.log.Debug("sandbox: trap", "kind", kind, "panic", fmt.Sprint(r.trap), "sp", r.vm.sp.Get(), "low", r.vm.stackLow, "top", r.vm.stackTop)
		switch kind {
		case KindStack:
			return fail(kind, "stack overflow")
		case KindMemory:
			return fail(kind, "out of memory")
		}
		r.e.log.Error("sandbox: the QuickJS runtime crashed", "panic", r.trap)
		return fail(KindInternal, "internal error: the QuickJS runtime crashed ("+wasmError(r.trap)+"); it was discarded")
	case r.evalErr != nil:
		return r.failure(res, r.evalErr.Error())
	case r.stalled:
		return fail(KindTimeout, r.timeoutMessage())
	case r.ctx.Err() != nil:
		return fail(KindTimeout, r.canceledMessage())
	}
	return fail(KindInternal, "internal error: the execution ended without a result")
}

// failure classifies an uncaught error text.
func (r *run) failure(res Result, text string) Result {
	text = r.prog.cleanError(text)
	res.Status = StatusFailed
	switch {
	case strings.HasPrefix(text, "InternalError: out of memory"):
		res.ErrorKind, res.Error = KindMemory, "out of memory"
	case strings.HasPrefix(text, "InternalError: stack overflow"), strings.HasPrefix(text, "RangeError: Maximum call stack size exceeded"):
		res.ErrorKind, res.Error = KindStack, "stack overflow"
	case strings.HasPrefix(text, "SyntaxError"):
		res.ErrorKind, res.Error = KindSyntax, text
	default:
		res.ErrorKind, res.Error = KindRuntime, text
	}
	return res
}

// nearMemoryLimit reports whether the runtime's memory has grown to about
// QuickJS's own allocation limit.
func (r *run) nearMemoryLimit() bool {
	return uint64(r.vm.mod.Memory().Size()) >= uint64(r.e.jsMemoryLimit)*9/10
}

func (r *run) timeoutMessage() string {
	return fmt.Sprintf("QuickJS execution timed out after %dms", r.lim.Timeout.Milliseconds())
}

func (r *run) canceledMessage() string {
	if err := context.Cause(r.ctx); err != nil {
		return "QuickJS execution canceled: " + err.Error()
	}
	return "QuickJS execution canceled: the sandbox is shutting down"
}

// wasmError extracts "wasm error: …" from a qjs panic (which also carries Go
// and wasm stack traces that must not reach the agent).
func wasmError(p any) string {
	msg := fmt.Sprint(p)
	if i := strings.Index(msg, "wasm error: "); i >= 0 {
		msg = msg[i:]
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
