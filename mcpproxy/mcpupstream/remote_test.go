package mcpupstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// remoteCases are the ways a remote upstream can be reached.
var remoteCases = []struct {
	name      string
	legacy    bool
	transport string
	sse       bool // endpoint is the SSE one
}{
	{"streamable HTTP, 2026-07-28", false, remoteStreamable, false},
	{"streamable HTTP, legacy session", true, remoteStreamable, false},
	{"HTTP+SSE", true, remoteSSE, true},
	{"auto falling back to SSE", true, remoteAuto, true},
}

func TestProduceFollowsEveryPageAndSanitisesNames(t *testing.T) {
	for _, tc := range remoteCases {
		t.Run(tc.name, func(t *testing.T) {
			up := newTestUpstream(t, upstreamOpts{legacy: tc.legacy, pageSize: 2})
			endpoint := up.URL()
			if tc.sse {
				endpoint = up.SSEURL()
			}
			k := newKind(t, Options{})
			c := connection(t, Config{Transport: "remote", Endpoint: endpoint, RemoteTransport: tc.transport}, integration.Credential{})
			cat := produce(t, k, c)

			if n := up.count("tools/list"); n < 7 {
				t.Errorf("tools/list was asked %d times; 14 tools in pages of 2 need 7", n)
			}
			want := map[string]string{ // our name → upstream's
				"echo": "echo", "get_user": "get_user", "get_user_2": "GET.USER", "get_user_3": "Get-User",
				"get_user_4": "get user", "caf": "café ☕", "no_description": "no_description", "fail": "fail",
				"delete_everything": "delete_everything", "read_only": "read_only", "image": "image",
				"whoami": "whoami", "structured": "structured", "slow": "slow", "ask": "ask",
			}
			got := map[string]string{}
			for _, tool := range cat.Tools {
				var m ToolMeta
				if err := json.Unmarshal(tool.Meta, &m); err != nil {
					t.Fatalf("%s: meta %s: %v", tool.Name, tool.Meta, err)
				}
				got[tool.Name] = m.OriginalName
			}
			for name, original := range want {
				if got[name] != original {
					t.Errorf("tool %s: original name %q, want %q (all: %v)", name, got[name], original, got)
				}
			}
			if len(got) != len(want) {
				t.Errorf("got %d tools %v, want %d", len(got), toolNames(cat), len(want))
			}
			if d := findTool(t, cat, "no_description").Description; d != "MCP tool: no_description" {
				t.Errorf("default description %q", d)
			}
			if d := findTool(t, cat, "echo").Description; d != "Reports its name and arguments." {
				t.Errorf("description %q", d)
			}
			del := findTool(t, cat, "delete_everything")
			if !del.RequiresApproval || del.ApprovalDescription != "Delete everything" {
				t.Errorf("destructive tool: requiresApproval %v, description %q", del.RequiresApproval, del.ApprovalDescription)
			}
			if nd := findTool(t, cat, "no_description"); !nd.RequiresApproval || nd.ApprovalDescription != "no_description" {
				t.Errorf("default hints: requiresApproval %v, description %q", nd.RequiresApproval, nd.ApprovalDescription)
			}
			if ro := findTool(t, cat, "read_only"); ro.RequiresApproval {
				t.Error("a tool with destructiveHint false requires approval")
			}
			if e := findTool(t, cat, "echo"); e.RequiresApproval || !strings.Contains(string(e.InputSchema), `"text"`) {
				t.Errorf("echo: requiresApproval %v, input schema %s", e.RequiresApproval, e.InputSchema)
			}
			out := string(findTool(t, cat, "structured").OutputSchema)
			if !strings.Contains(out, `"structuredContent":{`) || !strings.Contains(out, `"$defs":{"Pet"`) || !strings.Contains(out, `"#/$defs/Pet"`) {
				t.Errorf("output schema %s", out)
			}
			st := statusOf(t, k, c.Key)
			if st.State != StateReady || st.ToolCount != len(want) {
				t.Errorf("status %+v", st)
			}
			if tc.sse && st.Transport != remoteSSE {
				t.Errorf("transport %q, want sse", st.Transport)
			}
		})
	}
}

