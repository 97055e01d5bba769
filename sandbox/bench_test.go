package sandbox

// Figures measured on the 2-core development VM (Go 1.26.8, load average
// 1–8 from other work, hence the CPU-time metrics: they count only the
// calling thread), `go test -bench . -run '^$' -count 2 ./sandbox`. The CPU
// figures of RunReturn and RunToolCall until 2026-11-26 came from
// getrusage(RUSAGE_THREAD), which undercounts runs this short (see
// threadCPU): a run is CPU-bound, its CPU time within a few per cent of its
// wall time.
// Runtimes are made from a copy-on-write snapshot of the first one (see
// snapshot.go); the figures of runtimes built from scratch, measured right
// before that change, are given as "built:".
//
//	NewVM        making a runtime: 0.26–0.31 ms CPU (instance and exports
//	             ≈0.1 ms, mapping and prefaulting the ≈60 pages a run
//	             touches ≈0.1 ms, call stacks, mmap/munmap). Built: 1.6–2.1
//	             ms (instance ≈0.2 ms, New_QJS ≈1 ms, prelude from bytecode
//	             ≈0.3–0.6 ms).
//	RunReturn    `return 1+1`, prebuilt runtime ready: p50 0.15–0.17 ms
//	             wall (2026-11-26, CLOCK_THREAD_CPUTIME_ID: p50 81–91 µs,
//	             77–86 µs CPU). Built: p50 0.21–0.23 ms.
//	RunToolCall  one tool call: p50 0.28–0.32 ms (2026-11-26: p50 168–243
//	             µs, 163–233 µs CPU, of which ≈150 µs inside QuickJS; the
//	             main eval ≈115–180 µs, the delivery eval ≈55–90 µs) (the
//	             thread's CPU now includes the Bridge call, which a lone
//	             call makes on the run's goroutine; with every call on a
//	             goroutine of its own it was p50 0.51–0.63 ms, 0.23–0.30 ms
//	             of the calling thread's CPU, as LockOSThread made each
//	             hand-off back a wake-up of that thread). Built:
//	             p50 1.66–1.67 ms (the refill, 1.5 ms of CPU, competed with
//	             the run and the Bridge goroutine), 0.36–0.43 ms CPU. Of a
//	             tool call's run, measured in process: the main eval ≈0.14
//	             ms (each tools.a.b property access made a Proxy handler of
//	             eleven closures, ≈14 µs; now ≈5 µs), the wait for the Bridge
//	             goroutine 20–50 µs, the delivery eval ≈70–90 µs. QuickJS
//	             under wazero is ≈8× slower than native: a host call costs
//	             ≈4 µs, JSON.stringify({a: 1}) ≈8 µs.
//	CPULoop      3M loop iterations: 507–744 ms CPU.
//	Calls        fib(25), 250k JS calls: 30–31 ms CPU.
//	Transform    esbuild on a 4-line TS snippet, uncached: 0.8–0.9 ms.
//
// Cost of the stack/interrupt check (same benchmarks, module built without
// it): CPULoop 457–528 ms, Calls 28.5–31.8 ms. With the check in every
// function Calls took 43–45 ms (+45 %); with it only in functions that take
// a stack frame (the shipped variant) 29.5–34.6 ms (≈+5–10 %), CPULoop within
// noise. For comparison, wazero's CloseOnContextDone made the CPU loop ≈3.7 s.
// return 1+1 shows no difference (p50 ≈0.2 ms either way).
//
// Recursion depth of function f(n) { return n === 0 ? 0 : 1 + f(n - 1) } by
// StackSize: 64 KiB 223, 256 KiB 905, 1 MiB (default) 3,636, 4 MiB 9,733
// (wazero's call-stack limit). QuickJS's original 64 KiB stack corrupted
// memory from ≈275.
//
// TestThousandRunsKeepRSSFlat (anonymous RSS, idle Go heap subtracted, no
// prebuilt runtimes): 14.1 MiB before, 14.7 MiB after 1,000 runs (built
// runtimes: 11.8–12.8 → 12.4–13.1 MiB). TestGrownRuntimesAreUnmapped, 1,000
// runs that each grow the memory by 8 MiB: 15.3 → 15.6 MiB. The snapshot
// itself is a 2.5 MiB memfd per Engine, shared by all its runtimes.

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkRunReturn measures Run of `return 1+1` with a prebuilt runtime
// ready: the refill is given time between iterations, outside the timer.
// It reports the median wall time and the CPU time of the calling thread.
func BenchmarkRunReturn(b *testing.B) {
	benchRun(b, Request{Code: "return 1+1"})
}

