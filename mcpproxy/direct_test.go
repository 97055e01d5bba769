package mcpproxy

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// directTools lists the tools of an endpoint by name.
func directTools(t *testing.T, c *client.Client) map[string]mcp.Tool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mcp.Tool{}
	for _, tl := range res.Tools {
		out[tl.Name] = tl
	}
	return out
}

func directCall(t *testing.T, c *client.Client, name string, args any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func resultText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

var defsRef = regexp.MustCompile(`"#/\$defs/([^"]+)"`)

func TestDirectEndpointServesAnOpenAPIConnection(t *testing.T) {
	tg, up := approvalsFixture(t, Config{})
	url := tg.srv.URL + "/mcp/direct/pets/org/main"
	c := sdkConnect(t, url, "alice", true, nil)

	tools := directTools(t, c)
	var names []string
	for n := range tools {
		names = append(names, n)
	}
	slices.Sort(names)
	if fmt.Sprint(names) != "[pets_createPet pets_getPet]" {
		t.Fatalf("tools: %v, want the connection's tools under their catalog names and nothing else", names)
	}
	for name, tl := range tools {
		wantReadOnly := name == "pets_getPet"
		if tl.Annotations.ReadOnlyHint == nil || *tl.Annotations.ReadOnlyHint != wantReadOnly {
			t.Errorf("%s: readOnlyHint %v, want %v", name, tl.Annotations.ReadOnlyHint, wantReadOnly)
		}
		raw, _ := json.Marshal(tl.InputSchema)
		var schema struct {
			Defs map[string]any `json:"$defs"`
		}
		if err := json.Unmarshal(raw, &schema); err != nil {
			t.Fatalf("%s: input schema %s: %v", name, raw, err)
		}
		for _, m := range defsRef.FindAllStringSubmatch(string(raw), -1) {
			if schema.Defs[m[1]] == nil {
				t.Errorf("%s: the schema refers to $defs/%s, which it does not carry: %s", name, m[1], raw)
			}
		}
	}

	tests := []struct {
		name      string
		tool      string
		args      map[string]any
		wantError bool
		want      string // in the text
	}{
		{"a read returns the union", "pets_getPet", map[string]any{"petId": "1"}, false, `"status": 200`},
		{"bad arguments are refused before the upstream", "pets_getPet", map[string]any{"petId": 7}, true, "invalid_tool_arguments"},
		{"an unknown argument is refused", "pets_getPet", map[string]any{"petId": "1", "colour": "red"}, true, "colour"},
		{"a write needs an approval this client cannot give", "pets_createPet", map[string]any{"body": map[string]any{"name": "Rex"}}, true, "cannot be asked for it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := directCall(t, c, tc.tool, tc.args)
			if r.IsError != tc.wantError || !strings.Contains(resultText(r), tc.want) {
				t.Fatalf("isError %v, text %s; want isError %v and %q", r.IsError, resultText(r), tc.wantError, tc.want)
			}
			if !tc.wantError {
				var s struct {
					OK   bool           `json:"ok"`
					Data map[string]any `json:"data"`
				}
				b, _ := json.Marshal(r.StructuredContent)
				if json.Unmarshal(b, &s) != nil || !s.OK || s.Data["id"] != "1" {
					t.Fatalf("structuredContent %s, want the union with the pet", b)
				}
			}
		})
	}
	if n := up.posts.Load(); n != 0 {
		t.Fatalf("the upstream saw %d writes, want none without an approval", n)
	}

	// A client that can answer elicitation is asked, and its answer holds:
	// inline on a session, with an input_required round trip on 2026-07-28.
	posts := int64(0)
	for _, legacy := range []bool{true, false} {
		for _, tc := range []struct {
			action mcp.ElicitationResponseAction
			posts  int64
			want   string
		}{{"decline", 0, "declined by the user"}, {"accept", 1, `"status": 201`}} {
			h := &elicitor{action: tc.action}
			r := directCall(t, sdkConnect(t, url, "alice", legacy, h), "pets_createPet", map[string]any{"body": map[string]any{"name": "Rex"}})
			posts += tc.posts
			if !strings.Contains(resultText(r), tc.want) || r.IsError != (tc.action == "decline") || up.posts.Load() != posts || len(h.messages) != 1 {
				t.Fatalf("legacy %v, %s: %s; upstream writes %d, want %d; asked %d times", legacy, tc.action, resultText(r), up.posts.Load(), posts, len(h.messages))
			}
			if !strings.Contains(h.messages[0], "Sends: POST "+up.URL+"/pets") {
				t.Fatalf("the question does not say where the call goes: %s", h.messages[0])
			}
		}
	}

	tg.auditLog.flushNow()
	var page struct {
		Items []auditRecord `json:"items"`
	}
	tg.api(t, "alice", "GET", "/api/audit?limit=100", nil, &page)
	var sources []string
	for _, r := range page.Items {
		if r.Kind == "call" {
			sources = append(sources, r.Source+":"+r.Outcome)
		}
	}
	slices.Sort(sources)
	want := "[direct:approval_unavailable direct:declined direct:declined direct:invalid_tool_arguments direct:invalid_tool_arguments direct:ok direct:ok direct:ok direct:paused direct:paused]"
	if fmt.Sprint(sources) != want {
		t.Fatalf("audited calls %v, want %s", sources, want)
	}
}