func TestCallSendsTheOriginalNameAndPassesTheResultThrough(t *testing.T) {
	for _, tc := range remoteCases {
		t.Run(tc.name, func(t *testing.T) {
			up := newTestUpstream(t, upstreamOpts{legacy: tc.legacy})
			endpoint := up.URL()
			if tc.sse {
				endpoint = up.SSEURL()
			}
			k := newKind(t, Options{})
			c := connection(t, Config{Transport: "remote", Endpoint: endpoint, RemoteTransport: tc.transport}, integration.Credential{})
			cat := produce(t, k, c)

			for name, original := range map[string]string{"get_user_2": "GET.USER", "get_user_4": "get user", "caf": "café ☕"} {
				var got struct {
					Tool string         `json:"tool"`
					Args map[string]any `json:"args"`
				}
				if err := json.Unmarshal([]byte(text(t, call(t, k, c, cat, name, map[string]any{"text": "hi"}))), &got); err != nil {
					t.Fatal(err)
				}
				if got.Tool != original || got.Args["text"] != "hi" {
					t.Errorf("%s reached the upstream as %q with %v", name, got.Tool, got.Args)
				}
			}

			res := call(t, k, c, cat, "image", nil)
			if !res.OK {
				t.Fatalf("image: %s", resultJSON(t, res))
			}
			data := res.Data.(json.RawMessage)
			if !tc.sse {
				if sent := up.lastResult("tools/call"); string(sent) != string(data) {
					t.Errorf("data is not the upstream's result as sent:\n got %s\nsent %s", data, sent)
				}
			}
			for _, want := range []string{`"type":"image"`, tinyPNG, `"mimeType":"image/png"`, `"type":"resource"`, `"uri":"file:///a.txt"`} {
				if !strings.Contains(string(data), want) {
					t.Errorf("data %s lacks %s", data, want)
				}
			}
			if got := resultJSON(t, res); !strings.HasPrefix(got, `{"ok":true,"data":{`) {
				t.Errorf("union %s", got)
			}

			res = call(t, k, c, cat, "structured", nil)
			if !strings.Contains(string(res.Data.(json.RawMessage)), `"structuredContent":{"pet":{"name":"Rex"}}`) {
				t.Errorf("structured %s", res.Data)
			}
		})
	}
}

