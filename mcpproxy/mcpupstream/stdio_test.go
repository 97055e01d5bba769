package mcpupstream

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// stdioConn is a connection to the test stdio server.
func stdioConn(t testing.TB, env map[string]string, cred integration.Credential) *integration.Connection {
	return connection(t, Config{Transport: "stdio", Command: stdioServer, Env: env}, cred)
}

// childPID starts the child if needed and returns its pid, checking that it
// leads its own process group.
func childPID(t testing.TB, k *Kind, c *integration.Connection, cat *integration.Catalog) int {
	t.Helper()
	var info struct {
		PID  int    `json:"pid"`
		PGID int    `json:"pgid"`
		Cwd  string `json:"cwd"`
	}
	if err := json.Unmarshal([]byte(text(t, call(t, k, c, cat, "info", nil))), &info); err != nil {
		t.Fatal(err)
	}
	if info.PGID != info.PID {
		t.Errorf("the child (pid %d) is in process group %d, not its own", info.PID, info.PGID)
	}
	if st := statusOf(t, k, c.Key); st.PID != info.PID || st.State != StateReady || st.Transport != "stdio" {
		t.Errorf("status %+v for child %d", st, info.PID)
	}
	return info.PID
}

// noLeftovers fails the test if any of pids is still running.
func noLeftovers(t testing.TB, within time.Duration, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		eventually(t, "process to end", within, func() bool { return !alive(pid) })
	}
}

func TestStdioChildGetsACleanEnvironment(t *testing.T) {
	t.Setenv("EXECUTOR_TEST_LEAK", "1")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "gateway-secret")
	k := newKind(t, Options{AllowStdio: true})
	// Short values: longer ones would be redacted from the data the env tool
	// returns, which TestCredentialEchoedByAChildIsRedacted covers.
	cred := integration.Credential{Values: map[string]string{"token": "tok-12"}, AccessToken: "at-987"}
	c := stdioConn(t, map[string]string{
		"API_KEY":  "${token}",
		"BEARER":   "Bearer ${accessToken}",
		"LITERAL":  "$${token}",
		"PLAIN":    "value",
		"LANGUAGE": "en",
	}, cred)
	cat := produce(t, k, c)
	var env []string
	if err := json.Unmarshal([]byte(text(t, call(t, k, c, cat, "env", nil))), &env); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		got[name] = v
	}
	for _, leak := range []string{"EXECUTOR_TEST_LEAK", "AWS_SECRET_ACCESS_KEY", "GOPATH", "USER"} {
		if _, ok := got[leak]; ok {
			t.Errorf("the child sees %s", leak)
		}
	}
	want := map[string]string{
		"API_KEY": "tok-12", "BEARER": "Bearer at-987", "LITERAL": "${token}", "PLAIN": "value",
		"LANGUAGE": "en", "PATH": os.Getenv("PATH"),
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s=%q, want %q", name, got[name], v)
		}
	}
	home := got["HOME"]
	if home == "" || home == os.Getenv("HOME") || !strings.Contains(filepath.Base(home), "executor-mcp-") {
		t.Errorf("HOME=%q", home)
	}
	if len(got) != len(want)+2 { // + HOME, LANG
		t.Errorf("unexpected variables: %v", env)
	}
	pid := childPID(t, k, c, cat)
	k.Forget(c.Key)
	noLeftovers(t, 5*time.Second, pid)
	eventually(t, "HOME removed", 5*time.Second, func() bool { _, err := os.Stat(home); return os.IsNotExist(err) })
}

func TestCredentialEchoedByAChildIsRedacted(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true})
	const secret = "sk-live-0123456789abcdef"
	c := stdioConn(t, map[string]string{"API_KEY": "${token}"}, integration.Credential{Values: map[string]string{"token": secret}})
	cat := produce(t, k, c)
	out := resultJSON(t, call(t, k, c, cat, "env", nil))
	if strings.Contains(out, secret) || !strings.Contains(out, "API_KEY=[redacted]") {
		t.Errorf("got %s", out)
	}
}

func TestStdioCredentialReferenceWithoutValueFails(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true})
	c := stdioConn(t, map[string]string{"API_KEY": "${token}"}, integration.Credential{})
	_, err := k.Produce(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "${token}") {
		t.Fatalf("got %v", err)
	}
}

