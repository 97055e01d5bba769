package mcpproxy

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRateLimitValidate(t *testing.T) {
	tests := []struct {
		limit RateLimit
		want  string // "" for valid
	}{
		{RateLimit{}, ""},
		{RateLimit{Rate: 50, Burst: 200}, ""},
		{RateLimit{Rate: 0.5, Burst: 1}, ""},
		{RateLimit{Rate: -1, Burst: 1}, "positive number"},
		{RateLimit{Rate: 10}, "burst of at least 1"},
		{RateLimit{Burst: 10}, "a burst needs a rate"},
		{RateLimit{Rate: 1, Burst: -1}, "burst must be positive"},
	}
	for _, tt := range tests {
		err := tt.limit.Validate("the limit")
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: %v, want %q", tt.limit, err, tt.want)
		}
	}
	if _, err := New(Config{Store: newTestGateway(t, Config{}).store, ConnectionRate: RateLimit{Rate: 5}}); err == nil {
		t.Error("New accepted a rate without a burst")
	}
}

// callCodes runs a script making n calls of tools.<path> and returns each
// call's outcome: "ok" or the error code.
func callCodes(t *testing.T, c *mcpClient, path string, n int) string {
	t.Helper()
	res := c.execute(`const out = [];
for (let i = 0; i < ` + strconv.Itoa(n) + `; i++) {
  const r = await tools.` + path + `({ text: "x" });
  out.push(r.ok ? "ok" : r.error.code + (r.error.details ? ":" + r.error.details.scope + ":" + r.error.details.retryAfterSeconds : ""));
}
return out.join(" ")`)
	if res.IsError {
		t.Fatalf("execute: %s", res.text())
	}
	return strings.Trim(res.text(), `"`)
}

func TestToolCallsOfAPrincipalAreRateLimited(t *testing.T) {
	clock := newFakeClock()
	tg := newTestGateway(t, Config{PrincipalRate: RateLimit{Rate: 1, Burst: 3}, clock: clock.now})
	tg.connect(t, "pets", OwnerOrg, "", "main", tool("echo", "Echo", `"text":{"type":"string"}`))
	alice, bob := tg.client(t, "alice"), tg.client(t, "bob")
	alice.initialize()
	bob.initialize()

	// The execute request takes one of alice's three calls, so her script
	// gets two.
	if got, want := callCodes(t, alice, "pets.org.main.echo", 3), "ok ok rate_limited:principal:1"; got != want {
		t.Fatalf("alice: %s, want %s", got, want)
	}
	if got := callCodes(t, bob, "pets.org.main.echo", 2); got != "ok ok" {
		t.Fatalf("bob, another principal: %s", got)
	}
	if n := tg.kind.perTool["echo"].Load(); n != 4 {
		t.Fatalf("the upstream saw %d calls, want 4: a refused call never reaches it", n)
	}
	clock.advance(2 * time.Second)
	if got := callCodes(t, alice, "pets.org.main.echo", 1); got != "ok" {
		t.Fatalf("alice two seconds later: %s", got)
	}
	tg.auditLog.flushNow()
	var page struct {
		Items []auditRecord `json:"items"`
	}
	tg.api(t, "alice", "GET", "/api/audit?outcome=rate_limited", nil, &page)
	if len(page.Items) != 1 || page.Items[0].Address != "tools.pets.org.main.echo" || page.Items[0].Principal != "alice" {
		t.Fatalf("the audit log's rate_limited calls: %+v", page.Items)
	}
}

func TestConnectionRateLimitCountsEveryone(t *testing.T) {
	clock := newFakeClock()
	tg := newTestGateway(t, Config{ConnectionRate: RateLimit{Rate: 1, Burst: 2}, clock: clock.now})
	tg.connect(t, "pets", OwnerOrg, "", "main", tool("echo", "Echo", `"text":{"type":"string"}`))
	tg.connect(t, "pets", OwnerOrg, "", "spare", tool("echo", "Echo", `"text":{"type":"string"}`))
	alice, bob := tg.client(t, "alice"), tg.client(t, "bob")
	alice.initialize()
	bob.initialize()
	if got := callCodes(t, alice, "pets.org.main.echo", 2); got != "ok ok" {
		t.Fatalf("alice: %s", got)
	}
	if got, want := callCodes(t, bob, "pets.org.main.echo", 1), "rate_limited:connection:1"; got != want {
		t.Fatalf("bob on the same connection: %s, want %s", got, want)
	}
	if got := callCodes(t, bob, "pets.org.spare.echo", 1); got != "ok" {
		t.Fatalf("bob on another connection: %s", got)
	}
	// Builtins and the gateway's own tools are not an upstream's calls.
	res := bob.execute(`await tools.search({ query: "echo" }); return (await tools.executor.coreTools.connections.list({})).ok`)
	if res.IsError || res.text() != "true" {
		t.Fatalf("search and a system tool: %s", res.text())
	}
	clock.advance(time.Second)
	if got := callCodes(t, bob, "pets.org.main.echo", 1); got != "ok" {
		t.Fatalf("bob a second later: %s", got)
	}
}