// BenchmarkRunToolCall measures a run that makes one (instant) tool call.
func BenchmarkRunToolCall(b *testing.B) {
	benchRun(b, Request{Code: "return (await tools.x.y({a: 1})).path", Bridge: echoBridge(0)})
}

func benchRun(b *testing.B, req Request) {
	e := newEngine(b, Options{Prebuilt: 2})
	ctx := context.Background()
	e.Run(ctx, req) // warm the program cache
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var walls []time.Duration
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		waitReady(e)
		for len(e.retired) > 0 {
			time.Sleep(100 * time.Microsecond)
		}
		b.StartTimer()
		t0, c0 := time.Now(), threadCPU()
		res := e.Run(ctx, req)
		cpu += threadCPU() - c0
		walls = append(walls, time.Since(t0))
		if res.Status != StatusCompleted {
			b.Fatal(res.Error)
		}
	}
	slices.Sort(walls)
	b.ReportMetric(float64(walls[len(walls)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(walls)), "cpu-ns/op")
}

// threadCPU is the CPU time of the calling OS thread: it ignores other
// processes competing for the machine. It must be CLOCK_THREAD_CPUTIME_ID:
// getrusage(RUSAGE_THREAD) lags by up to a scheduler tick, which on this VM
// reported a 200 µs busy loop as 8 µs.
func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// BenchmarkNewVM measures building one runtime (instance, C stack, QuickJS
// runtime and context, host function, prelude) and discarding it.
func BenchmarkNewVM(b *testing.B) {
	e := newEngine(b, Options{Prebuilt: -1})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	for b.Loop() {
		v, err := e.newVM()
		if err != nil {
			b.Fatal(err)
		}
		v.discard()
	}
	b.ReportMetric(float64((threadCPU()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkCPULoop measures a CPU-bound script (3M loop iterations), which
// shows the cost of the stack/interrupt check.
func BenchmarkCPULoop(b *testing.B) {
	benchCPU(b, "let s = 0; for (let i = 0; i < 3000000; i++) { s += i % 7 } return s")
}

// BenchmarkCalls measures a call-heavy script (fib(25): 250k JS calls).
func BenchmarkCalls(b *testing.B) {
	benchCPU(b, "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) } return fib(25)")
}

func benchCPU(b *testing.B, code string) {
	e := newEngine(b, Options{Prebuilt: 1})
	req := Request{Code: code}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	for b.Loop() {
		if res := e.Run(context.Background(), req); res.Status != StatusCompleted {
			b.Fatal(res.Error)
		}
	}
	b.ReportMetric(float64((threadCPU()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkTransform measures preparing new code (esbuild) without the cache.
func BenchmarkTransform(b *testing.B) {
	code := "interface A { x: number }\nconst a: A = { x: 1 };\nconst r = await tools.github.issues.list({ repo: 'x' });\nreturn r.items.map((i: any) => i.title)"
	for b.Loop() {
		if p := prepare(code); p.syntaxErr != "" {
			b.Fatal(p.syntaxErr)
		}
	}
}

func waitReady(e *Engine) {
	for len(e.ready) == 0 {
		time.Sleep(time.Millisecond)
	}
}
