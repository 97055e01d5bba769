package mcpproxy

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
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

// readStream opens GET on path for session as principal, with lastEventID
// when not empty, and sends every line it reads to the returned channel
// until the test ends.
func readStream(t *testing.T, tg *testGateway, path, session, principal, lastEventID string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", tg.srv.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Test-Principal", principal)
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	lines := make(chan string, 64)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return lines
}

// security.md D20: a Last-Event-ID from another session's stream replays
// nothing of it.
func TestLastEventIDOfAnotherSessionReplaysNothing(t *testing.T) {
	tg := newTestGateway(t, Config{})
	echo := tool("echo", "Echo", `"text":{"type":"string"}`)
	tg.connect(t, "team", OwnerOrg, "", "main", echo)
	const path = "/mcp/direct/team/org/main"
	session := func(principal string) string {
		c := tg.client(t, principal)
		c.url = tg.srv.URL + path
		c.initialize()
		return c.session
	}
	mine := session("alice")
	first := readStream(t, tg, path, mine, "alice", "")
	time.Sleep(100 * time.Millisecond) // the stream is registered

	// The connection's tools change: the open stream is told at once.
	tg.connect(t, "team", OwnerOrg, "", "main", echo, tool("note", "Note", ``))
	var eventID string
	deadline := time.After(5 * time.Second)
	for seen := false; !seen; {
		select {
		case l := <-first:
			if strings.HasPrefix(l, "id:") {
				eventID = strings.TrimSpace(strings.TrimPrefix(l, "id:"))
			}
			seen = strings.Contains(l, "notifications/tools/list_changed")
		case <-deadline:
			t.Fatal("the session's own stream was not told that the tools changed")
		}
	}
	if eventID == "" {
		eventID = "1"
	}
	// Sessions that began after the change have nothing of their own to be
	// told about it.
	other, bobs := session("alice"), session("bob")
	for _, tc := range []struct{ name, session, principal string }{
		{"another session of the same principal", other, "alice"},
		{"another principal's session", bobs, "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := readStream(t, tg, path, tc.session, tc.principal, eventID)
			timeout := time.After(500 * time.Millisecond)
			for {
				select {
				case l := <-lines:
					if strings.HasPrefix(l, "data:") {
						t.Fatalf("replayed to %s: %s", tc.name, l)
					}
				case <-timeout:
					return
				}
			}
		})
	}
}

// security.md L4: a stream ends after its maximum age; the slot is free again.
func TestEventStreamsEndAfterTheirMaximumAge(t *testing.T) {
	tg := newTestGateway(t, Config{})
	tg.mcp.streams.maxAge = 300 * time.Millisecond
	tg.mcp.streams.perPrincipal = 1
	c := tg.client(t, "alice")
	c.initialize()
	req, _ := http.NewRequest("GET", tg.srv.URL+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Test-Principal", "alice")
	req.Header.Set("Mcp-Session-Id", c.session)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET: %v %v", err, res)
	}
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		close(done)
	}()
	select {
	case <-done:
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("the stream ended after %v, before its maximum age", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its maximum age")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := openStream(t, tg, c.session, "alice")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session's slot was not freed: %d", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
