package mcpproxy

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// busyCounter is a Config.Busy that counts the work in progress.
type busyCounter struct{ active, started atomic.Int32 }

func (b *busyCounter) begin() func() {
	b.active.Add(1)
	b.started.Add(1)
	return func() { b.active.Add(-1) }
}

// waitActive waits until n units of work are in progress.
func (b *busyCounter) waitActive(t *testing.T, n int32) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.active.Load() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("work in progress: %d, want %d", b.active.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Config.Busy hears of every MCP message and API request while it is
// served, and of no event stream, which waits rather than works.
func TestBusyCountsWorkButNotStreams(t *testing.T) {
	var busy busyCounter
	tg := newTestGateway(t, Config{Busy: busy.begin})
	tg.connect(t, "slow", OwnerOrg, "", "main", tool("sleep", "Sleeps", `"ms":{"type":"number"}`))
	c := tg.client(t, "alice")
	c.initialize()
	busy.waitActive(t, 0)
	if busy.started.Load() < 2 { // initialize, notifications/initialized
		t.Fatalf("%d units of work for the handshake, want 2 or more", busy.started.Load())
	}

	status, closeStream := openStream(t, tg, c.session, "alice")
	if status != 200 {
		t.Fatalf("GET /mcp: %d", status)
	}
	listen := openListen(t, tg)
	time.Sleep(50 * time.Millisecond)
	busy.waitActive(t, 0)

	done := make(chan toolResult)
	go func() { done <- c.execute(`return await tools.slow.org.main.sleep({ ms: 300 })`) }()
	busy.waitActive(t, 1)
	if res := <-done; res.IsError {
		t.Fatalf("execute: %s", res.text())
	}
	busy.waitActive(t, 0)

	before := busy.started.Load()
	req, _ := http.NewRequest("GET", tg.srv.URL+"/api/integrations", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if busy.started.Load() != before+1 {
		t.Fatalf("an API request counted %d units of work, want 1", busy.started.Load()-before)
	}
	closeStream()
	listen()
	busy.waitActive(t, 0)
}

// openListen holds a 2026-07-28 subscriptions/listen stream open until the
// returned function is called.
func openListen(t *testing.T, tg *testGateway) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	body := `{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"notifications":{"toolsListChanged":true}}}`
	req, _ := http.NewRequestWithContext(ctx, "POST", tg.srv.URL+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "subscriptions/listen")
	req.Header.Set("X-Test-Principal", "alice")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		cancel()
		t.Fatalf("subscriptions/listen: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	stop := func() { cancel(); res.Body.Close() }
	t.Cleanup(stop)
	return stop
}
