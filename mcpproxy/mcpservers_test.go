package mcpproxy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpexecutor/executor/mcpproxy/mcpupstream/everythingtest"
)

func TestThirdPartyMCPServerOverHTTPAndStdio(t *testing.T) {
	node, script := everythingtest.Locate(t)
	endpoint, _ := everythingtest.StartHTTP(t, node, script, 0)
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
	// The direct endpoint passes the server through: its own tool names,
	// its results as it sent them, its errors with isError.
	for _, slug := range []string{"everything", "local"} {
		t.Run(slug+" direct", func(t *testing.T) {
			d := sdkConnect(t, tg.srv.URL+"/mcp/direct/"+slug+"/org/main", "alice", true, nil)
			if tools := directTools(t, d); tools["echo"].Name == "" || tools["get-tiny-image"].Name == "" || tools["get_tiny_image"].Name != "" {
				t.Fatalf("tools %v, want the server's own names", tools)
			}
			if r := directCall(t, d, "echo", map[string]any{"message": "hi"}); r.IsError || resultText(r) != "Echo: hi" {
				t.Fatalf("echo: %+v", r)
			}
			img := directCall(t, d, "get-tiny-image", map[string]any{})
			if !slices.ContainsFunc(img.Content, func(c mcp.Content) bool {
				ic, ok := c.(mcp.ImageContent)
				return ok && ic.MIMEType == "image/png" && ic.Data != ""
			}) {
				t.Fatalf("get-tiny-image: %+v", img.Content)
			}
			if bad := directCall(t, d, "get-resource-reference", map[string]any{"resourceId": 0}); !bad.IsError {
				t.Fatalf("an invalid resource id: %+v, want isError", bad)
			}
		})
	}
	var status []map[string]any
	tg.api(t, "alice", "GET", "/api/mcp/status", nil, &status)
	if !strings.Contains(fmt.Sprint(status), "stdio") {
		t.Fatalf("stdio child not visible in the status: %v", status)
	}
}
