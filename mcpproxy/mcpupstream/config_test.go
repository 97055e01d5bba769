package mcpupstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

func TestSanitizedNames(t *testing.T) {
	cases := []struct {
		in   []string
		want map[string]string
	}{
		{[]string{"getUser"}, map[string]string{"getUser": "getuser"}},
		{[]string{"get-user", "get_user", "Get User", "GET.USER"},
			map[string]string{"get_user": "get_user", "GET.USER": "get_user_2", "Get User": "get_user_3", "get-user": "get_user_4"}},
		{[]string{"  __weird__name__  ", "a--b", "Ünïcode ✓", "☕", ""},
			map[string]string{"  __weird__name__  ": "weird_name", "a--b": "a_b", "Ünïcode ✓": "n_code", "": "tool", "☕": "tool_2"}},
		// A suffix never collides with a name the upstream already uses.
		{[]string{"a", "A", "a_2"}, map[string]string{"a": "a", "a_2": "a_2", "A": "a_3"}},
		{[]string{"A", "a"}, map[string]string{"a": "a", "A": "a_2"}},
	}
	for _, tc := range cases {
		got := assignNames(tc.in)
		for orig, name := range tc.want {
			if got[orig] != name {
				t.Errorf("%v: %q → %q, want %q", tc.in, orig, got[orig], name)
			}
		}
		// The upstream's order does not change the outcome.
		rev := make([]string, len(tc.in))
		for i, s := range tc.in {
			rev[len(tc.in)-1-i] = s
		}
		again := assignNames(rev)
		for orig, name := range got {
			if again[orig] != name {
				t.Errorf("%v reversed: %q → %q, was %q", tc.in, orig, again[orig], name)
			}
		}
	}
}

