package mcpupstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/mcpproxy/mcpupstream"
)

func Example() {
	// An upstream MCP server with one tool whose name needs sanitising.
	s := server.NewMCPServer("weather", "1.0.0")
	s.AddTool(mcp.NewTool("Get-Forecast", mcp.WithString("city"), mcp.WithDestructiveHintAnnotation(false)),
		func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("Sunny in " + r.GetString("city", "?")), nil
		})
	upstream := httptest.NewServer(server.NewStreamableHTTPServer(s))
	defer upstream.Close()

	kind := mcpupstream.New(mcpupstream.Options{})
	defer kind.Close()

	cfg, _ := json.Marshal(mcpupstream.Config{Transport: "remote", Endpoint: upstream.URL + "/mcp"})
	conn := &integration.Connection{
		Key:        "org//weather/main",
		Config:     cfg,
		Credential: integration.Credential{AccessToken: "token-from-the-connection"},
		HTTP:       http.DefaultClient, // the gateway passes its egress-guarded client
	}
	cat, err := kind.Produce(context.Background(), conn)
	if err != nil {
		fmt.Println(err)
		return
	}
	tool := cat.Tools[0]
	fmt.Println(tool.Name, string(tool.Meta))

	// data is the upstream's CallToolResult exactly as it was sent.
	res, _ := kind.Call(context.Background(), conn, &tool, json.RawMessage(`{"city":"Oslo"}`))
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	// Output:
	// get_forecast {"originalName":"Get-Forecast","annotations":{"readOnlyHint":false,"destructiveHint":false,"idempotentHint":false,"openWorldHint":true}}
	// {"ok":true,"data":{"content":[{"type":"text","text":"Sunny in Oslo"}]}}
}
