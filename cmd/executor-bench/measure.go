package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// requester is one simulated client's request: do sends it and returns the
// response, which check (outside the timed part) verifies.
type requester struct {
	do    func(context.Context) ([]byte, error)
	close func()
}

// scenario is one row of the table.
type scenario struct {
	id, title string
	// gateway: the requests go through the gateway (its peak RSS is shown).
	gateway bool
	// oneClient: measured at one client only (a detail row).
	oneClient bool
	// open prepares one client (a session, a prepared request).
	open func(context.Context) (*requester, error)
	// check verifies a response; a failed check fails the scenario.
	check func([]byte) error
}

// plan is how long each measurement runs.
type plan struct {
	warmup     time.Duration // per measurement, excluded (time-based runs)
	duration   time.Duration // measured phase (time-based runs)
	warmupN    int           // per client, excluded (count-based runs, -short)
	iterations int           // per client (count-based runs, -short)
}

func (p plan) countBased() bool { return p.iterations > 0 }

// measurement is one scenario at one client count.
type measurement struct {
	sc        *scenario
	clients   int
	latencies []time.Duration // sorted
	elapsed   time.Duration
	peakRSS   int64         // bytes; 0 when unknown or not a gateway scenario
	cpu       time.Duration // gateway CPU time (user+system) in the measured phase; 0 when unknown
	err       error
}

func (m *measurement) ok() bool { return m.err == nil && len(m.latencies) > 0 }

// quantile is the nearest-rank quantile q of the sorted latencies.
func (m *measurement) quantile(q float64) time.Duration {
	n := len(m.latencies)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(n))) - 1
	return m.latencies[min(max(i, 0), n-1)]
}

// cpuPerRequest is the gateway's CPU time per request, or 0.
func (m *measurement) cpuPerRequest() time.Duration {
	if m.cpu <= 0 || len(m.latencies) == 0 {
		return 0
	}
	return m.cpu / time.Duration(len(m.latencies))
}

func (m *measurement) rps() float64 {
	if m.elapsed <= 0 {
		return 0
	}
	return float64(len(m.latencies)) / m.elapsed.Seconds()
}

// measure runs sc with n concurrent clients: each opens its own session,
// warms up, then sends requests back to back until the plan ends. Only
// the measured phase is recorded; its throughput is completed requests
// over the wall time from the common start to the last response.
func measure(ctx context.Context, sc *scenario, n int, p plan, gatewayPID int) *measurement {
	return measureSet(ctx, []*scenario{sc}, n, p, gatewayPID)[0]
}

// measureSet is measure for several scenarios at once: each client
// alternates their requests in one loop (A, B, A, B…), so that all of them
// see the same machine. Differences between them then hold on a shared
// machine whose speed drifts. Throughput, CPU and peak RSS are shared by
// the set.
func measureSet(ctx context.Context, scs []*scenario, n int, p plan, gatewayPID int) []*measurement {
	ms := make([]*measurement, len(scs))
	viaGateway := false
	for i, sc := range scs {
		ms[i] = &measurement{sc: sc, clients: n}
		viaGateway = viaGateway || sc.gateway
	}
	setErr := func(err error) []*measurement {
		for _, m := range ms {
			m.err = err
		}
		return ms
	}
	reqs := make([][]*requester, n) // [client][scenario]
	defer func() {
		for _, rs := range reqs {
			for _, r := range rs {
				r.close()
			}
		}
	}()
	for c := range n {
		for _, sc := range scs {
			r, err := sc.open(ctx)
			if err != nil {
				return setErr(fmt.Errorf("opening a client for #%s: %w", sc.id, err))
			}
			reqs[c] = append(reqs[c], r)
		}
	}
	peakKnown := viaGateway && gatewayPID > 0 && resetPeak(gatewayPID)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	// phase runs every client until done says stop; record collects the
	// latencies of the measured phase, per scenario and client.
	phase := func(done func(i int, now time.Time) bool, record bool) ([][][]time.Duration, time.Time) {
		var wg sync.WaitGroup
		lat := make([][][]time.Duration, len(scs))
		for k := range lat {
			lat[k] = make([][]time.Duration, n)
		}
		ends := make([]time.Time, n)
		for c, rs := range reqs {
			wg.Go(func() {
				for i := 0; ; i++ {
					if done(i, time.Now()) || ctx.Err() != nil {
						return
					}
					for k, r := range rs {
						start := time.Now()
						body, err := r.do(ctx)
						d := time.Since(start)
						if err == nil {
							err = scs[k].check(body)
						}
						if err != nil {
							if ctx.Err() == nil {
								fail(fmt.Errorf("#%s: %w", scs[k].id, err))
							}
							return
						}
						if record {
							lat[k][c] = append(lat[k][c], d)
						}
						ends[c] = start.Add(d)
					}
				}
			})
		}
		wg.Wait()
		last := time.Time{}
		for _, e := range ends {
			if e.After(last) {
				last = e
			}
		}
		return lat, last
	}

	if p.countBased() {
		phase(func(i int, _ time.Time) bool { return i >= p.warmupN }, false)
	} else {
		until := time.Now().Add(p.warmup)
		phase(func(_ int, now time.Time) bool { return !now.Before(until) }, false)
	}
	if firstErr == nil {
		cpuBefore, cpuErr := time.Duration(0), errors.New("not a gateway scenario")
		if viaGateway && gatewayPID > 0 {
			cpuBefore, cpuErr = processCPU(gatewayPID)
		}
		start := time.Now()
		var lat [][][]time.Duration
		var last time.Time
		if p.countBased() {
			lat, last = phase(func(i int, _ time.Time) bool { return i >= p.iterations }, true)
		} else {
			until := start.Add(p.duration)
			lat, last = phase(func(_ int, now time.Time) bool { return !now.Before(until) }, true)
		}
		var cpu time.Duration
		if cpuErr == nil {
			if after, err := processCPU(gatewayPID); err == nil {
				cpu = after - cpuBefore
			}
		}
		for k, m := range ms {
			m.elapsed = last.Sub(start)
			for _, l := range lat[k] {
				m.latencies = append(m.latencies, l...)
			}
			slices.Sort(m.latencies)
			if len(scs) == 1 {
				m.cpu = cpu
			}
		}
	}
	var peak int64
	if peakKnown {
		peak, _ = peakRSS(gatewayPID)
	}
	for _, m := range ms {
		if m.sc.gateway {
			m.peakRSS = peak
		}
		switch {
		case firstErr != nil:
			m.err = firstErr
		case ctx.Err() != nil: // the run was interrupted
			m.err = ctx.Err()
		case len(m.latencies) == 0:
			m.err = errors.New("no request completed in the measured phase")
		}
	}
	return ms
}