func TestBuildCatalog(t *testing.T) {
	desc := "Deletes it."
	tools := []upstreamTool{
		{Name: "delete", Description: &desc, Title: "Delete the thing", Annotations: json.RawMessage(`{"destructiveHint":true,"readOnlyHint":true}`)},
		{Name: "delete"}, // a repeat is dropped
		{Name: "list", Annotations: json.RawMessage(`{"readOnlyHint":false,"title":"List things"}`), InputSchema: json.RawMessage(`null`)},
		{Name: "ann_title", Annotations: json.RawMessage(`{"destructiveHint":true,"title":"From annotations"}`)},
		{Name: "odd", OutputSchema: json.RawMessage(`{"type":"object","properties":{"self":{"$ref":"#"}}}`)},
	}
	cat, names := buildCatalog(tools)
	if len(cat.Tools) != 4 || names["delete"] != "delete" {
		t.Fatalf("tools %v, names %v", toolNames(cat), names)
	}
	del := cat.Tools[0]
	if !del.RequiresApproval || del.ApprovalDescription != "Delete the thing" || del.Description != desc {
		t.Errorf("delete: %+v", del)
	}
	list := cat.Tools[1]
	if list.RequiresApproval || string(list.InputSchema) != `{"type":"object"}` || list.Description != "MCP tool: list" {
		t.Errorf("list: %+v", list)
	}
	var m ToolMeta
	_ = json.Unmarshal(list.Meta, &m)
	if m.OriginalName != "list" || m.Title != "List things" || !strings.Contains(string(m.Annotations), "readOnlyHint") {
		t.Errorf("meta %s", list.Meta)
	}
	if a := cat.Tools[2]; a.ApprovalDescription != "From annotations" {
		t.Errorf("approval description %q", a.ApprovalDescription)
	}
	// A schema that refers to its own root cannot be nested: left out.
	if out := string(cat.Tools[3].OutputSchema); strings.Contains(out, `"#"`) || !strings.Contains(out, `"content"`) {
		t.Errorf("output schema %s", out)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name       string
		cfg        Config
		allowStdio bool
		err        string // "" when valid
	}{
		{"remote", Config{Transport: "remote", Endpoint: "https://mcp.example/mcp"}, false, ""},
		{"remote with everything", Config{Transport: "remote", Endpoint: "http://mcp.example/mcp?x=1", RemoteTransport: "sse",
			Headers: map[string]string{"X-Team": "a"}, QueryParams: map[string]string{"v": "1"}}, false, ""},
		{"no transport", Config{Endpoint: "https://mcp.example"}, false, "transport is required"},
		{"unknown transport", Config{Transport: "websocket"}, false, `transport "websocket" is not supported`},
		{"no endpoint", Config{Transport: "remote"}, false, "endpoint is required"},
		{"relative endpoint", Config{Transport: "remote", Endpoint: "/mcp"}, false, "not an absolute URL"},
		{"ftp endpoint", Config{Transport: "remote", Endpoint: "ftp://mcp.example/"}, false, "http or https"},
		{"user in endpoint", Config{Transport: "remote", Endpoint: "https://u:p@mcp.example/"}, false, "user name or password"},
		{"bad remoteTransport", Config{Transport: "remote", Endpoint: "https://x.example", RemoteTransport: "ws"}, false, "remoteTransport"},
		{"reserved header", Config{Transport: "remote", Endpoint: "https://x.example", Headers: map[string]string{"Mcp-Session-Id": "x"}}, false, "Mcp-Session-Id is set by the MCP transport"},
		{"header with CRLF", Config{Transport: "remote", Endpoint: "https://x.example", Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, false, "line break"},
		{"bad header name", Config{Transport: "remote", Endpoint: "https://x.example", Headers: map[string]string{"X A": "a"}}, false, "not a valid header name"},
		{"command on remote", Config{Transport: "remote", Endpoint: "https://x.example", Command: "npx"}, false, "only used with transport \"stdio\""},
		{"stdio off", Config{Transport: "stdio", Command: "npx"}, false, "stdio MCP servers are disabled on this gateway"},
		{"stdio", Config{Transport: "stdio", Command: "npx", Args: []string{"-y", "pkg"}, Env: map[string]string{"KEY": "${token}"}, Cwd: "/srv"}, true, ""},
		{"stdio without command", Config{Transport: "stdio"}, true, "command is required"},
		{"endpoint on stdio", Config{Transport: "stdio", Command: "x", Endpoint: "https://x.example"}, true, "only used with transport \"remote\""},
		{"bad env name", Config{Transport: "stdio", Command: "x", Env: map[string]string{"1X": "a"}}, true, "not a valid variable name"},
		{"bad env reference", Config{Transport: "stdio", Command: "x", Env: map[string]string{"X": "${a-b}"}}, true, "references ${a-b}"},
		{"relative cwd", Config{Transport: "stdio", Command: "x", Cwd: "srv"}, true, "absolute path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate(tc.allowStdio)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestParseConfigIgnoresGatewayFields(t *testing.T) {
	cfg, err := ParseConfig(json.RawMessage(`{"transport":"remote","endpoint":"https://x.example","name":"X","auth":{"kind":"none"}}`))
	if err != nil || cfg.Endpoint != "https://x.example" {
		t.Fatalf("%+v %v", cfg, err)
	}
	if _, err := ParseConfig(nil); err == nil {
		t.Error("empty configuration accepted")
	}
}

func TestExpandEnv(t *testing.T) {
	vars := map[string]string{"token": "T", "accessToken": "A"}
	for in, want := range map[string]string{
		"${token}":              "T",
		"Bearer ${accessToken}": "Bearer A",
		"$${token}":             "${token}",
		"a$b ${token}$":         "a$b T$",
	} {
		if got, err := expandEnv(in, vars); err != nil || got != want {
			t.Errorf("%q → %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := expandEnv("${missing}", vars); err == nil || !strings.Contains(err.Error(), "${missing}") {
		t.Errorf("missing variable: %v", err)
	}
}

func TestLineLimit(t *testing.T) {
	overflowed := false
	ok := strings.Repeat("a", 10) + "\n" + strings.Repeat("b", 10) + "\n"
	l := &lineLimit{r: strings.NewReader(ok + strings.Repeat("c", 11)), max: 10, overflow: func() { overflowed = true }}
	got, err := io.ReadAll(l)
	if err != errLineTooLong || !overflowed || !bytes.HasPrefix([]byte(ok), got) {
		t.Errorf("got %q, %v, overflowed %v", got, err, overflowed)
	}
	l = &lineLimit{r: strings.NewReader(ok), max: 10}
	if got, err := io.ReadAll(l); err != nil || string(got) != ok {
		t.Errorf("within the limit: %q %v", got, err)
	}
}

func TestRingKeepsTheTail(t *testing.T) {
	var r ring
	for i := 0; i < 5000; i++ {
		r.Write([]byte("line " + strings.Repeat("x", 10) + "\n"))
	}
	r.Write([]byte("the end\n"))
	tail := r.tail()
	if len(r.buf) > stderrKeep || len(tail) > 1024 || !strings.HasSuffix(tail, "the end") || !strings.HasPrefix(tail, "line") {
		t.Errorf("kept %d bytes, tail %q", len(r.buf), tail)
	}
}

func TestRedact(t *testing.T) {
	u := &upstream{cfg: Config{Headers: map[string]string{"X-Static": "static-secret-1"}, Env: map[string]string{"T": "${token}"}}}
	u.cred.Store(&integration.Credential{Values: map[string]string{"token": "a b&c/secret"}})
	msg := `Post "https://x.example/mcp?api_key=abc": static-secret-1 and a b&c/secret and a+b%26c%2Fsecret; ${token} stays`
	got := u.redact(msg)
	for _, leak := range []string{"api_key=abc", "static-secret-1", "a b&c/secret", "a+b%26c%2Fsecret"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q leaks %q", got, leak)
		}
	}
	if !strings.Contains(got, "${token} stays") || !strings.Contains(got, "https://x.example/mcp?[query redacted]") {
		t.Errorf("over-redacted: %q", got)
	}
	raw := u.redactRaw(json.RawMessage(`{"text":"static-secret-1 a b\u0026c/secret"}`))
	if strings.Contains(string(raw), "static-secret-1") || !json.Valid(raw) {
		t.Errorf("raw %s", raw)
	}
}

func TestLostSessionIsRecognised(t *testing.T) {
	remote, stdio := &session{}, &session{proc: &process{done: make(chan struct{})}}
	now := time.Now()
	cases := []struct {
		name string
		s    *session
		x    *exchange
		err  error
		want bool
	}{
		{"404 on the session", remote, nil, fmt.Errorf("transport error: %w", transport.ErrSessionTerminated), true},
		{"TypeScript SDK 400", remote, &exchange{rpcErr: &mcp.JSONRPCErrorDetails{Code: -32000, Message: "Bad Request: No valid session ID provided"}}, errors.New("x"), true},
		{"session not found", remote, &exchange{rpcErr: &mcp.JSONRPCErrorDetails{Code: -32001, Message: "Session not found"}}, errors.New("x"), true},
		{"a tool's own error", remote, &exchange{rpcErr: &mcp.JSONRPCErrorDetails{Code: -32603, Message: "invalid session token for GitHub"}}, errors.New("x"), false},
		{"unknown tool", remote, &exchange{rpcErr: &mcp.JSONRPCErrorDetails{Code: -32602, Message: "Tool not found"}}, errors.New("x"), false},
		{"connection reset", remote, nil, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"connection refused", remote, nil, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"EOF", remote, nil, fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"deadline", remote, nil, context.DeadlineExceeded, false},
		{"stdio session error text", stdio, &exchange{rpcErr: &mcp.JSONRPCErrorDetails{Code: -32000, Message: "Session not found"}}, errors.New("x"), false},
		{"stdio write failed", stdio, nil, errors.New("failed to write request: broken pipe"), true},
		{"stdio died during the call", stdio, nil, transport.ErrTransportClosed, false},
	}
	for _, tc := range cases {
		if got := tc.s.lost(tc.x, tc.err, now); got != tc.want {
			t.Errorf("%s: lost %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Target names the server and the upstream's own tool name, without the
// endpoint's query string (which may carry a key).
func TestTargetNamesTheServerAndTheTool(t *testing.T) {
	k := newKind(t, Options{AllowStdio: true})
	tool := &integration.Tool{Name: "send_email", Meta: json.RawMessage(`{"originalName":"Send-Email"}`)}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"remote", Config{Transport: "remote", Endpoint: "https://mcp.example/mcp?key=SENTINEL"}, `tool "Send-Email" of the MCP server at https://mcp.example/mcp`},
		{"stdio", Config{Transport: "stdio", Command: "node"}, `tool "Send-Email" of the MCP server process node`},
		{"misconfigured", Config{Transport: "carrier-pigeon"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k.Target(connection(t, tt.cfg, integration.Credential{}), tool, nil); got != tt.want {
				t.Fatalf("Target = %q, want %q", got, tt.want)
			}
		})
	}
}
