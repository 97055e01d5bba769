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
	e := newEngine(t, Options{Prebuilt: 2})
	req := Request{Code: "const a = []; for (let i = 0; i < 1000; i++) a.push({ i, s: 'x' + i }); console.log(a.length); return await tools.x({ n: a.length })", Bridge: echoBridge(0)}
	measure := func() int64 {
		for len(e.retired) > 0 {
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		debug.FreeOSMemory()
		return rss(t)
	}
	for range 200 { // warm-up
		if res := e.Run(context.Background(), req); res.Status != StatusCompleted {
			t.Fatalf("%s: %s", res.Status, res.Error)
		}
	}
	before := measure()
	for range 1000 {
		if res := e.Run(context.Background(), req); res.Status != StatusCompleted {
			t.Fatalf("%s: %s", res.Status, res.Error)
		}
	}
	after := measure()
	t.Logf("RSS %d MiB → %d MiB over 1000 runs", before>>20, after>>20)
	if after > before+before/10 && !raceEnabled {
		t.Fatalf("RSS grew from %d MiB to %d MiB over 1000 runs", before>>20, after>>20)
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
