package sandbox

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestThousandRunsKeepRSSFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	// No prebuilt runtimes: no refill allocating in the background while
	// memory is measured.
	e := newEngine(t, Options{Prebuilt: -1})
	req := Request{Code: "const a = []; for (let i = 0; i < 1000; i++) a.push({ i, s: 'x' + i }); console.log(a.length); return await tools.x({ n: a.length })", Bridge: echoBridge(0)}
	// Anonymous RSS swings by a few MiB from one sample to the next: Go does
	// not always hand idle heap back at once (the heap in use stays flat).
	// Idle heap not yet returned is subtracted, and the floor of several
	// samples, taken between short batches of runs, is used.
	floor := func() int64 {
		least := int64(1 << 62)
		for range 5 {
			for range 20 {
				if res := e.Run(context.Background(), req); res.Status != StatusCompleted {
					t.Fatalf("%s: %s", res.Status, res.Error)
				}
			}
			for len(e.retired) > 0 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			least = min(least, rss(t)-int64(ms.HeapIdle-ms.HeapReleased))
		}
		return least
	}
	for range 200 { // warm-up
		if res := e.Run(context.Background(), req); res.Status != StatusCompleted {
			t.Fatalf("%s: %s", res.Status, res.Error)
		}
	}
	before := floor()
	for range 1000 {
		if res := e.Run(context.Background(), req); res.Status != StatusCompleted {
			t.Fatalf("%s: %s", res.Status, res.Error)
		}
	}
	after := floor()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("RSS %d KiB → %d KiB over 1000 runs (Go heap in use %d KiB)", before>>10, after>>10, ms.HeapInuse>>10)
	// 10 %, but at least 2 MiB (the sampling noise at a ≈12 MiB baseline);
	// a leak of 2 KiB per run would still show. The runtimes themselves are
	// 2.5 MiB each.
	if allowed := max(before/10, 2<<20); after > before+allowed && !raceEnabled {
		t.Fatalf("RSS grew from %d KiB to %d KiB over 1000 runs", before>>10, after>>10)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	engine(t) // the shared engine's goroutines exist before and after
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	e, err := New(Options{CacheDir: testCacheDir, Prebuilt: 3})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		e.Run(context.Background(), Request{Code: "tools.forgotten(); return await tools.x()", Bridge: echoBridge(10 * time.Millisecond)})
	}
	busy, waiting := make(chan Result), make(chan Result)
	go func() { busy <- e.Run(context.Background(), Request{Code: "while (true) {}"}) }()
	go func() {
		waiting <- e.Run(context.Background(), Request{Code: "return await tools.never()", Bridge: echoBridge(time.Hour)})
	}()
	time.Sleep(100 * time.Millisecond)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	wantError(t, <-busy, KindTimeout, "shutting down")
	wantError(t, <-waiting, KindTimeout, "shutting down")
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
