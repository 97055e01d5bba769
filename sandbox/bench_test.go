package sandbox

// Figures measured on the 2-core development VM (Go 1.26.8, other builds
// sometimes running in parallel), `go test -bench . -run '^$' ./sandbox`:
//
//	(to be filled in)

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRunReturn measures Run of `return 1+1` with a prebuilt runtime
// ready (the refill is given time between iterations, outside the timer).
func BenchmarkRunReturn(b *testing.B) {
	e := newEngine(b, Options{Prebuilt: 2})
	ctx := context.Background()
	req := Request{Code: "return 1+1"}
	e.Run(ctx, req) // warm the program cache
	for b.Loop() {
		b.StopTimer()
		waitReady(e)
		b.StartTimer()
		if res := e.Run(ctx, req); res.Status != StatusCompleted {
			b.Fatal(res.Error)
		}
	}
}

// BenchmarkRunToolCall measures a run that makes one (instant) tool call.
func BenchmarkRunToolCall(b *testing.B) {
	e := newEngine(b, Options{Prebuilt: 2})
	ctx := context.Background()
	req := Request{Code: "return (await tools.x.y({a: 1})).path", Bridge: echoBridge(0)}
	e.Run(ctx, req)
	for b.Loop() {
		b.StopTimer()
		waitReady(e)
		b.StartTimer()
		if res := e.Run(ctx, req); res.Status != StatusCompleted {
			b.Fatal(res.Error)
		}
	}
}

// BenchmarkNewVM measures building one runtime (qjs.New, stack relocation,
// host functions, prelude) and discarding it.
func BenchmarkNewVM(b *testing.B) {
	e := newEngine(b, Options{Prebuilt: -1})
	for b.Loop() {
		v, err := e.newVM()
		if err != nil {
			b.Fatal(err)
		}
		v.discard()
	}
}

// BenchmarkCPULoop measures a CPU-bound script (3M loop iterations), which
// shows the cost of the stack/interrupt check.
func BenchmarkCPULoop(b *testing.B) {
	e := newEngine(b, Options{Prebuilt: 1})
	req := Request{Code: "let s = 0; for (let i = 0; i < 3000000; i++) { s += i % 7 } return s"}
	for b.Loop() {
		if res := e.Run(context.Background(), req); res.Status != StatusCompleted {
			b.Fatal(res.Error)
		}
	}
}

// BenchmarkCalls measures a call-heavy script (fib(25): 250k JS calls).
func BenchmarkCalls(b *testing.B) {
	e := newEngine(b, Options{Prebuilt: 1})
	req := Request{Code: "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) } return fib(25)"}
	for b.Loop() {
		if res := e.Run(context.Background(), req); res.Status != StatusCompleted {
			b.Fatal(res.Error)
		}
	}
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