func TestMCPToolCallFloodGets429WithRetryAfter(t *testing.T) {
	clock := newFakeClock()
	tg := newTestGateway(t, Config{PrincipalRate: RateLimit{Rate: 0.5, Burst: 1}, clock: clock.now})
	c := tg.client(t, "alice")
	c.initialize()
	if res := c.execute("return 1"); res.text() != "1" {
		t.Fatalf("first execute: %s", res.text())
	}
	// security.md B4: the bucket is the principal's, whatever address the
	// request claims to come from.
	c.headers["X-Forwarded-For"], c.headers["Cf-Connecting-Ip"] = "203.0.113.7", "203.0.113.8"
	res := c.call("tools/call", map[string]any{"name": "execute", "arguments": map[string]any{"code": "return 2"}})
	delete(c.headers, "X-Forwarded-For")
	delete(c.headers, "Cf-Connecting-Ip")
	if res.status != 429 || res.header.Get("Retry-After") != "2" || res.Error == nil || !strings.Contains(res.Error.Message, "Too Many Requests") {
		t.Fatalf("second execute: %d Retry-After %q %s", res.status, res.header.Get("Retry-After"), res.raw)
	}
	// Only tool calls count: listing and pings still work.
	if res := c.call("tools/list", map[string]any{}); res.status != 200 || res.Error != nil {
		t.Fatalf("tools/list while limited: %d %s", res.status, res.raw)
	}
	// Another principal is not affected.
	bob := tg.client(t, "bob")
	bob.initialize()
	if res := bob.execute("return 3"); res.text() != "3" {
		t.Fatalf("bob: %s", res.text())
	}
	clock.advance(2 * time.Second)
	if res := c.execute("return 4"); res.text() != "4" {
		t.Fatalf("after Retry-After: %s", res.text())
	}
	var cfg struct {
		RateLimits map[string]RateLimit `json:"rateLimits"`
	}
	tg.api(t, "alice", "GET", "/api/config", nil, &cfg)
	if p, c := cfg.RateLimits["principal"], cfg.RateLimits["connection"]; p.String() != "0.5/s 1" || c.String() != "off" {
		t.Fatalf("/api/config rateLimits = %+v", cfg.RateLimits)
	}
}

func TestReconfigureKeepsOrResetsRateLimits(t *testing.T) {
	clock := newFakeClock()
	cfg := Config{PrincipalRate: RateLimit{Rate: 1, Burst: 1}, clock: clock.now}
	tg := newTestGateway(t, cfg)
	c := tg.client(t, "alice")
	c.initialize()
	c.execute("return 1")
	limited := func() bool {
		return c.call("tools/call", map[string]any{"name": "execute", "arguments": map[string]any{"code": "return 1"}}).status == 429
	}
	if !limited() {
		t.Fatal("the second call was not limited")
	}
	same := cfg
	same.Store, same.Sandbox = tg.store, tg.sandbox
	if err := tg.Reconfigure(same); err != nil {
		t.Fatal(err)
	}
	if !limited() {
		t.Fatal("a reload with the same limits forgot the buckets")
	}
	higher := same
	higher.PrincipalRate = RateLimit{Rate: 1, Burst: 5}
	if err := tg.Reconfigure(higher); err != nil {
		t.Fatal(err)
	}
	if limited() {
		t.Fatal("a reload with a higher burst still refused the call")
	}
	off := same
	off.PrincipalRate = RateLimit{}
	if err := tg.Reconfigure(off); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if limited() {
			t.Fatal("a call was limited with the limit off")
		}
	}
	if err := tg.Reconfigure(Config{PrincipalRate: RateLimit{Rate: 3}}); err == nil || !strings.Contains(err.Error(), "burst") {
		t.Fatalf("Reconfigure with a rate and no burst: %v", err)
	}
}
