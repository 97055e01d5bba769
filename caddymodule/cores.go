package caddymodule

import (
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// cores sizes the Go scheduler to the gateway's load.
//
// One request wakes many goroutines on its way: Caddy's, mcp-go's server,
// the HTTP client's towards the upstream, the sandbox's. With an idle core
// to hand, the scheduler wakes a thread on it for each of them, and the
// request's own goroutine often resumes over there, away from its caches.
// When requests come one at a time that buys nothing, and on the 2-vCPU
// benchmark VM each such cross-core wake-up is dear: an `execute` with one
// tool call took ≈ 0.2 ms less with the process held to one core (medians of
// eight A/B rounds, BENCHMARKS.md), while 8 concurrent clients got a third
// less throughput that way. So the gateway runs its scheduler on one core while at most one
// request is being served, and on the runtime's default (every core, or the
// cgroup's quota) from the moment a second one starts until the load has
// stayed at one or none for quietFor.
//
// Requests are what mcpproxy reports as work (an MCP message, an API call;
// not an open event stream). Load the gateway does not see — another site in
// the same Caddy, a long import — shows as goroutines waiting for the one
// core; when enough of them wait long, cores widens too.
//
// An operator who sets GOMAXPROCS keeps it: cores then never changes it.
type cores struct {
	now      func() time.Time
	setProcs func(wide bool) // runtime.SetDefaultGOMAXPROCS or GOMAXPROCS(1)
	waits    func() uint64   // scheduler waits over waitLimit so far (schedWaits)
	quietFor time.Duration

	active   atomic.Int32
	busyAt   atomic.Int64 // unix ns when two or more requests last overlapped
	wide     atomic.Bool
	mu       sync.Mutex // orders changes of GOMAXPROCS
	lastWait uint64     // waits() at the last tick; under mu
}

const (
	// coresQuietFor is how long the load must stay at one request or none
	// before the scheduler narrows again.
	coresQuietFor = time.Second
	// coresTick is how often cores looks at the load it does not count.
	coresTick = 100 * time.Millisecond
	// waitLimit and waitsToWiden: this many goroutines waiting longer than
	// waitLimit for the one core within a tick mean it is not enough. The
	// runtime records about one wait in eight, so that is some 24 waits.
	waitLimit    = 2 * time.Millisecond
	waitsToWiden = 3
)

var (
	processCoresOnce sync.Once
	processCores     *cores // nil when GOMAXPROCS is set or there is one core
)

// sharedCores returns the process's controller, starting it on first use, or
// nil if the scheduler is left alone.
func sharedCores() *cores {
	processCoresOnce.Do(func() {
		if os.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) < 2 {
			return
		}
		c := &cores{
			now:      time.Now,
			setProcs: setRuntimeProcs,
			waits:    schedWaits,
			quietFor: coresQuietFor,
		}
		c.start()
		processCores = c
		go func() {
			for range time.Tick(coresTick) {
				c.tick()
			}
		}()
	})
	return processCores
}

// start records the state the runtime starts in: wide, and busy now (the
// gateway is starting up), so that it narrows only after quietFor.
func (c *cores) start() {
	c.wide.Store(true)
	c.busyAt.Store(c.now().UnixNano())
	c.lastWait = c.waits()
}

func setRuntimeProcs(wide bool) {
	if wide {
		runtime.SetDefaultGOMAXPROCS()
	} else {
		runtime.GOMAXPROCS(1)
	}
}

// begin counts a request until the returned function is called. A second
// request at once widens the scheduler before it goes on.
func (c *cores) begin() (end func()) {
	if c.active.Add(1) >= 2 {
		c.busyAt.Store(c.now().UnixNano())
		if !c.wide.Load() {
			c.set(true)
		}
	}
	return func() { c.active.Add(-1) }
}

// tick widens for load that begin does not see, and narrows once the
// requests have been one at a time for quietFor.
func (c *cores) tick() {
	c.mu.Lock()
	w := c.waits()
	waited := w - c.lastWait
	c.lastWait = w
	c.mu.Unlock()
	if waited >= waitsToWiden {
		c.busyAt.Store(c.now().UnixNano())
		if !c.wide.Load() {
			c.set(true)
		}
		return
	}
	if c.wide.Load() && c.active.Load() <= 1 && c.now().UnixNano()-c.busyAt.Load() >= int64(c.quietFor) {
		c.set(false)
	}
}

func (c *cores) set(wide bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wide.Load() == wide {
		return
	}
	c.setProcs(wide)
	c.wide.Store(wide)
	if !wide && c.active.Load() >= 2 {
		// A request began while this narrowed and saw it still wide (begin
		// counts itself before it looks): it would go on, on one core,
		// next to another.
		c.setProcs(true)
		c.wide.Store(true)
	}
	// Goroutines that waited for the one core before widening are not a
	// reason to widen again; nor are those of the wide spell to stay wide.
	c.lastWait = c.waits()
}

// schedWaits is how many times so far a goroutine waited longer than
// waitLimit to run, from the runtime's /sched/latencies histogram.
func schedWaits() uint64 {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := s[0].Value.Float64Histogram()
	var n uint64
	for i, count := range h.Counts {
		if h.Buckets[i] >= waitLimit.Seconds() {
			n += count
		}
	}
	return n
}
