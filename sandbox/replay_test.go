package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingBridge answers with answer(call) and remembers the calls.
type recordingBridge struct {
	mu     sync.Mutex
	calls  []Call
	answer func(Call) (json.RawMessage, error)
}

func (b *recordingBridge) Call(ctx context.Context, c Call) (json.RawMessage, error) {
	b.mu.Lock()
	b.calls = append(b.calls, c)
	b.mu.Unlock()
	return b.answer(c)
}

func (b *recordingBridge) paths() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var p []string
	for _, c := range b.calls {
		p = append(p, c.Path)
	}
	return p
}

// roundTrip stores and loads a trace the way a caller would.
func roundTrip(t *testing.T, trace []Event) []Event {
	t.Helper()
	b, err := json.Marshal(trace)
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

const approvalScript = `
const a = await tools.docs.read({ id: 1 });
const t = Date.now(), d = new Date().getTime(), r = Math.random(), r2 = Math.random();
console.log("before approval", t, d, r, r2);
const b = await tools.docs.write({ text: a.args.id + " edited" });
// one clock read twice: a millisecond may tick in between
return { a: a.path, b, same: d - t >= 0 && d - t < 50, r, r2 };`

func TestSuspendThenReplayResumesDeterministically(t *testing.T) {
	e := engine(t)
	first := &recordingBridge{answer: func(c Call) (json.RawMessage, error) {
		if c.Path == "docs.write" {
			return nil, fmt.Errorf("waiting: %w", &Suspend{Reason: map[string]string{"approve": c.Path}})
		}
		return json.RawMessage(fmt.Sprintf(`{"path":%q,"args":%s}`, c.Path, c.Args)), nil
	}}
	res1 := e.Run(context.Background(), Request{Code: approvalScript, Bridge: first})
	if res1.Status != StatusSuspended || res1.Suspended == nil {
		t.Fatalf("first run: %s %s %s", res1.Status, res1.ErrorKind, res1.Error)
	}
	if s := res1.Suspended; s.Call.Seq != 2 || s.Call.Path != "docs.write" || string(s.Call.Args) != `{"text":"1 edited"}` {
		t.Fatalf("suspended on %+v", s.Call)
	}
	if reason, _ := res1.Suspended.Reason.(map[string]string); reason["approve"] != "docs.write" {
		t.Fatalf("reason %v", res1.Suspended.Reason)
	}

	time.Sleep(5 * time.Millisecond) // a later clock must not leak into the replay
	second := &recordingBridge{answer: func(c Call) (json.RawMessage, error) { return json.RawMessage(`"written"`), nil }}
	res2 := e.Run(context.Background(), Request{Code: approvalScript, Bridge: second, Replay: roundTrip(t, res1.Trace)})
	if res2.Status != StatusCompleted {
		t.Fatalf("resumed run: %s %s %s", res2.Status, res2.ErrorKind, res2.Error)
	}
	if got := second.paths(); fmt.Sprint(got) != "[docs.write]" {
		t.Fatalf("resumed run called the bridge for %v; only the suspended call may be made", got)
	}
	if fmt.Sprint(res1.Logs) != fmt.Sprint(res2.Logs) {
		t.Fatalf("clock and random values differ:\n%q\n%q", res1.Logs, res2.Logs)
	}
	var v struct {
		A, B  string
		Same  bool
		R, R2 float64
	}
	if err := json.Unmarshal(res2.Value, &v); err != nil {
		t.Fatal(err)
	}
	if v.A != "docs.read" || v.B != "written" || !v.Same || v.R == v.R2 {
		t.Fatalf("value %s", res2.Value)
	}
	if len(res2.Trace) <= len(res1.Trace) {
		t.Fatalf("resumed trace has %d events, the first %d", len(res2.Trace), len(res1.Trace))
	}
	for i, ev := range res1.Trace {
		if a, b := mustJSON(ev), mustJSON(res2.Trace[i]); a != b {
			t.Fatalf("resumed trace event %d = %s, recorded %s", i, b, a)
		}
	}

	// The complete trace replays without the bridge at all.
	none := &recordingBridge{answer: func(c Call) (json.RawMessage, error) { return nil, errors.New("must not be called") }}
	res3 := e.Run(context.Background(), Request{Code: approvalScript, Bridge: none, Replay: roundTrip(t, res2.Trace)})
	if res3.Status != StatusCompleted || string(res3.Value) != string(res2.Value) {
		t.Fatalf("full replay: %s %s %s", res3.Status, res3.Value, res3.Error)
	}
	if len(none.calls) != 0 {
		t.Fatalf("full replay called the bridge: %v", none.paths())
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestReplayKeepsTheRecordedInterleaving(t *testing.T) {
	const code = `
const order = [];
await Promise.all(["a", "b", "c"].map(p => tools[p]().then(v => order.push(v))));
const ok = await tools.approve({ order });
return { order, ok };`
	delays := func(m map[string]int) func(Call) (json.RawMessage, error) {
		return func(c Call) (json.RawMessage, error) {
			if c.Path == "approve" {
				return nil, &Suspend{Reason: "approve"}
			}
			time.Sleep(time.Duration(m[c.Path]) * time.Millisecond)
			return json.RawMessage(`"` + c.Path + `"`), nil
		}
	}
	e := engine(t)
	res1 := e.Run(context.Background(), Request{Code: code, Bridge: &recordingBridge{answer: delays(map[string]int{"a": 120, "b": 60, "c": 0})}})
	if res1.Status != StatusSuspended || string(res1.Suspended.Call.Args) != `{"order":["c","b","a"]}` {
		t.Fatalf("first run: %s %s %v", res1.Status, res1.Error, res1.Suspended)
	}
	// Live, the bridge would now answer in the opposite order; the replay
	// must not care, because it does not ask.
	second := &recordingBridge{answer: func(c Call) (json.RawMessage, error) {
		if c.Path == "approve" {
			return json.RawMessage(`true`), nil
		}
		return delays(map[string]int{"a": 0, "b": 60, "c": 120})(c)
	}}
	res2 := e.Run(context.Background(), Request{Code: code, Bridge: second, Replay: res1.Trace})
	wantValue(t, res2, `{"order":["c","b","a"],"ok":true}`)
	if got := second.paths(); fmt.Sprint(got) != "[approve]" {
		t.Fatalf("replay called %v", got)
	}
}

func TestResultsArrivingAfterASuspensionAreKept(t *testing.T) {
	const code = `
const [ok, data] = await Promise.all([tools.approve(), tools.slow()]);
return { ok, data };`
	first := &recordingBridge{answer: func(c Call) (json.RawMessage, error) {
		if c.Path == "approve" {
			return nil, &Suspend{Reason: "approve"}
		}
		time.Sleep(100 * time.Millisecond)
		return json.RawMessage(`"slow result"`), nil
	}}
	e := engine(t)
	res1 := e.Run(context.Background(), Request{Code: code, Bridge: first})
	if res1.Status != StatusSuspended {
		t.Fatalf("first run: %s %s", res1.Status, res1.Error)
	}
	last := res1.Trace[len(res1.Trace)-1]
	if last.Kind != EventResult || !last.Undelivered || last.Seq != 2 || string(last.Value) != `"slow result"` {
		t.Fatalf("last event %+v; want the slow call's undelivered result", last)
	}
	second := &recordingBridge{answer: func(c Call) (json.RawMessage, error) { return json.RawMessage(`true`), nil }}
	res2 := e.Run(context.Background(), Request{Code: code, Bridge: second, Replay: res1.Trace})
	wantValue(t, res2, `{"ok":true,"data":"slow result"}`)
	if got := second.paths(); fmt.Sprint(got) != "[approve]" {
		t.Fatalf("resumed run called %v; the slow call's result was recorded", got)
	}
}

func TestReplayDetectsDivergence(t *testing.T) {
	e := engine(t)
	suspendWrites := &recordingBridge{answer: func(c Call) (json.RawMessage, error) {
		if c.Path == "write" {
			return nil, &Suspend{Reason: "approve"}
		}
		return json.RawMessage(`1`), nil
	}}
	res1 := e.Run(context.Background(), Request{Code: "const n = await tools.read({ id: 1 }); return await tools.write({ n })", Bridge: suspendWrites})
	if res1.Status != StatusSuspended {
		t.Fatalf("first run: %s %s", res1.Status, res1.Error)
	}
	tests := []struct{ name, code, want string }{
		{"different arguments", "const n = await tools.read({ id: 2 }); return await tools.write({ n })",
			`the script called tools.read({"id":2}), but the recorded run called tools.read({"id":1})`},
		{"different tool", "const n = await tools.list({ id: 1 }); return n",
			`the script called tools.list({"id":1}), but the recorded run called tools.read({"id":1})`},
		{"a clock read the recording does not have", "Date.now(); const n = await tools.read({ id: 1 }); return n",
			"the script read the clock, but the recorded run called tools.read"},
		{"finishing early", "return 1", "the script finished, but the recorded run called tools.read"},
		{"waiting instead of calling", "await tools.read({ id: 1 }); await tools.other(); return 1",
			"the script called tools.other(null), but the recorded run called tools.write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bridge := &recordingBridge{answer: func(c Call) (json.RawMessage, error) { return json.RawMessage(`0`), nil }}
			res := e.Run(context.Background(), Request{Code: tt.code, Bridge: bridge, Replay: res1.Trace})
			wantError(t, res, KindDivergence, tt.want)
			if !strings.HasPrefix(res.Error, "replay diverged from the recorded run: ") {
				t.Errorf("error %q", res.Error)
			}
			if len(bridge.calls) != 0 {
				t.Errorf("a diverged replay called the bridge: %v", bridge.paths())
			}
		})
	}
}

func TestDivergenceCannotBeCaught(t *testing.T) {
	e := engine(t)
	res1 := e.Run(context.Background(), Request{Code: "await tools.a(); await tools.b()", Bridge: &recordingBridge{answer: func(c Call) (json.RawMessage, error) {
		if c.Path == "b" {
			return nil, &Suspend{}
		}
		return json.RawMessage(`1`), nil
	}}})
	res := e.Run(context.Background(), Request{Code: "try { await tools.z() } catch (e) {} return 'swallowed'", Replay: res1.Trace})
	wantError(t, res, KindDivergence, "tools.z(null)")
}

func TestClockReadsAreRunLengthEncoded(t *testing.T) {
	res := runCode(t, "let n = 0; for (let i = 0; i < 10000; i++) n += Date.now() > 0; return n")
	wantValue(t, res, "10000")
	total := 0
	for _, ev := range res.Trace {
		if ev.Kind != EventNow {
			t.Fatalf("unexpected event %+v", ev)
		}
		total += ev.Count
	}
	if total != 10000 || len(res.Trace) > 1000 {
		t.Fatalf("%d events for %d clock reads", len(res.Trace), total)
	}
	again := engine(t).Run(context.Background(), Request{Code: "let n = 0; for (let i = 0; i < 10000; i++) n += Date.now() > 0; return n", Replay: res.Trace})
	wantValue(t, again, "10000")
}