func TestUpstreamErrorsBecomeMCPToolErrors(t *testing.T) {
	up := newTestUpstream(t, upstreamOpts{})
	k := newKind(t, Options{})
	c := connection(t, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{})
	cat := produce(t, k, c)

	t.Run("isError", func(t *testing.T) {
		res := call(t, k, c, cat, "fail", nil)
		if res.OK || res.Error.Code != "mcp_tool_error" || res.Error.Message != "the widget is broken" || res.Error.Retryable {
			t.Fatalf("got %s", resultJSON(t, res))
		}
		details, _ := json.Marshal(res.Error.Details)
		if !strings.Contains(string(details), `"isError":true`) || !strings.Contains(string(details), "the widget is broken") {
			t.Errorf("details %s", details)
		}
	})
	t.Run("unknown tool", func(t *testing.T) {
		meta, _ := json.Marshal(ToolMeta{OriginalName: "vanished"})
		res, err := k.Call(context.Background(), c, &integration.Tool{Name: "vanished", Meta: meta}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.Error.Code != "mcp_tool_error" || !strings.Contains(res.Error.Message, "vanished") {
			t.Fatalf("got %s", resultJSON(t, res))
		}
		details, _ := json.Marshal(res.Error.Details)
		if !strings.Contains(string(details), `"code":`) {
			t.Errorf("details lack the JSON-RPC code: %s", details)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		k := newKind(t, Options{CallTimeout: 200 * time.Millisecond})
		c := connection(t, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{})
		cat := produce(t, k, c)
		res := call(t, k, c, cat, "slow", map[string]any{"ms": 5000})
		if res.OK || res.Error.Code != "mcp_tool_error" || !strings.Contains(res.Error.Message, "did not answer within") {
			t.Fatalf("got %s", resultJSON(t, res))
		}
	})
}

func TestHeadersAndCredentialReachTheUpstreamButNeverTheAgent(t *testing.T) {
	const apiKey = "sk-live-0123456789abcdef"
	const token = "oauth-access-token-987654321"
	up := newTestUpstream(t, upstreamOpts{legacy: true})
	k := newKind(t, Options{})
	cred := integration.Credential{
		Values: map[string]string{"token": apiKey, "account": "acct-42"},
		Placements: []integration.Placement{
			{Carrier: "header", Name: "X-Api-Key", Variable: "token"},
			{Carrier: "query", Name: "account", Variable: "account"},
		},
		AccessToken: token,
	}
	cfg := Config{
		Transport:   "remote",
		Endpoint:    up.URL(),
		Headers:     map[string]string{"X-Team": "blue", "X-Api-Key": "from-config-loses"},
		QueryParams: map[string]string{"region": "eu"},
	}
	c := connection(t, cfg, cred)
	cat := produce(t, k, c)

	res := call(t, k, c, cat, "echo", map[string]any{"text": "x"})
	if !res.OK {
		t.Fatal(resultJSON(t, res))
	}
	h, q := up.lastCall()
	if h.Get("X-Team") != "blue" || h.Get("X-Api-Key") != apiKey || h.Get("Authorization") != "Bearer "+token {
		t.Errorf("headers at the upstream: %v", h)
	}
	if q.Get("region") != "eu" || q.Get("account") != "acct-42" {
		t.Errorf("query at the upstream: %v", q)
	}
	if h.Get("Cookie") != "" {
		t.Errorf("a cookie reached the upstream: %q", h.Get("Cookie"))
	}

	// The upstream echoes our credential in an error: the agent sees neither.
	res = call(t, k, c, cat, "whoami", nil)
	if out := resultJSON(t, res); strings.Contains(out, apiKey) || strings.Contains(out, token) || !strings.Contains(out, "[redacted]") {
		t.Errorf("secret in %s", out)
	}

	// A connection failure names the endpoint but not the credential in its
	// query, nor the credential itself.
	dead := newTestUpstream(t, upstreamOpts{})
	dead.stop()
	cfg.Endpoint = dead.URL() + "?key=" + apiKey
	c2 := connection(t, cfg, cred)
	res = call(t, k, c2, cat, "echo", nil)
	out := resultJSON(t, res)
	if res.OK || res.Error.Code != "mcp_connection_failed" || !res.Error.Retryable {
		t.Fatalf("got %s", out)
	}
	if strings.Contains(out, apiKey) || strings.Contains(out, token) || strings.Contains(out, "acct-42") {
		t.Errorf("secret in %s", out)
	}
	if !strings.Contains(out, "127.0.0.1") {
		t.Errorf("message does not say where: %s", out)
	}
	if st := statusOf(t, k, c2.Key); strings.Contains(st.LastError, apiKey) || st.State != StateBackoff {
		t.Errorf("status %+v", st)
	}
}

func TestAutoFallsBackToSSEOnlyForTransportFailures(t *testing.T) {
	t.Run("SSE-only server", func(t *testing.T) {
		up := newTestUpstream(t, upstreamOpts{legacy: true})
		k := newKind(t, Options{})
		c := connection(t, Config{Transport: "remote", Endpoint: up.SSEURL()}, integration.Credential{})
		cat := produce(t, k, c)
		if text(t, call(t, k, c, cat, "echo", map[string]any{"text": "x"})) == "" {
			t.Fatal("empty")
		}
		if st := statusOf(t, k, c.Key); st.Transport != remoteSSE {
			t.Errorf("transport %q", st.Transport)
		}
	})
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			up := newTestUpstream(t, upstreamOpts{status: status, bearer: "https://auth.example/.well-known/oauth-protected-resource"})
			k := newKind(t, Options{})
			c := connection(t, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{AccessToken: "expired-token-123"})
			_, err := k.Produce(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", status)) {
				t.Fatalf("Produce: %v", err)
			}
			if up.getCount() != 0 {
				t.Errorf("SSE was tried (%d GETs) after %d", up.getCount(), status)
			}
			attempts := up.count("initialize") + up.count("server/discover")
			start := time.Now()
			res, err := k.Call(context.Background(), c, &integration.Tool{Name: "echo"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.Error.Code != "mcp_connection_failed" || res.Error.Status != status || res.Error.Retryable ||
				strings.Contains(res.Error.Message, "expired-token-123") {
				t.Errorf("got %s", resultJSON(t, res))
			}
			// The same credential is not tried again during the backoff…
			if n := up.count("initialize") + up.count("server/discover"); n != attempts || time.Since(start) > 500*time.Millisecond {
				t.Errorf("retried the refused credential (%d handshake requests, was %d) in %s", n, attempts, time.Since(start))
			}
			// …but a new one is, at once.
			c.Credential = integration.Credential{AccessToken: "fresh-token-456"}
			start = time.Now()
			if res, _ := k.Call(context.Background(), c, &integration.Tool{Name: "echo"}, nil); res.OK || time.Since(start) > 500*time.Millisecond {
				t.Errorf("new credential: %s after %s", resultJSON(t, res), time.Since(start))
			}
			if n := up.count("initialize") + up.count("server/discover"); n == attempts {
				t.Error("the new credential was not tried")
			}
		})
	}
}

func TestDeadUpstreamSessionIsReinitialisedTransparently(t *testing.T) {
	cases := []struct {
		name string
		opts upstreamOpts
		sse  bool
		kill func(*testUpstream)
	}{
		{"server forgets sessions (404)", upstreamOpts{legacy: true}, false, (*testUpstream).forget},
		{"server forgets sessions (400, TypeScript SDK)", upstreamOpts{legacy: true, tsSessions: true}, false, (*testUpstream).forget},
		{"server restarted on the same port", upstreamOpts{legacy: true}, false, (*testUpstream).restart},
		{"2026-07-28 server restarted", upstreamOpts{}, false, (*testUpstream).restart},
		{"SSE server restarted", upstreamOpts{legacy: true}, true, (*testUpstream).restart},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := newTestUpstream(t, tc.opts)
			endpoint := up.URL()
			if tc.sse {
				endpoint = up.SSEURL()
			}
			k := newKind(t, Options{})
			cfg := Config{Transport: "remote", Endpoint: endpoint}
			if tc.sse {
				cfg.RemoteTransport = remoteSSE
			}
			c := connection(t, cfg, integration.Credential{})
			cat := produce(t, k, c)
			if r := call(t, k, c, cat, "echo", map[string]any{"text": "before"}); !r.OK {
				t.Fatal(resultJSON(t, r))
			}
			tc.kill(up)
			for i := range 3 {
				r := call(t, k, c, cat, "echo", map[string]any{"text": "after"})
				if !r.OK {
					t.Fatalf("call %d after the upstream lost the session: %s", i, resultJSON(t, r))
				}
			}
			if _, err := k.Produce(context.Background(), c); err != nil {
				t.Fatalf("Produce after: %v", err)
			}
			st := statusOf(t, k, c.Key)
			if st.State != StateReady {
				t.Errorf("status %+v", st)
			}
			if tc.opts.legacy && (st.Restarts != 1 || up.count("initialize") != 2) {
				t.Errorf("the session was not replaced exactly once: restarts %d, initialize %d (%v)", st.Restarts, up.count("initialize"), up.methods)
			}
		})
	}
}

