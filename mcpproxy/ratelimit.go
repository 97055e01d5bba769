package mcpproxy

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// RateLimit bounds how fast calls may come: Rate a second on average, with
// bursts of up to Burst at once. The zero value means no limit.
type RateLimit struct {
	Rate  float64 `json:"rate,omitempty"`  // calls per second
	Burst int     `json:"burst,omitempty"` // at least 1 when Rate is set
}

// Enabled reports whether l limits anything.
func (l RateLimit) Enabled() bool { return l.Rate > 0 }

// Validate checks l; name says which limit it is in the message.
func (l RateLimit) Validate(name string) error {
	switch {
	case math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate < 0:
		return fmt.Errorf("%s: the rate must be a positive number of calls a second, not %v", name, l.Rate)
	case l.Burst < 0:
		return fmt.Errorf("%s: the burst must be positive, not %d", name, l.Burst)
	case l.Rate > 0 && l.Burst == 0:
		return fmt.Errorf("%s: a rate needs a burst of at least 1", name)
	case l.Rate == 0 && l.Burst > 0:
		return fmt.Errorf("%s: a burst needs a rate", name)
	}
	return nil
}

// String is l as the Caddyfile writes it: "50/s 200", or "off".
func (l RateLimit) String() string {
	if !l.Enabled() {
		return "off"
	}
	return strconv.FormatFloat(l.Rate, 'f', -1, 64) + "/s " + strconv.Itoa(l.Burst)
}

// limiters are the token buckets of one scope (principals, or connections),
// made on first use. Buckets that are full again and unused for a while are
// dropped, so the map holds only recent callers.
type limiters struct {
	limit RateLimit

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	l    *rate.Limiter
	used time.Time
}

// idleBucket is how long a full bucket is kept after its last call.
const idleBucket = 10 * time.Minute

func newLimiters(l RateLimit) *limiters {
	return &limiters{limit: l, buckets: map[string]*bucket{}}
}

// reserve takes a call from key's bucket at now. If the bucket is empty it
// takes nothing and returns how long until it holds a call again.
func (s *limiters) reserve(key string, now time.Time) (*rate.Reservation, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[key]
	if b == nil {
		s.sweep(now)
		b = &bucket{l: rate.NewLimiter(rate.Limit(s.limit.Rate), s.limit.Burst)}
		s.buckets[key] = b
	}
	b.used = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d
	}
	return r, 0
}

// sweep drops idle buckets, at most once a minute.
func (s *limiters) sweep(now time.Time) {
	if now.Sub(s.swept) < time.Minute {
		return
	}
	s.swept = now
	for key, b := range s.buckets {
		if now.Sub(b.used) > idleBucket && b.l.TokensAt(now) >= float64(s.limit.Burst) {
			delete(s.buckets, key)
		}
	}
}

// rateLimits are a gateway's buckets for its current configuration.
type rateLimits struct {
	principals, connections *limiters
}

func newRateLimits(principal, connection RateLimit) *rateLimits {
	rl := &rateLimits{}
	if principal.Enabled() {
		rl.principals = newLimiters(principal)
	}
	if connection.Enabled() {
		rl.connections = newLimiters(connection)
	}
	return rl
}

// rateLimited is a refused call: who ran out, and when to try again.
type rateLimited struct {
	scope      string // "principal" or "connection"
	limit      RateLimit
	retryAfter time.Duration
}

// retryAfterSeconds is the Retry-After value: whole seconds, at least 1.
func (r *rateLimited) retryAfterSeconds() int {
	return max(1, int(math.Ceil(r.retryAfter.Seconds())))
}

// describe says which limit was reached and when to try again.
func (r *rateLimited) describe() string {
	who := "each principal"
	if r.scope == "connection" {
		who = "each connection, for everyone together"
	}
	return fmt.Sprintf("the limit is %s calls a second for %s, in bursts of up to %d; try again in %d s",
		strconv.FormatFloat(r.limit.Rate, 'f', -1, 64), who, r.limit.Burst, r.retryAfterSeconds())
}

// result is the tool result a script sees for a refused call.
func (r *rateLimited) result() *integration.Result {
	return &integration.Result{Error: &integration.ToolError{
		Code:      "rate_limited",
		Message:   "Too many tool calls: " + r.describe() + ".",
		Details:   map[string]any{"scope": r.scope, "retryAfterSeconds": r.retryAfterSeconds()},
		Retryable: true,
	}}
}

// take takes one call for principal and, when connection is not "", for
// that connection too. Either both are taken or neither.
func (rl *rateLimits) take(principal, connection string, now time.Time) *rateLimited {
	var taken *rate.Reservation
	if rl.principals != nil {
		r, wait := rl.principals.reserve(principal, now)
		if wait > 0 {
			return &rateLimited{scope: "principal", limit: rl.principals.limit, retryAfter: wait}
		}
		taken = r
	}
	if rl.connections != nil && connection != "" {
		if _, wait := rl.connections.reserve(connection, now); wait > 0 {
			if taken != nil {
				taken.CancelAt(now)
			}
			return &rateLimited{scope: "connection", limit: rl.connections.limit, retryAfter: wait}
		}
	}
	return nil
}

// counters counts something per principal, up to a limit.
type counters struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts one more for principal unless it has limit already; release
// undoes it.
func (c *counters) take(principal string, limit int) (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	if c.n[principal] >= limit {
		return nil, false
	}
	c.n[principal]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.n[principal]--; c.n[principal] <= 0 {
				delete(c.n, principal)
			}
		})
	}, true
}
