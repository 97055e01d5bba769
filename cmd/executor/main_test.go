package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the executor built once for this package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "executor-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "executor")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the executor binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a port that is free now, below Linux's ephemeral range
// (32768 and up): the gateway binds it only once its process has started,
// a second or so later, and a port the kernel had just handed to bind(0)
// would by then often serve a test's httptest upstream, which answered in
// the gateway's place.
func freePort(t *testing.T) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port between 20000 and 32000")
	return 0
}

// env is a clean environment with its own HOME, so nothing leaks between
// tests or into the developer's real data directory.
func env(t *testing.T, home string, extra ...string) []string {
	return append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "XDG_DATA_HOME=", "XDG_CONFIG_HOME="}, extra...)
}

// process is a started executor that is killed (with its process group)
// when the test ends.
type process struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func start(t *testing.T, dir string, environ []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = dir, environ
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, out: out}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
	})
	return p
}

func waitHTTP(t *testing.T, url string, p *process) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			return
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer; output:\n%s", url, p.out.String())
}

func run(t *testing.T, dir string, environ []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir, cmd.Env = dir, environ
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func post(t *testing.T, url string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"0"}}}`

func TestRunFromAnEmptyFolderServesTheEmbeddedLocalDefault(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	port, admin := freePort(t), freePort(t)
	p := start(t, dir, env(t, home, fmt.Sprintf("EXECUTOR_PORT=%d", port), fmt.Sprintf("EXECUTOR_ADMIN=localhost:%d", admin)), "run")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/", p)

	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<title>Executor</title>") {
		t.Fatalf("GET / = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	r, b := post(t, base+"/mcp", nil, initialize)
	if r.StatusCode != 200 || r.Header.Get("Mcp-Session-Id") == "" || !strings.Contains(b, `"serverInfo":{"name":"executor"`) {
		t.Fatalf("initialize = %d %s", r.StatusCode, b)
	}
	r, b = post(t, base+"/mcp", map[string]string{"Mcp-Session-Id": r.Header.Get("Mcp-Session-Id"), "Mcp-Protocol-Version": "2025-06-18"}, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if r.StatusCode != 200 || !strings.Contains(b, `"tools"`) {
		t.Fatalf("tools/list = %d %s", r.StatusCode, b)
	}
	keyFile := filepath.Join(home, ".local/share/caddy/executor/secret.key")
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the local secret key %s: %v %v", keyFile, st, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("run wrote into the working folder: %v", entries)
	}

	// security.md I7: Caddy's admin API is on its own loopback port, never
	// behind the gateway's address, and the config it serves holds no key.
	key, _ := os.ReadFile(keyFile)
	for _, path := range []string{"/config/", "/debug/pprof/", "/debug/vars", "/load", "/reverse_proxy/upstreams"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), `"apps"`) || strings.Contains(string(b), "goroutine") || strings.Contains(string(b), "memstats") {
			t.Errorf("GET %s on the gateway's address reached the admin API: %d %.100s", path, res.StatusCode, b)
		}
	}
	res, err = http.Get(fmt.Sprintf("http://localhost:%d/config/", admin))
	if err != nil {
		t.Fatal(err)
	}
	config, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(config), `"executor"`) {
		t.Fatalf("the admin API's config: %d %.200s", res.StatusCode, config)
	}
	if k := strings.TrimSpace(string(key)); len(k) < 16 || strings.Contains(string(config), k) || strings.Contains(string(config), "secret_key\"") {
		t.Fatalf("the config served by the admin API holds the secret key:\n%s", config)
	}
}

func TestLocalModeOnAnyAddressRefusesToStart(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	out, err := run(t, dir, env(t, home, "EXECUTOR_HOST=0.0.0.0", fmt.Sprintf("EXECUTOR_PORT=%d", freePort(t)), fmt.Sprintf("EXECUTOR_ADMIN=localhost:%d", freePort(t))), "run")
	if err == nil {
		t.Fatalf("started on 0.0.0.0:\n%s", out)
	}
	if !strings.Contains(out, "allowed only on loopback") {
		t.Fatalf("the refusal does not say why:\n%s", out)
	}
}

func TestCaddyCommandsKeepWorking(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	e := env(t, home)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "v2."},
		{[]string{"list-modules"}, "http.handlers.executor"},
		{[]string{"list-modules"}, "http.authentication.providers.cloudflare_access"},
		{[]string{"list-modules"}, "http.authentication.providers.jwt"},
		{[]string{"adapt"}, `"executor"`},
		{[]string{"validate"}, "Valid configuration"},
	} {
		out, err := run(t, dir, e, tc.args...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Fatalf("executor %s: %v\n%s", strings.Join(tc.args, " "), err, out)
		}
	}
	// list-modules names the app too (it is listed among non-standard modules).
	out, _ := run(t, dir, e, "list-modules")
	if !strings.Contains(out, "\nexecutor\n") {
		t.Fatalf("list-modules does not show the executor app:\n%s", out)
	}
}

func TestReloadTwiceWithTheSameStorage(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	port, admin := freePort(t), freePort(t)
	e := env(t, home, fmt.Sprintf("EXECUTOR_PORT=%d", port), fmt.Sprintf("EXECUTOR_ADMIN=localhost:%d", admin))
	p := start(t, dir, e, "run")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/", p)
	r, _ := post(t, base+"/mcp", nil, initialize)
	sid := r.Header.Get("Mcp-Session-Id")

	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, binary, "reload", "--force", "--address", fmt.Sprintf("localhost:%d", admin))
		cmd.Dir, cmd.Env = dir, e
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("reload %d: %v\n%s\n%s", i, err, out, p.out.String())
		}
	}
	r, b := post(t, base+"/mcp", map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if r.StatusCode != 200 {
		t.Fatalf("state lost across reloads: %d %s", r.StatusCode, b)
	}
}

func TestTheCollectorsPacingDefaultsTo200UnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		env  string
		want int
	}{{"", gcPercent}, {"50", 100}} {
		debug.SetGCPercent(100)
		setGCPercent(func(k string) string {
			if k == "GOGC" {
				return tc.env
			}
			return ""
		})
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: the pacing is %d, want %d (the runtime applies a set GOGC itself)", tc.env, got, tc.want)
		}
	}
}