func TestConcurrentFirstCallsShareOneInitialize(t *testing.T) {
	for _, legacy := range []bool{true, false} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			up := newTestUpstream(t, upstreamOpts{legacy: legacy})
			k := newKind(t, Options{PreferModern: !legacy})
			c := connection(t, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{})
			tool := &integration.Tool{Name: "echo"}
			var wg sync.WaitGroup
			results := make([]*integration.Result, 20)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := k.Call(context.Background(), c, tool, json.RawMessage(`{"text":"x"}`))
					if err != nil {
						t.Error(err)
					}
					results[i] = r
				}()
			}
			wg.Wait()
			for i, r := range results {
				if r == nil || !r.OK {
					t.Fatalf("call %d: %v", i, r)
				}
			}
			handshakes := up.count("initialize")
			if !legacy {
				handshakes = up.count("server/discover")
			}
			if handshakes != 1 || up.count("tools/call") != 20 {
				t.Errorf("%d handshakes (initialize %d, discover %d) for %d calls", handshakes,
					up.count("initialize"), up.count("server/discover"), up.count("tools/call"))
			}
			// Later calls and listings reuse the session.
			produce(t, k, c)
			if r, _ := k.Call(context.Background(), c, tool, nil); !r.OK {
				t.Fatal(resultJSON(t, r))
			}
			if up.count("initialize")+up.count("server/discover") != handshakes {
				t.Errorf("a later use started another session: initialize %d, discover %d", up.count("initialize"), up.count("server/discover"))
			}
		})
	}
}