func TestStdioIsRefusedUnlessAllowed(t *testing.T) {
	k := newKind(t, Options{})
	c := stdioConn(t, nil, integration.Credential{})
	if _, err := k.Produce(context.Background(), c); err == nil || !strings.Contains(err.Error(), "stdio MCP servers are disabled on this gateway") {
		t.Fatalf("Produce: %v", err)
	}
	res, err := k.Call(context.Background(), c, &integration.Tool{Name: "echo"}, nil)
	if err != nil || res.OK || res.Error.Code != "mcp_connection_failed" || !strings.Contains(res.Error.Message, "disabled") {
		t.Fatalf("Call: %v %v", res, err)
	}
}

func TestIdleStdioChildIsReaped(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true, IdleTimeout: 300 * time.Millisecond})
	c := stdioConn(t, nil, integration.Credential{})
	cat := produce(t, k, c)
	pid := childPID(t, k, c, cat)
	grandchild := pidOf(t, text(t, call(t, k, c, cat, "spawn", nil)))
	noLeftovers(t, 10*time.Second, pid, grandchild)
	if st := statusOf(t, k, c.Key); st.State != StateIdle || st.PID != 0 {
		t.Errorf("status after reaping: %+v", st)
	}
	// The next use starts a new child.
	again := childPID(t, k, c, cat)
	if again == pid {
		t.Error("the same pid after reaping")
	}
	if st := statusOf(t, k, c.Key); st.Restarts != 0 {
		t.Errorf("reaping counted as a restart: %+v", st)
	}
}

func TestCloseKillsTheWholeProcessGroup(t *testing.T) {
	for _, how := range []string{"Close", "Forget"} {
		t.Run(how, func(t *testing.T) {
			k := New(Options{AllowStdio: true, Logger: quietLogger()})
			defer k.Close()
			var pids []int
			var conns []*integration.Connection
			for range 3 {
				c := stdioConn(t, nil, integration.Credential{})
				cat := produce(t, k, c)
				pids = append(pids, childPID(t, k, c, cat), pidOf(t, text(t, call(t, k, c, cat, "spawn", nil))))
				conns = append(conns, c)
			}
			for _, pid := range pids {
				if !alive(pid) {
					t.Fatalf("pid %d is not running before %s", pid, how)
				}
			}
			start := time.Now()
			if how == "Close" {
				if err := k.Close(); err != nil {
					t.Fatal(err)
				}
				if err := k.Close(); err != nil {
					t.Fatal("second Close:", err)
				}
				for _, pid := range pids {
					if alive(pid) {
						t.Errorf("pid %d survived Close", pid)
					}
				}
				// The children ignore nothing: SIGTERM does it, well before
				// the SIGKILL grace.
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("Close took %s", d)
				}
				res, err := k.Call(context.Background(), conns[0], &integration.Tool{Name: "echo"}, nil)
				if err != nil || res.OK {
					t.Errorf("a call after Close: %v %v", res, err)
				}
			} else {
				for _, c := range conns {
					k.Forget(c.Key)
				}
				noLeftovers(t, 5*time.Second, pids...)
				if len(k.Status()) != 0 {
					t.Errorf("status after Forget: %+v", k.Status())
				}
			}
		})
	}
}

func TestCrashedStdioChildRestartsWithBackoff(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true, RestartBackoff: 300 * time.Millisecond})
	c := stdioConn(t, nil, integration.Credential{})
	cat := produce(t, k, c)
	first := childPID(t, k, c, cat)
	grandchild := pidOf(t, text(t, call(t, k, c, cat, "spawn", nil)))

	res := call(t, k, c, cat, "crash", map[string]any{"code": 3})
	if res.OK || res.Error.Code != "mcp_connection_failed" || !res.Error.Retryable || !strings.Contains(res.Error.Message, "exit status 3") {
		t.Fatalf("the crashing call: %s", resultJSON(t, res))
	}
	noLeftovers(t, 5*time.Second, first, grandchild)
	st := statusOf(t, k, c.Key)
	if st.State != StateBackoff || st.Restarts != 0 || !strings.Contains(st.LastError, "exit status 3") ||
		!strings.Contains(st.LastError, "crashing as asked") || st.RetryAt.IsZero() {
		t.Errorf("status after the crash: %+v", st)
	}

	// The next call waits out the short backoff and gets a new child.
	second := childPID(t, k, c, cat)
	if second == first {
		t.Error("not restarted")
	}
	if st := statusOf(t, k, c.Key); st.Restarts != 1 {
		t.Errorf("status after the restart: %+v", st)
	}

	// A quick second crash doubles the wait.
	call(t, k, c, cat, "crash", nil)
	eventually(t, "backoff", 5*time.Second, func() bool { return statusOf(t, k, c.Key).State == StateBackoff })
	if wait := time.Until(statusOf(t, k, c.Key).RetryAt); wait < 400*time.Millisecond {
		t.Errorf("second backoff %s, want about 600ms", wait)
	}
	childPID(t, k, c, cat)
	if st := statusOf(t, k, c.Key); st.Restarts != 2 {
		t.Errorf("status: %+v", st)
	}
}

