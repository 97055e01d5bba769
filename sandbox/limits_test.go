package sandbox

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBusyLoopStopsAtTheTimeoutWithoutBlockingOtherRuns(t *testing.T) {
	e := newEngine(t, Options{})
	start := time.Now()
	done := make(chan Result)
	go func() {
		done <- e.Run(context.Background(), Request{Code: "while(true){}", Limits: Limits{Timeout: time.Second}})
	}()
	time.Sleep(50 * time.Millisecond) // let the loop start
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			res := e.Run(context.Background(), Request{Code: "return " + strconv.Itoa(i)})
			if d := time.Since(t0); d >= time.Second {
				t.Errorf("run %d took %v while a busy loop ran", i, d)
			}
			wantValue(t, res, strconv.Itoa(i))
		}()
	}
	wg.Wait()
	res := <-done
	wantError(t, res, KindTimeout, "QuickJS execution timed out after 1000ms")
	if d := time.Since(start); d < time.Second || d > 1500*time.Millisecond {
		t.Errorf("busy loop stopped after %v, want ≈1s", d)
	}
	if res.Duration < time.Second || res.Duration > 1200*time.Millisecond {
		t.Errorf("Duration %v, want ≈1s", res.Duration)
	}
}

func TestRunawayScriptsAreKilled(t *testing.T) {
	tests := []struct{ name, code string }{
		{"microtask loop", "(async () => { for (;;) await null })(); await new Promise(() => {})"},
		{"microtask loop started before returning", "(async () => { for (;;) await null })(); return 1"},
		{"busy try/finally", "for (;;) { try { for (;;) {} } finally { continue } }"},
		{"catastrophic regexp", "return /(a+)+$/.test('a'.repeat(40) + 'b')"},
		{"loop of native calls", "const a = []; for (;;) { a.push(1); a.pop() }"},
		{"sort with a spinning comparator", "[3, 2, 1].sort(() => { for (;;) {} })"},
	}
	e := engine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Now()
			res := e.Run(context.Background(), Request{Code: tt.code, Limits: Limits{Timeout: 300 * time.Millisecond}})
			d := time.Since(t0)
			if tt.name == "microtask loop started before returning" {
				// The result is known; the spinning job is cut shortly after.
				wantValue(t, res, "1")
				if d > 250*time.Millisecond {
					t.Errorf("took %v after the script had returned", d)
				}
				return
			}
			wantError(t, res, KindTimeout, "QuickJS execution timed out after 300ms")
			if d > time.Second {
				t.Errorf("stopped after %v, want ≈300ms", d)
			}
		})
	}
}

func TestAPromiseThatCanNeverSettleFailsAtOnce(t *testing.T) {
	t0 := time.Now()
	res := engine(t).Run(context.Background(), Request{Code: "await new Promise(() => {})", Limits: Limits{Timeout: 10 * time.Second}})
	wantError(t, res, KindTimeout, "QuickJS execution timed out after 10000ms")
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("took %v; nothing could settle the promise", d)
	}
}

func TestToolCallTimeDoesNotCountAgainstTheTimeout(t *testing.T) {
	res := engine(t).Run(context.Background(), Request{
		Code:   "const r = await tools.slow({}); return r.path",
		Bridge: echoBridge(2 * time.Second),
		Limits: Limits{Timeout: time.Second},
	})
	wantValue(t, res, `"slow"`)
}

func TestTheBudgetIsSharedAcrossToolCalls(t *testing.T) {
	// 3 × 400ms of CPU around tool calls is more than a 1s budget.
	res := engine(t).Run(context.Background(), Request{
		Code: `function spin(ms) { const end = Date.now() + ms; while (Date.now() < end) {} }
for (let i = 0; i < 3; i++) { spin(400); await tools.wait() }
return "finished"`,
		Bridge: echoBridge(10 * time.Millisecond),
		Limits: Limits{Timeout: time.Second},
	})
	wantError(t, res, KindTimeout, "timed out after 1000ms")
}

func TestCanceledContextStopsTheRun(t *testing.T) {
	e := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := e.Run(ctx, Request{Code: "while(true){}"})
	wantError(t, res, KindTimeout, "QuickJS execution canceled: context deadline exceeded")

	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	t0 := time.Now()
	res = e.Run(ctx2, Request{Code: "return await tools.forever()", Bridge: echoBridge(time.Hour)})
	wantError(t, res, KindTimeout, "canceled")
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("waiting for a tool call ignored the context for %v", d)
	}
}

func TestMemoryBombsFailCleanly(t *testing.T) {
	tests := []struct{ name, code string }{
		{"huge repeat", "return 'x'.repeat(2**28).length"},
		{"huge ArrayBuffer", "return new ArrayBuffer(2**30).byteLength"},
		{"array push loop", "const a = []; for (;;) a.push({i: a.length})"},
		{"string doubling", "let s = 'x'; for (;;) s += s"},
		{"many small strings", "const a = []; for (let i = 0; ; i++) a.push('k' + i)"},
		{"Array(1e9).fill", "return Array(1e9).fill(0).length"},
	}
	e := engine(t)
	before := rss(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Run(context.Background(), Request{Code: tt.code, Limits: Limits{Timeout: 30 * time.Second}})
			wantError(t, res, KindMemory, "out of memory")
			wantValue(t, e.Run(context.Background(), Request{Code: "return 1"}), "1")
		})
	}
	// The wasm memory of a runtime is capped at 64 MiB; Go may keep a few
	// discarded ones around until the next GC.
	if grown := rss(t) - before; grown > 400<<20 && !raceEnabled {
		t.Errorf("RSS grew by %d MiB during the memory bombs", grown>>20)
	}
}

