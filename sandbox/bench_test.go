package sandbox

// Figures measured on the 2-core development VM (Go 1.26.8, load average
// 5–7 from other builds, hence the CPU-time metrics: they count only the
// calling thread), `go test -bench . -run '^$' -count 2 ./sandbox`:
//
//	RunReturn    `return 1+1`, prebuilt runtime ready:
//	             p50 0.21–0.22 ms wall, 83 µs CPU. The mean (0.83 ms) is
//	             higher because the refill of the next runtime competes for
//	             the two cores right after each Run.
//	RunToolCall  one tool call: 0.55 ms CPU, p50 1.7–2.3 ms (the Bridge
//	             goroutine waits for a core). In a loop of 1,000 sequential
//	             calls each costs ≈130 µs CPU, ≈0.2 ms wall.
//	NewVM        building a runtime: 2.7–3.2 ms CPU (instance ≈0.2 ms,
//	             New_QJS ≈1 ms, prelude from bytecode ≈0.6 ms; from source
//	             it was ≈2–3 ms).
//	CPULoop      3M loop iterations: 415–576 ms CPU.
//	Calls        fib(25), 250k JS calls: 33–38 ms CPU.
//	Transform    esbuild on a 4-line TS snippet, uncached: 0.9–1.2 ms.
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
// prebuilt runtimes): 11.8–12.8 MiB before, 12.4–13.1 MiB after 1,000 runs;
// over 4,000 runs with 2 prebuilt runtimes it stayed at 22–23 MiB (heap in
// use 14 MiB throughout).

import (
	"context"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
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
// processes competing for the machine.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
