package mcpupstream

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// The pooled path (Kind.Call) against the same upstream called directly with
// an mcp-go client: the difference is what pooling, the tap, the per-request
// header round tripper, redaction and the result union cost.

func BenchmarkCall(b *testing.B) {
	args := json.RawMessage(`{"text":"hello"}`)
	for _, legacy := range []bool{false, true} {
		name := "2026-07-28"
		if legacy {
			name = "legacy-session"
		}
		b.Run(name+"/pooled", func(b *testing.B) {
			up := newTestUpstream(b, upstreamOpts{legacy: legacy})
			k := newKind(b, Options{})
			c := connection(b, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{AccessToken: "token-123456789"})
			tool := &integration.Tool{Name: "echo"}
			if r, _ := k.Call(context.Background(), c, tool, args); !r.OK {
				b.Fatal(resultJSON(b, r))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if r, _ := k.Call(context.Background(), c, tool, args); !r.OK {
					b.Fatal(resultJSON(b, r))
				}
			}
		})
		b.Run(name+"/direct", func(b *testing.B) {
			up := newTestUpstream(b, upstreamOpts{legacy: legacy})
			cl, err := client.NewStreamableHttpClient(up.URL(), transport.WithHTTPBasicClient(egress),
				transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer token-123456789"}))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			if err := cl.Start(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := cl.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ClientInfo: clientInfo}}); err != nil {
				b.Fatal(err)
			}
			req := mcp.CallToolRequest{}
			req.Params.Name = "echo"
			req.Params.Arguments = args
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := cl.CallTool(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("stdio/pooled", func(b *testing.B) {
		k := newKind(b, Options{AllowStdio: true})
		c := connection(b, Config{Transport: "stdio", Command: stdioServer}, integration.Credential{})
		tool := &integration.Tool{Name: "echo"}
		if r, _ := k.Call(context.Background(), c, tool, args); !r.OK {
			b.Fatal(resultJSON(b, r))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if r, _ := k.Call(context.Background(), c, tool, args); !r.OK {
				b.Fatal(resultJSON(b, r))
			}
		}
	})
	b.Run("stdio/direct", func(b *testing.B) {
		cl, err := client.NewStdioMCPClient(stdioServer, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		ctx := context.Background()
		if _, err := cl.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ClientInfo: clientInfo}}); err != nil {
			b.Fatal(err)
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = "echo"
		req.Params.Arguments = args
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := cl.CallTool(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFirstCall is the latency of a call on a connection with no client
// yet: connect (or spawn), handshake, call.
func BenchmarkFirstCall(b *testing.B) {
	args := json.RawMessage(`{"text":"hello"}`)
	tool := &integration.Tool{Name: "echo"}
	for _, legacy := range []bool{false, true} {
		name := "remote/2026-07-28"
		if legacy {
			name = "remote/legacy-session"
		}
		b.Run(name, func(b *testing.B) {
			up := newTestUpstream(b, upstreamOpts{legacy: legacy})
			k := newKind(b, Options{})
			for b.Loop() {
				c := connection(b, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{})
				if r, _ := k.Call(context.Background(), c, tool, args); !r.OK {
					b.Fatal(resultJSON(b, r))
				}
				k.Forget(c.Key)
			}
		})
	}
	b.Run("stdio", func(b *testing.B) {
		k := newKind(b, Options{AllowStdio: true})
		for b.Loop() {
			c := connection(b, Config{Transport: "stdio", Command: stdioServer}, integration.Credential{})
			if r, _ := k.Call(context.Background(), c, tool, args); !r.OK {
				b.Fatal(resultJSON(b, r))
			}
			k.Forget(c.Key)
		}
	})
}