// boolInt is the discover probe a legacy upstream saw on the first connect.

func TestToolsListChangedCallsToolsChanged(t *testing.T) {
	for _, legacy := range []bool{true, false} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			up := newTestUpstream(t, upstreamOpts{legacy: legacy, listChanged: true})
			k := newKind(t, Options{})
			c := connection(t, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{})
			changed := make(chan struct{}, 10)
			c.ToolsChanged = func() { changed <- struct{}{} }
			produce(t, k, c)
			if st := statusOf(t, k, c.Key); !st.Listening {
				t.Fatalf("not listening: %+v", st)
			}
			// The stream opens asynchronously; add tools until one is noticed.
			deadline := time.After(10 * time.Second)
			for i := 0; ; i++ {
				up.MCP.AddTool(mcp.NewTool(fmt.Sprintf("new_%d", i)), nil)
				select {
				case <-changed:
					if !k.Stale(c.Key) {
						t.Error("Stale is false after a change")
					}
					cat := produce(t, k, c)
					if !slices.Contains(toolNames(cat), "new_0") || k.Stale(c.Key) {
						t.Errorf("after re-listing: %v, stale %v", toolNames(cat), k.Stale(c.Key))
					}
					return
				case <-time.After(200 * time.Millisecond):
				case <-deadline:
					t.Fatal("ToolsChanged was not called")
				}
			}
		})
	}
}

func TestStaleToolsAreRefreshedAfterTheTTL(t *testing.T) {
	up := newTestUpstream(t, upstreamOpts{}) // announces no changes
	k := newKind(t, Options{ToolsTTL: 100 * time.Millisecond})
	c := connection(t, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{})
	var fired sync.WaitGroup
	fired.Add(1)
	var once sync.Once
	calls := 0
	var mu sync.Mutex
	c.ToolsChanged = func() {
		mu.Lock()
		calls++
		mu.Unlock()
		once.Do(fired.Done)
	}
	if k.Stale("unknown") {
		t.Error("an unused connection is stale")
	}
	cat := produce(t, k, c)
	if k.Stale(c.Key) {
		t.Error("stale right after listing")
	}
	time.Sleep(150 * time.Millisecond)
	if !k.Stale(c.Key) {
		t.Error("not stale after the TTL")
	}
	call(t, k, c, cat, "echo", nil)
	call(t, k, c, cat, "echo", nil)
	fired.Wait()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("ToolsChanged called %d times for one staleness", calls)
	}
}