func TestStdioStartFailureShowsTheChildsOutput(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true})
	c := stdioConn(t, map[string]string{"STDIOSERVER_FAIL_START": "1"}, integration.Credential{})
	_, err := k.Produce(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "exit status 7") || !strings.Contains(err.Error(), "told to fail at start-up") {
		t.Fatalf("Produce: %v", err)
	}
	st := statusOf(t, k, c.Key)
	if st.State != StateBackoff || !strings.Contains(st.LastError, "told to fail") {
		t.Errorf("status %+v", st)
	}
	res, err := k.Call(context.Background(), c, &integration.Tool{Name: "echo"}, nil)
	if err != nil || res.OK || res.Error.Code != "mcp_connection_failed" || !res.Error.Retryable {
		t.Fatalf("Call: %s %v", resultJSON(t, res), err)
	}

	missing := connection(t, Config{Transport: "stdio", Command: "/nonexistent/mcp-server"}, integration.Credential{})
	if _, err := k.Produce(context.Background(), missing); err == nil || !strings.Contains(err.Error(), "/nonexistent/mcp-server") {
		t.Errorf("missing command: %v", err)
	}
}

func TestStdioLargeMessages(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true})
	c := stdioConn(t, nil, integration.Credential{})
	cat := produce(t, k, c)
	const size = 10 << 20
	if got := text(t, call(t, k, c, cat, "big", map[string]any{"bytes": size})); len(got) != size {
		t.Fatalf("got %d bytes, want %d", len(got), size)
	}
	big := strings.Repeat("z", size)
	if got := text(t, call(t, k, c, cat, "echo", map[string]any{"text": big})); got != big {
		t.Fatalf("echo of 10 MB came back with %d bytes", len(got))
	}

	// A child that never ends its line is stopped at the limit.
	k = newKind(t, Options{AllowStdio: true})
	k.maxLine = 2 << 20
	c = stdioConn(t, nil, integration.Credential{})
	cat = produce(t, k, c)
	pid := childPID(t, k, c, cat)
	res := call(t, k, c, cat, "unterminated", nil)
	if res.OK || res.Error.Code != "mcp_connection_failed" {
		t.Fatalf("got %s", resultJSON(t, res))
	}
	noLeftovers(t, 10*time.Second, pid)
	eventually(t, "status", 5*time.Second, func() bool {
		return strings.Contains(statusOf(t, k, c.Key).LastError, "larger than 2 MiB")
	})
}

func TestStdioToolsListChanged(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true})
	c := stdioConn(t, nil, integration.Credential{})
	changed := make(chan struct{}, 1)
	c.ToolsChanged = func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	cat := produce(t, k, c)
	call(t, k, c, cat, "add_tool", nil)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("ToolsChanged was not called")
	}
	if cat := produce(t, k, c); findTool(t, cat, "added") == nil {
		t.Fatal("no new tool")
	}
}

func TestStdioInputRequestsFailInsteadOfHanging(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true, PreferModern: true})
	c := stdioConn(t, nil, integration.Credential{})
	cat := produce(t, k, c)
	res := call(t, k, c, cat, "ask", nil)
	if res.OK || res.Error.Code != "mcp_tool_error" || !strings.Contains(res.Error.Message, "input from the user") {
		t.Fatalf("got %s", resultJSON(t, res))
	}
}

func TestStdioStartsAreBounded(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true, MaxConcurrentStarts: 1})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var pids []int
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := stdioConn(t, nil, integration.Credential{})
			cat := produce(t, k, c)
			pid := childPID(t, k, c, cat)
			mu.Lock()
			pids = append(pids, pid)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(pids) != 4 {
		t.Fatalf("%d children", len(pids))
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, time.Second, pids...)
}
