package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeCores is a cores with a clock, a GOMAXPROCS and a scheduler-wait
// counter the test moves by hand.
type fakeCores struct {
	*cores
	clock   time.Time
	changes []bool // every setProcs call: true = widened
	waited  uint64
}

func newFakeCores() *fakeCores {
	f := &fakeCores{clock: time.Unix(1_000, 0)}
	f.cores = &cores{
		now:      func() time.Time { return f.clock },
		setProcs: func(wide bool) { f.changes = append(f.changes, wide) },
		waits:    func() uint64 { return f.waited },
		quietFor: time.Second,
	}
	f.start()
	return f
}

func (f *fakeCores) after(d time.Duration) { f.clock = f.clock.Add(d); f.tick() }

func (f *fakeCores) want(t *testing.T, wide bool, changes int) {
	t.Helper()
	if f.wide.Load() != wide || len(f.changes) != changes {
		t.Fatalf("wide = %v after %d changes %v, want wide = %v after %d", f.wide.Load(), len(f.changes), f.changes, wide, changes)
	}
}

func TestCoresNarrowOnlyAfterAQuietSpell(t *testing.T) {
	f := newFakeCores()
	f.after(500 * time.Millisecond)
	f.want(t, true, 0) // still starting up
	end := f.begin()
	f.after(time.Second) // one request at a time is quiet
	f.want(t, false, 1)
	end()
	f.after(time.Hour)
	f.want(t, false, 1) // no second call to GOMAXPROCS
}

func TestCoresWidenAtTheSecondConcurrentRequest(t *testing.T) {
	f := newFakeCores()
	f.after(2 * time.Second)
	f.want(t, false, 1)

	end1 := f.begin()
	f.want(t, false, 1)
	end2 := f.begin() // widens before this request goes on
	f.want(t, true, 2)
	end3 := f.begin()
	f.want(t, true, 2)
	end2()
	end3()
	f.after(500 * time.Millisecond)
	f.want(t, true, 2) // one request left, but not quiet for long enough yet
	end1()
	f.after(600 * time.Millisecond)
	f.want(t, false, 3)
}

func TestCoresStayWideForARequestThatBeganWhileTheyNarrowed(t *testing.T) {
	f := newFakeCores()
	end := f.begin()
	narrowing := f.setProcs
	f.setProcs = func(wide bool) {
		narrowing(wide)
		if !wide {
			f.begin() // began before the store, and saw the scheduler wide
		}
	}
	f.after(2 * time.Second)
	f.want(t, true, 2) // narrowed, and widened again at once
	end()
}

func TestCoresWidenWhenGoroutinesWaitForTheCore(t *testing.T) {
	f := newFakeCores()
	f.after(2 * time.Second)
	f.want(t, false, 1)

	f.waited += waitsToWiden - 1
	f.after(coresTick)
	f.want(t, false, 1) // a few long waits are normal
	f.waited += waitsToWiden
	f.after(coresTick)
	f.want(t, true, 2)
	f.after(coresTick)
	f.want(t, true, 2) // the waits that made it widen count once
	f.after(time.Second)
	f.want(t, false, 3)
}

func TestSchedWaitsReadsTheRuntime(t *testing.T) {
	before := schedWaits()
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	// Goroutines made runnable while this one spins on the only P wait for
	// it far longer than waitLimit. The runtime records the wait of about
	// one goroutine in eight, hence so many.
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go wg.Done()
	}
	for t0 := time.Now(); time.Since(t0) < 5*waitLimit; {
	}
	wg.Wait()
	if after := schedWaits(); after <= before {
		t.Fatalf("schedWaits %d → %d: 200 goroutines waited %v for the core, none was counted", before, after, 5*waitLimit)
	}
}

// The executor app narrows the process to one core once it has been quiet,
// and widens it while two requests overlap.
func TestTheGatewaySizesTheSchedulerToItsLoad(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) < 2 {
		t.Skip("GOMAXPROCS is set, or there is one core: the gateway leaves the scheduler alone")
	}
	wide := runtime.GOMAXPROCS(0)
	waitProcs := func(want int, why string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); runtime.GOMAXPROCS(0) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("GOMAXPROCS is %d, want %d %s", runtime.GOMAXPROCS(0), want, why)
			}
		}
	}
	// A description that takes its time to arrive keeps a preview busy.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"openapi":"3.0.0","info":{"title":"Slow","version":"1"},"paths":{}}`)
	}))
	defer slow.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	port := freePort(t)
	mustRun(t, localSite(filepath.Join(t.TempDir(), "executor.db"), "", "127.0.0.1", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitProcs(1, "after a quiet spell")

	results := make(chan response, 2)
	for range 2 {
		go func() {
			res, err := tryDo("POST", base+"/api/openapi/preview", map[string]string{"Content-Type": "application/json"},
				`{"spec":"`+slow.URL+`/openapi.json"}`, false)
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	select {
	case res := <-results:
		t.Fatalf("a preview ended while its description was held back: %d %s", res.status, res.body)
	case <-time.After(100 * time.Millisecond):
	}
	waitProcs(wide, "while two requests overlap")
	close(release)
	for range 2 {
		if res := <-results; res.status != http.StatusOK {
			t.Fatalf("preview: %d %s", res.status, res.body)
		}
	}
	waitProcs(1, "once they are done and a quiet spell has passed")
}
