package mcpproxy

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// openStream opens GET /mcp on session as principal and leaves it open. It
// returns the status and a function that closes the stream.
func openStream(t *testing.T, tg *testGateway, session, principal string) (int, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", tg.srv.URL+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Test-Principal", principal)
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		cancel()
		return res.StatusCode, func() {}
	}
	closed := false
	closeIt := func() {
		if !closed {
			closed = true
			cancel()
			res.Body.Close()
		}
	}
	t.Cleanup(closeIt)
	return 200, closeIt
}

// security.md L4: one event stream per session, and a cap per principal.
func TestEventStreamsAreCapped(t *testing.T) {
	tg := newTestGateway(t, Config{})
	tg.mcp.streams.perPrincipal = 2
	session := func(principal string) string {
		c := tg.client(t, principal)
		c.initialize()
		return c.session
	}
	a, b, c := session("alice"), session("alice"), session("alice")

	status, closeA := openStream(t, tg, a, "alice")
	if status != 200 {
		t.Fatalf("the first stream: %d", status)
	}
	if status, _ := openStream(t, tg, a, "alice"); status != http.StatusConflict {
		t.Fatalf("a second stream on the same session: %d, want 409", status)
	}
	if status, _ := openStream(t, tg, b, "alice"); status != 200 {
		t.Fatalf("a stream on another session: %d", status)
	}
	if status, _ := openStream(t, tg, c, "alice"); status != http.StatusTooManyRequests {
		t.Fatalf("a third stream of a principal capped at two: %d, want 429", status)
	}
	if status, _ := openStream(t, tg, session("bob"), "bob"); status != 200 {
		t.Fatalf("another principal's stream: %d", status)
	}

	// Closing a stream frees its slot.
	closeA()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := openStream(t, tg, c, "alice")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing a stream, a new one still gets %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