func TestDirectEndpointAddressingAndIsolation(t *testing.T) {
	tg := newTestGateway(t, Config{})
	echo := tool("echo", "Echo", `"text":{"type":"string"}`)
	tg.connect(t, "notes", OwnerUser, "alice", "mine", echo)
	tg.connect(t, "team", OwnerOrg, "", "main", echo, tool("wipe", "Wipe", ``))

	// post initializes at path, or with a session lists the tools; it
	// returns the status and the session id, a space, and the body.
	post := func(principal, path, session string) (int, string) {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`
		if session != "" {
			body = `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
		}
		req, _ := http.NewRequest("POST", tg.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("X-Test-Principal", principal)
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Mcp-Session-Id") + " " + string(b)
	}

	for _, tc := range []struct {
		name, principal, path string
		status                int
		want                  string
	}{
		{"an org connection", "bob", "/mcp/direct/team/org/main", 200, "serverInfo"},
		{"one's own user connection", "alice", "/mcp/direct/notes/user/mine", 200, "serverInfo"},
		{"another principal's user connection does not exist for bob", "bob", "/mcp/direct/notes/user/mine", 404, "no connection notes/user/mine"},
		{"an unknown connection", "alice", "/mcp/direct/team/org/other", 404, "no connection team/org/other"},
		{"an owner that is neither org nor user", "alice", "/mcp/direct/team/team/main", 404, "/mcp/direct/<integration>/<org|user>/<connection>"},
		{"too few segments", "alice", "/mcp/direct/team", 404, "<integration>/<org|user>/<connection>"},
		{"too many segments", "alice", "/mcp/direct/team/org/main/echo", 404, "<integration>/<org|user>/<connection>"},
		{"anything else under /mcp/", "alice", "/mcp/toolkits/x", 404, `"jsonrpc":"2.0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.principal, tc.path, "")
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s; want %d with %q", status, body, tc.status, tc.want)
			}
		})
	}

	t.Run("sessions belong to the endpoint that minted them", func(t *testing.T) {
		code := tg.client(t, "alice")
		code.initialize()
		_, out := post("alice", "/mcp/direct/team/org/main", "")
		direct := strings.Fields(out)[0]
		for _, tc := range []struct {
			session, path string
			status        int
		}{
			{code.session, "/mcp/direct/team/org/main", 404},
			{direct, "/mcp", 404},
			{direct, "/mcp/direct/notes/user/mine", 404},
			{direct, "/mcp/direct/team/org/main", 200},
		} {
			if status, body := post("alice", tc.path, tc.session); status != tc.status {
				t.Errorf("session of the other endpoint on %s: %d %s, want %d", tc.path, status, body, tc.status)
			}
		}
		if status, _ := post("bob", "/mcp/direct/team/org/main", direct); status != 403 {
			t.Errorf("alice's direct session used by bob: %d, want 403", status)
		}
	})

	t.Run("a blocked tool is neither listed nor callable", func(t *testing.T) {
		if code, body := tg.api(t, "alice", "POST", "/api/policies", map[string]any{"owner": "org", "pattern": "team.org.main.wipe", "action": "block"}, nil); code != 200 {
			t.Fatalf("policy: %d %s", code, body)
		}
		c := sdkConnect(t, tg.srv.URL+"/mcp/direct/team/org/main", "bob", true, nil)
		if tools := directTools(t, c); tools["wipe"].Name != "" || tools["echo"].Name == "" {
			t.Fatalf("tools %v, want echo without wipe", tools)
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = "wipe"
		if _, err := c.CallTool(context.Background(), req); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("calling the blocked tool: %v, want not found", err)
		}
		if n := tg.kind.perTool["wipe"].Load(); n != 0 {
			t.Fatalf("the blocked tool ran %d times", n)
		}
	})

	t.Run("the tool list follows the connection's tools", func(t *testing.T) {
		c := sdkConnect(t, tg.srv.URL+"/mcp/direct/notes/user/mine", "alice", true, nil)
		if r := directCall(t, c, "echo", map[string]any{"text": "hi"}); r.IsError || !strings.Contains(resultText(r), `"text": "hi"`) {
			t.Fatalf("echo: %s", resultText(r))
		}
		tg.connect(t, "notes", OwnerUser, "alice", "mine", echo, tool("note", "Note", ``))
		if tools := directTools(t, c); tools["note"].Name == "" {
			t.Fatalf("tools after the change: %v", tools)
		}
		if code, body := tg.api(t, "alice", "DELETE", "/api/connections/user/notes/mine", nil, nil); code != 200 {
			t.Fatalf("removing the connection: %d %s", code, body)
		}
		if status, body := post("alice", "/mcp/direct/notes/user/mine", ""); status != 404 {
			t.Fatalf("the endpoint of a removed connection: %d %s", status, body)
		}
	})
}

func TestDirectEndpointCallsCountOnceAgainstTheRateLimit(t *testing.T) {
	clock := newFakeClock()
	tg := newTestGateway(t, Config{PrincipalRate: RateLimit{Rate: 1, Burst: 2}, clock: clock.now})
	tg.connect(t, "team", OwnerOrg, "", "main", tool("echo", "Echo", `"text":{"type":"string"}`))
	c := sdkConnect(t, tg.srv.URL+"/mcp/direct/team/org/main", "alice", true, nil)
	var got []string
	for range 3 {
		r := directCall(t, c, "echo", map[string]any{"text": "x"})
		var s struct {
			OK    bool `json:"ok"`
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		b, _ := json.Marshal(r.StructuredContent)
		_ = json.Unmarshal(b, &s)
		got = append(got, fmt.Sprintf("%v:%s", s.OK, s.Error.Code))
	}
	if fmt.Sprint(got) != "[true: true: false:rate_limited]" {
		t.Fatalf("three calls with a burst of two: %v", got)
	}
}

// A 2026-07-28 retry names its paused call with requestState: on another
// tool of the endpoint it is refused and changes nothing; on its own tool,
// with the person's answer, the call runs once.
func TestDirectEndpointRequestStateBelongsToItsCall(t *testing.T) {
	tg, up := approvalsFixture(t, Config{})
	post := func(name string, params map[string]any) map[string]any {
		t.Helper()
		params["name"] = name
		params["_meta"] = map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28",
			"io.modelcontextprotocol/clientInfo": map[string]any{"name": "t", "version": "0"}, "io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{}}}
		c := tg.client(t, "alice")
		c.url, c.protocol = tg.srv.URL+"/mcp/direct/pets/org/main", "2026-07-28"
		c.headers["Mcp-Protocol-Version"], c.headers["Mcp-Method"], c.headers["Mcp-Name"] = "2026-07-28", "tools/call", name
		res := c.call("tools/call", params)
		var out map[string]any
		if res.status != 200 || json.Unmarshal(res.Result, &out) != nil {
			t.Fatalf("%s: %d %s", name, res.status, res.raw)
		}
		return out
	}
	create := map[string]any{"body": map[string]any{"name": "Rex"}}
	first := post("pets_createPet", map[string]any{"arguments": create})
	state, _ := first["requestState"].(string)
	if first["resultType"] != "input_required" || state == "" {
		t.Fatalf("the first call: %v, want input_required with a requestState", first)
	}
	answer := map[string]any{"approval": map[string]any{"action": "accept", "content": map[string]any{}}}
	other := post("pets_getPet", map[string]any{"arguments": map[string]any{"petId": "1"}, "requestState": state, "inputResponses": answer})
	if other["isError"] != true || !strings.Contains(fmt.Sprint(other["content"]), "is for a call of pets.org.main.pets.createPet") || up.posts.Load() != 0 {
		t.Fatalf("the state on another tool: %v; upstream writes %d", other, up.posts.Load())
	}
	done := post("pets_createPet", map[string]any{"arguments": create, "requestState": state, "inputResponses": answer})
	if done["isError"] == true || !strings.Contains(fmt.Sprint(done["structuredContent"]), "status:201") || up.posts.Load() != 1 {
		t.Fatalf("the retry with the answer: %v; upstream writes %d", done, up.posts.Load())
	}
}

// security.md E5: two upstreams with a tool of the same name stay apart,
// in code mode and on their direct endpoints; neither shadows the other.
func TestSameToolNameOnTwoUpstreamsStaysNamespaced(t *testing.T) {
	tg := newTestGateway(t, Config{})
	send := tool("send_email", "Send an email", `"to":{"type":"string"}`)
	tg.connect(t, "mail", OwnerOrg, "", "main", send)
	tg.connect(t, "crm", OwnerOrg, "", "main", send)
	c := tg.client(t, "alice")
	c.initialize()
	r := c.execute(`const found = (await tools.search({ query: "send email" })).items.map(i => i.path).sort();
const a = await tools.mail.org.main.send_email({ to: "a@example.com" });
const b = await tools.crm.org.main.send_email({ to: "b@example.com" });
return { found, a: a.data.to, b: b.data.to };`)
	if want := `{"found":["crm.org.main.send_email","mail.org.main.send_email"],"a":"a@example.com","b":"b@example.com"}`; !strings.Contains(string(r.StructuredContent), want) {
		t.Fatalf("code mode: %s, want %s", r.StructuredContent, want)
	}
	for _, slug := range []string{"mail", "crm"} {
		d := sdkConnect(t, tg.srv.URL+"/mcp/direct/"+slug+"/org/main", "alice", true, nil)
		if tools := directTools(t, d); len(tools) != 1 || tools["send_email"].Name == "" {
			t.Fatalf("%s's endpoint lists %v", slug, tools)
		}
		directCall(t, d, "send_email", map[string]any{"to": slug})
	}
	tg.auditLog.flushNow()
	var page struct {
		Items []auditRecord `json:"items"`
	}
	tg.api(t, "alice", "GET", "/api/audit?limit=100", nil, &page)
	counts := map[string]int{}
	for _, rec := range page.Items {
		counts[rec.Address]++
	}
	if counts["tools.mail.org.main.send_email"] != 2 || counts["tools.crm.org.main.send_email"] != 2 {
		t.Fatalf("the audit log's addresses: %v, want two calls of each", counts)
	}
}

// security.md J2: icons an upstream MCP server puts on its tools (or on
// itself) reach no client: not the direct endpoint's tool list, not the
// API the console reads, not describe.
func TestUpstreamIconsReachNoClient(t *testing.T) {
	s := server.NewMCPServer("iconic", "1.0.0", server.WithToolCapabilities(false),
		server.WithIcons(mcp.Icon{Src: "javascript:alert(1)"}))
	s.AddTool(mcp.NewTool("ping", mcp.WithDescription("Ping"), mcp.WithToolIcons(
		mcp.Icon{Src: "javascript:alert(2)"}, mcp.Icon{Src: "http://evil.example/i.svg", MIMEType: "image/svg+xml"})),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("pong"), nil
		})
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s))
	up := httptest.NewServer(mux)
	t.Cleanup(up.Close)

	tg := newTestGateway(t, Config{})
	if code, body := tg.api(t, "alice", "POST", "/api/mcp/servers", map[string]any{"name": "Iconic", "slug": "iconic", "transport": "remote", "endpoint": up.URL + "/mcp", "remoteTransport": "streamable-http"}, nil); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	if code, body := tg.api(t, "alice", "POST", "/api/connections", map[string]any{"owner": "org", "name": "main", "integration": "iconic", "template": "none"}, nil); code != 200 {
		t.Fatalf("connect: %d %s", code, body)
	}
	d := sdkConnect(t, tg.srv.URL+"/mcp/direct/iconic/org/main", "alice", true, nil)
	listed, _ := json.Marshal(directTools(t, d))
	_, apiTools := tg.api(t, "alice", "GET", "/api/tools?integration=iconic", nil, nil)
	_, schema := tg.api(t, "alice", "GET", "/api/tools/schema?address=tools.iconic.org.main.ping", nil, nil)
	c := tg.client(t, "alice")
	c.initialize()
	described := c.execute(`return await tools.describe.tool({ path: "iconic.org.main.ping" })`)
	for what, text := range map[string]string{"the direct tool list": string(listed), "GET /api/tools": apiTools,
		"GET /api/tools/schema": schema, "describe": string(described.StructuredContent)} {
		if !strings.Contains(text, "ping") {
			t.Fatalf("%s does not have the tool: %s", what, text)
		}
		if strings.Contains(text, "javascript:") || strings.Contains(text, "evil.example") {
			t.Errorf("%s carries the upstream's icons: %s", what, text)
		}
	}
}

// Names of the gateway's own making are what model APIs accept, unique and
// stable.
func TestDirectNamesAreClientSafe(t *testing.T) {
	long := strings.Repeat("operation.", 12) + "get"
	tests := []struct{ in, want string }{
		{"pets.getPet", "pets_getPet"},
		{"query.user", "query_user"},
		{"issues/create-comment", "issues_create-comment"},
		{"", "tool"},
		{long, strings.ReplaceAll(long, ".", "_")[:55] + "_" + fmt.Sprintf("%x", sha256.Sum256([]byte(long)))[:8]},
	}
	valid := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	for _, tt := range tests {
		if got := clientSafeName(tt.in); got != tt.want || !valid.MatchString(got) {
			t.Errorf("clientSafeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	taken := map[string]*toolEntry{}
	var got []string
	for _, n := range []string{"a.b", "a_b", "a-b", "a.b"} {
		name := uniqueName(clientSafeName(n), taken)
		taken[name] = &toolEntry{}
		got = append(got, name)
	}
	if fmt.Sprint(got) != "[a_b a_b_2 a-b a_b_3]" {
		t.Errorf("names in order: %v", got)
	}
	full := strings.Repeat("x", 64)
	taken = map[string]*toolEntry{full: {}}
	if n := uniqueName(full, taken); len(n) != 64 || !strings.HasSuffix(n, "_2") {
		t.Errorf("a second 64-character name: %q", n)
	}
}