func TestUpstreamRequestsForInputAreDeclined(t *testing.T) {
	t.Run("legacy elicitation request", func(t *testing.T) {
		up := newTestUpstream(t, upstreamOpts{legacy: true})
		k := newKind(t, Options{})
		c := connection(t, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{})
		cat := produce(t, k, c)
		done := make(chan *integration.Result)
		go func() { done <- call(t, k, c, cat, "ask", nil) }()
		select {
		case res := <-done:
			// The upstream either got our decline or refused to ask a client
			// without the capability; either way the call ends.
			if out := resultJSON(t, res); !strings.Contains(out, "action=decline") {
				t.Errorf("got %s", out)
			}
			if st := statusOf(t, k, c.Key); !strings.Contains(st.LastError, "elicitation/create") {
				t.Errorf("status does not say what was declined: %+v", st)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the call hung on the upstream's elicitation request")
		}
	})
	t.Run("decline answer", func(t *testing.T) {
		var method string
		tp := &tap{refused: func(m string) { method = m }}
		h := tp.wrapRequests(func(context.Context, transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
			t.Fatal("passed on")
			return nil, nil
		})
		resp, err := h(context.Background(), transport.JSONRPCRequest{ID: mcp.NewRequestId(int64(1)), Method: "elicitation/create"})
		if err != nil || string(resp.Result) != `{"action":"decline"}` || method != "elicitation/create" {
			t.Errorf("got %v %v %q", resp, err, method)
		}
		if _, err := h(context.Background(), transport.JSONRPCRequest{ID: mcp.NewRequestId(int64(2)), Method: "sampling/createMessage"}); err == nil {
			t.Error("sampling was not refused")
		}
	})
}

func TestProbe(t *testing.T) {
	t.Run("streamable HTTP", func(t *testing.T) {
		up := newTestUpstream(t, upstreamOpts{})
		res, err := Probe(context.Background(), egress, up.URL(), map[string]string{"X-Team": "blue"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Transport != remoteStreamable || res.RequiresOAuth || res.ServerName != "test-upstream" || res.ServerVersion != "9.9.9" || res.ProtocolVersion == "" {
			t.Errorf("got %+v", res)
		}
		if up.count("initialize") != 1 {
			t.Errorf("initialize %d", up.count("initialize"))
		}
	})
	t.Run("OAuth required", func(t *testing.T) {
		const prm = "https://mcp.example/.well-known/oauth-protected-resource/mcp"
		up := newTestUpstream(t, upstreamOpts{status: http.StatusUnauthorized, bearer: prm})
		res, err := Probe(context.Background(), egress, up.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.RequiresOAuth || res.ResourceMetadata != prm || res.Transport != remoteStreamable {
			t.Errorf("got %+v", res)
		}
	})
	t.Run("401 without a Bearer challenge", func(t *testing.T) {
		up := newTestUpstream(t, upstreamOpts{status: http.StatusUnauthorized})
		if _, err := Probe(context.Background(), egress, up.URL(), nil); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("SSE only", func(t *testing.T) {
		up := newTestUpstream(t, upstreamOpts{})
		res, err := Probe(context.Background(), egress, up.SSEURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Transport != remoteSSE || res.ServerName != "test-upstream" {
			t.Errorf("got %+v", res)
		}
	})
	t.Run("not MCP", func(t *testing.T) {
		up := newTestUpstream(t, upstreamOpts{})
		if _, err := Probe(context.Background(), egress, "http://"+up.addr+"/nothing?key=secret-value", nil); err == nil || strings.Contains(err.Error(), "secret-value") {
			t.Errorf("got %v", err)
		}
	})
}

func TestUpstreamSessionIDNeverSurfaces(t *testing.T) {
	up := newTestUpstream(t, upstreamOpts{legacy: true})
	k := newKind(t, Options{})
	c := connection(t, Config{Transport: "remote", Endpoint: up.URL()}, integration.Credential{})
	cat := produce(t, k, c)
	var seen strings.Builder
	for _, name := range []string{"echo", "fail", "image"} {
		seen.WriteString(resultJSON(t, call(t, k, c, cat, name, nil)))
	}
	status, _ := json.Marshal(k.Status())
	seen.Write(status)
	catalog, _ := json.Marshal(cat)
	seen.Write(catalog)
	up.sessions.mu.Lock()
	defer up.sessions.mu.Unlock()
	if len(up.sessions.valid) == 0 {
		t.Fatal("the upstream issued no session")
	}
	for id := range up.sessions.valid {
		if strings.Contains(seen.String(), id) {
			t.Errorf("the upstream's session id %s reached the gateway's output", id)
		}
	}
}
