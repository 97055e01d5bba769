package mcpproxy

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// everything locates the third-party server @modelcontextprotocol/server-everything
// (testdata/npm). Without it the test skips, except under CI=true.
func everything(t *testing.T) string {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join("..", "testdata", "npm", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js"))
	_, nodeErr := exec.LookPath("node")
	_, fileErr := os.Stat(script)
	if nodeErr != nil || fileErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("server-everything is required under CI (node: %v, package: %v)", nodeErr, fileErr)
		}
		t.Skip("server-everything is not installed (cd testdata/npm && npm ci)")
	}
	return script
}

// startEverything runs server-everything's streamable HTTP transport and
// returns its /mcp URL; the process group is killed when the test ends.
func startEverything(t *testing.T, script string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("node", script, "streamableHttp")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), fmt.Sprintf("PORT=%d", port)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
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
		t.Fatal("server-everything did not start")
	}
	return fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
}

func TestThirdPartyMCPServerOverHTTPAndStdio(t *testing.T) {
	script := everything(t)
	endpoint := startEverything(t, script)
	tg := newTestGateway(t, Config{AllowStdio: true})
	for slug, body := range map[string]map[string]any{
		"everything": {"name": "Everything (HTTP)", "slug": "everything", "transport": "remote", "endpoint": endpoint, "remoteTransport": "streamable-http"},
		"local":      {"name": "Everything (stdio)", "slug": "local", "transport": "stdio", "command": "node", "args": []string{script, "stdio"}},
	} {
		if code, resp := tg.api(t, "alice", "POST", "/api/mcp/servers", body, nil); code != 200 {
			t.Fatalf("%s: %d %s", slug, code, resp)
		}
		var conn map[string]any
		if code, resp := tg.api(t, "alice", "POST", "/api/connections", map[string]any{"owner": "org", "name": "main", "integration": slug, "template": "none"}, &conn); code != 200 || conn["toolCount"].(float64) < 5 {
			t.Fatalf("%s connection: %d %s", slug, code, resp)
		}
	}
	c := tg.client(t, "alice")
	c.initialize()
	for _, slug := range []string{"everything", "local"} {
		t.Run(slug, func(t *testing.T) {
			r := c.execute(fmt.Sprintf(`const t = tools.%s.org.main;
const echo = await t.echo({ message: "hi" });
const img = await t.get_tiny_image({});
const res = await t.get_resource_reference({ resourceId: 1 });
const bad = await t.get_resource_reference({ resourceId: 0 });
const found = await tools.search({ query: "tiny image", namespace: %q });
return {
  echo: echo.data.content[0].text,
  image: img.data.content.find(c => c.type === "image")?.mimeType,
  resource: res.data.content.some(c => c.type === "resource"),
  bad: bad.ok ? "ok" : bad.error.code,
  found: found.items[0]?.path,
};`, slug, slug))
			want := fmt.Sprintf(`{"echo":"Echo: hi","image":"image/png","resource":true,"bad":"mcp_tool_error","found":"%s.org.main.get_tiny_image"}`, slug)
			if got := string(r.StructuredContent); !strings.Contains(got, want) {
				t.Fatalf("got %s\nwant result %s", got, want)
			}
		})
	}
	var status []map[string]any
	tg.api(t, "alice", "GET", "/api/mcp/status", nil, &status)
	if !strings.Contains(fmt.Sprint(status), "stdio") {
		t.Fatalf("stdio child not visible in the status: %v", status)
	}
}
