// Package everythingtest runs the real third-party MCP server
// @modelcontextprotocol/server-everything, as installed by `npm ci` in
// testdata/npm at the repository root, for tests of any package.
package everythingtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Locate returns node and the server's script. Without either the test is
// skipped, except under CI=true, where it fails.
func Locate(t testing.TB) (node, script string) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI must provide it (cd testdata/npm && npm ci)", what)
		}
		t.Skipf("%s; run `cd testdata/npm && npm ci` to include this test", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	script = filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "npm", "node_modules",
		"@modelcontextprotocol", "server-everything", "dist", "index.js")
	if _, err := os.Stat(script); err != nil {
		missing("@modelcontextprotocol/server-everything is not installed")
	}
	return node, script
}

// StartHTTP runs the server's streamable HTTP transport on port (a free one
// when 0) and returns its /mcp URL once it listens, and the process, whose
// group is killed when the test ends.
func StartHTTP(t testing.TB, node, script string, port int) (url string, cmd *exec.Cmd) {
	t.Helper()
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	cmd = exec.Command(node, script, "streamableHttp")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), fmt.Sprintf("PORT=%d", port)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	t.Cleanup(stop)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on port") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		stop()
		t.Fatal("server-everything did not start listening")
	}
	return fmt.Sprintf("http://127.0.0.1:%d/mcp", port), cmd
}
