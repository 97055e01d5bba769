package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// localServer is an HTTP server on a free 127.0.0.1 port, run by the
// benchmark itself.
type localServer struct {
	srv  *http.Server
	addr string // host:port
}

func serveLocal(h http.Handler) (*localServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &localServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: l.Addr().String()}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *localServer) url(path string) string { return "http://" + s.addr + path }

func (s *localServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// harmless marks a tool read-only and not destructive. mcp-go's default
// annotations say destructive, which the gateway answers with an approval
// pause: a benchmark of tool calls must not measure that.
func harmless(t *mcp.Tool) {
	for _, opt := range []mcp.ToolOption{mcp.WithReadOnlyHintAnnotation(true), mcp.WithDestructiveHintAnnotation(false),
		mcp.WithIdempotentHintAnnotation(true), mcp.WithOpenWorldHintAnnotation(false)} {
		opt(t)
	}
}

// startUpstream serves the benchmark's own MCP server at /mcp: mcp-go over
// streamable HTTP with two tools, echo (returns its text) and work (sleeps
// ms milliseconds).
func startUpstream() (*localServer, error) {
	s := server.NewMCPServer("executor-bench-upstream", "1.0.0", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("echo",
		mcp.WithDescription("Echo the text back."),
		mcp.WithString("text", mcp.Required(), mcp.Description("text to return")),
		harmless,
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		text, err := req.RequireString("text")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		return mcp.NewToolResultText(text), nil
	})
	s.AddTool(mcp.NewTool("work",
		mcp.WithDescription("Sleep for ms milliseconds, like a tool doing slow work."),
		mcp.WithNumber("ms", mcp.Required(), mcp.Description("milliseconds to sleep")),
		harmless,
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ms, err := req.RequireFloat("ms")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		t := time.NewTimer(time.Duration(ms * float64(time.Millisecond)))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return mcp.NewToolResultText(fmt.Sprintf("worked %g ms", ms)), nil
	})
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s))
	return serveLocal(mux)
}

// petsDescription is the small OpenAPI document of the stub scenario,
// shaped like the reference's live run (upstream-behaviour.md §I).
const petsDescription = `{
  "openapi": "3.0.3",
  "info": {"title": "Pets API", "version": "1.0.0"},
  "paths": {
    "/pets/{petId}": {
      "get": {
        "operationId": "getPet",
        "summary": "Get a pet by id",
        "parameters": [
          {"name": "petId", "in": "path", "required": true, "schema": {"type": "string"}},
          {"name": "verbose", "in": "query", "schema": {"type": "boolean"}}
        ],
        "responses": {"200": {"description": "the pet", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}
      }
    }
  },
  "components": {"schemas": {"Pet": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "tag": {"type": "string"}}}}}
}`

// startStub serves the OpenAPI stub: GET /pets/{id} answers a pet, and
// every other request (GitHub's operations, when its description is given
// this base URL) answers a small JSON object naming the request.
func startStub() (*localServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pets/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeStubJSON(w, map[string]any{"id": r.PathValue("id"), "name": "Rex", "tag": "dog"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStubJSON(w, map[string]any{"method": r.Method, "path": r.URL.Path, "id": 1})
	})
	return serveLocal(mux)
}

func writeStubJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Ratelimit-Remaining", "42")
	_, _ = w.Write(b)
}