func TestHugeArrayBufferLengthIsARangeError(t *testing.T) {
	wantError(t, runCode(t, "new ArrayBuffer(2**31)"), KindRuntime, "RangeError")
}

func TestDeepRecursionIsAStackOverflow(t *testing.T) {
	tests := []struct{ name, code string }{
		{"direct recursion", "function f(n) { return n === 0 ? 0 : 1 + f(n - 1) } return f(1e6)"},
		{"arrow recursion", "const f = () => f(); f()"},
		{"recursion inside try/catch", "function f() { try { f() } catch (e) { f() } } f()"},
		{"recursion that catches and retries", "let n = 0; function f() { try { return f() } catch (e) { n++; return f() } } return f()"},
		{"async recursion", "async function f(n) { return n === 0 ? 0 : 1 + await f(n - 1) } return await f(1e6)"},
		{"recursion through getters", "const o = { get x() { return this.x } }; return o.x"},
		{"recursion through toString", "const o = { toString() { return '' + o } }; return '' + o"},
		{"recursion through a proxy chain", "let p = {}; for (let i = 0; i < 200000; i++) p = new Proxy(p, {}); return p.x"},
		{"recursion through Function.prototype.call", "function f() { return f.call(null) } f()"},
		{"recursion through Array.prototype.map", "function f(x) { return [x].map(f) } f(1)"},
		{"JSON.parse of a deep array", "return JSON.parse('['.repeat(100000) + ']'.repeat(100000)).length"},
		{"a deep array literal in the source", "return " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000)},
		{"a deep call expression in the source", "return " + strings.Repeat("Math.abs(", 100000) + "1" + strings.Repeat(")", 100000)},
		{"a deep regexp", "return new RegExp('(?:'.repeat(100000) + ')'.repeat(100000)).test('')"},
	}
	e := engine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Run(context.Background(), Request{Code: tt.code, Limits: Limits{Timeout: 20 * time.Second}})
			if res.Status == StatusFailed && res.ErrorKind == KindSyntax && strings.Contains(tt.name, "source") {
				return // esbuild may refuse the nesting itself, which is just as clean
			}
			wantError(t, res, KindStack, "stack overflow")
			wantValue(t, e.Run(context.Background(), Request{Code: "function f(n) { return n === 0 ? 0 : 1 + f(n - 1) } return f(1000)"}), "1000")
		})
	}
}

// JSON.stringify checks for cycles with a linear scan of the path, so a deep
// object costs quadratic time before it costs stack: 10,000 levels take
// ≈1.4 s. A 100,000-deep object therefore ends at the budget or at the
// stack limit, whichever comes first; either way cleanly.
func TestJSONStringifyOfADeepObjectEndsCleanly(t *testing.T) {
	e := engine(t)
	res := e.Run(context.Background(), Request{
		Code:   "let o = {}; for (let i = 0; i < 100000; i++) o = {o}; return JSON.stringify(o).length",
		Limits: Limits{Timeout: 2 * time.Second},
	})
	if res.Status != StatusFailed || (res.ErrorKind != KindStack && res.ErrorKind != KindTimeout) {
		t.Fatalf("got %s/%s %q, want a stack overflow or a timeout", res.Status, res.ErrorKind, res.Error)
	}
	wantValue(t, e.Run(context.Background(), Request{Code: "return 1"}), "1")
}

func TestModerateRecursionWorks(t *testing.T) {
	// The default 1 MiB stack allows ≈3,400 frames of a small function.
	wantValue(t, runCode(t, "function f(n) { return n === 0 ? 0 : 1 + f(n - 1) } return f(3000)"), "3000")
	wantValue(t, runCode(t, "let o = {}; for (let i = 0; i < 1000; i++) o = {o}; return JSON.stringify(o).length"), "6002")
}

func TestStackSizeOption(t *testing.T) {
	// 5,000 frames need more than the default 1 MiB; wazero's own limit on
	// its native call stack lies between ≈6,000 and ≈12,000 of them.
	e := newEngine(t, Options{StackSize: 4 << 20, Prebuilt: 1})
	wantValue(t, e.Run(context.Background(), Request{Code: "function f(n) { return n === 0 ? 0 : 1 + f(n - 1) } return f(5000)"}), "5000")
}

// rss returns the anonymous resident memory of this process in bytes
// (RssAnon: file-backed pages, such as the test binary's code, come and go
// with the page cache and say nothing about leaks).
func rss(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssAnon:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no RssAnon in /proc/self/status")
	return 0
}
