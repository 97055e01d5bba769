package mcpupstream

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/mcpproxy/mcpupstream/everythingtest"
)

// The real third-party server @modelcontextprotocol/server-everything, as
// installed by `npm ci` in testdata/npm at the repository root.

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestServerEverything(t *testing.T) {
	node, script := everythingtest.Locate(t)
	t.Setenv("EXECUTOR_TEST_LEAK", "1")
	port := freePort(t)
	endpoint, server := everythingtest.StartHTTP(t, node, script, port)

	cases := []struct {
		name string
		cfg  Config
	}{
		{"stdio", Config{Transport: "stdio", Command: "node", Args: []string{script, "stdio"}}},
		{"streamable HTTP", Config{Transport: "remote", Endpoint: endpoint}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := newKind(t, Options{AllowStdio: true})
			c := connection(t, tc.cfg, integration.Credential{})
			start := time.Now()
			cat := produce(t, k, c)
			t.Logf("first Produce (spawn or connect, handshake, tools/list): %s", time.Since(start))
			for _, name := range []string{"echo", "get_tiny_image", "get_sum", "get_env"} {
				findTool(t, cat, name)
			}
			if m := findTool(t, cat, "get_tiny_image").Meta; !strings.Contains(string(m), `"originalName":"get-tiny-image"`) {
				t.Errorf("meta %s", m)
			}

			if got := text(t, call(t, k, c, cat, "echo", map[string]any{"message": "hello"})); got != "Echo: hello" {
				t.Errorf("echo: %q", got)
			}

			img := call(t, k, c, cat, "get_tiny_image", nil)
			if !img.OK {
				t.Fatalf("get-tiny-image: %s", resultJSON(t, img))
			}
			var res struct {
				Content []struct {
					Type, Data, MimeType string
				} `json:"content"`
			}
			if err := json.Unmarshal(img.Data.(json.RawMessage), &res); err != nil {
				t.Fatal(err)
			}
			var image bool
			for _, c := range res.Content {
				image = image || (c.Type == "image" && c.MimeType == "image/png" && strings.HasPrefix(c.Data, "iVBORw0KGgo"))
			}
			if !image {
				t.Errorf("no image block in %s", img.Data)
			}

			bad := call(t, k, c, cat, "get_sum", map[string]any{"a": "one", "b": 2})
			if bad.OK || bad.Error.Code != "mcp_tool_error" || bad.Error.Message == "" {
				t.Errorf("get-sum with a bad argument: %s", resultJSON(t, bad))
			}
			gone, err := k.Call(context.Background(), c, &integration.Tool{Name: "no_such_tool"}, nil)
			if err != nil || gone.OK || gone.Error.Code != "mcp_tool_error" {
				t.Errorf("unknown tool: %s %v", resultJSON(t, gone), err)
			}

			if tc.cfg.Transport == "stdio" {
				env := text(t, call(t, k, c, cat, "get_env", nil))
				if strings.Contains(env, "EXECUTOR_TEST_LEAK") || !strings.Contains(env, `"HOME"`) {
					t.Errorf("the child's environment: %s", env)
				}
				pid := statusOf(t, k, c.Key).PID
				if err := k.Close(); err != nil {
					t.Fatal(err)
				}
				noLeftovers(t, time.Second, pid)
				return
			}

			// The server restarts and forgets every session; the next call
			// reconnects by itself.
			_ = syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
			_ = server.Wait()
			_, server = everythingtest.StartHTTP(t, node, script, port)
			if got := text(t, call(t, k, c, cat, "echo", map[string]any{"message": "again"})); got != "Echo: again" {
				t.Errorf("echo after the restart: %q", got)
			}
			if st := statusOf(t, k, c.Key); st.Restarts != 1 || st.State != StateReady {
				t.Errorf("status %+v", st)
			}
		})
	}
}
