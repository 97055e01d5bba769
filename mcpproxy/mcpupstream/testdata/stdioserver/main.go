// Command stdioserver is a small MCP server on stdio for the tests of
// package mcpupstream: it reports its environment and pid, spawns a
// grandchild, crashes on request and sends large messages.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func main() {
	fmt.Fprintln(os.Stderr, "stdioserver: starting")
	if os.Getenv("STDIOSERVER_FAIL_START") != "" {
		fmt.Fprintln(os.Stderr, "stdioserver: told to fail at start-up")
		os.Exit(7)
	}
	s := server.NewMCPServer("stdioserver", "1.0.0", server.WithToolCapabilities(true))
	text := func(v string) *mcp.CallToolResult { return mcp.NewToolResultText(v) }
	s.AddTool(mcp.NewTool("echo", mcp.WithString("text")), func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text(r.GetString("text", "")), nil
	})
	s.AddTool(mcp.NewTool("env"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		b, _ := json.Marshal(os.Environ())
		return text(string(b)), nil
	})
	s.AddTool(mcp.NewTool("info"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		wd, _ := os.Getwd()
		b, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "pgid": pgid(), "cwd": wd})
		return text(string(b)), nil
	})
	var kids []*exec.Cmd
	s.AddTool(mcp.NewTool("spawn"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		cmd := exec.Command("sleep", "1000")
		if err := cmd.Start(); err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		kids = append(kids, cmd)
		return text(fmt.Sprint(cmd.Process.Pid)), nil
	})
	s.AddTool(mcp.NewTool("crash", mcp.WithNumber("code")), func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		fmt.Fprintln(os.Stderr, "stdioserver: crashing as asked")
		os.Exit(r.GetInt("code", 3))
		return nil, nil
	})
	s.AddTool(mcp.NewTool("big", mcp.WithNumber("bytes")), func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text(strings.Repeat("x", r.GetInt("bytes", 1<<20))), nil
	})
	s.AddTool(mcp.NewTool("unterminated"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		// A line without end, as a broken server might send.
		chunk := strings.Repeat("y", 1<<20)
		for {
			if _, err := os.Stdout.WriteString(chunk); err != nil {
				os.Exit(1)
			}
		}
	})
	s.AddTool(mcp.NewTool("add_tool"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s.AddTool(mcp.NewTool("added"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return text("added"), nil
		})
		return text("ok"), nil
	})
	s.AddTool(mcp.NewTool("ask"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return server.NewInputRequestBuilder("state-1").Elicit("q", mcp.ElicitationParams{
			Message:         "Which one?",
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": "string"}}},
		}).ToolResult(), nil
	})
	if err := server.ServeStdio(s); err != nil {
		fmt.Fprintln(os.Stderr, "stdioserver:", err)
		os.Exit(1)
	}
}
