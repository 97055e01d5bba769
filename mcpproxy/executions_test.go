package mcpproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/store"
)

const petsSecret = "SENTINEL-9b1c-approvals-key"

// approvalsFixture is a gateway with the pets API connected for the org.
func approvalsFixture(t *testing.T, cfg Config) (*testGateway, *petsUpstream) {
	t.Helper()
	up := newPetsUpstream(t)
	tg := newTestGateway(t, cfg)
	addPets(t, tg, up.URL)
	return tg, up
}

func addPets(t *testing.T, tg *testGateway, upstream string) {
	t.Helper()
	if code, body := tg.api(t, "alice", "POST", "/api/openapi/specs", map[string]any{"spec": map[string]any{"kind": "url", "url": upstream + "/openapi.json"}, "slug": "pets"}, nil); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	if code, body := tg.api(t, "alice", "POST", "/api/connections", map[string]any{"owner": "org", "name": "main", "integration": "pets", "template": "apikey-0", "value": petsSecret}, nil); code != 200 {
		t.Fatalf("connection: %d %s", code, body)
	}
}

// readThenWrite reads a pet, then creates one (which needs approval), then
// logs after the write.
const readThenWrite = `const before = await tools.pets.org.main.pets.getPet({ petId: "1" });
const created = await tools.pets.org.main.pets.createPet({ body: { name: "Fido" } });
console.log("after", Date.now() > 0);
return { before: before.data.name, created: created.data.name, status: created.http.status };`

func (c *mcpClient) resume(args map[string]any) toolResult {
	c.t.Helper()
	res := c.call("tools/call", map[string]any{"name": "resume", "arguments": args})
	var tr toolResult
	if err := json.Unmarshal(res.Result, &tr); err != nil {
		c.t.Fatalf("resume: %v %s", err, res.raw)
	}
	return tr
}

func executionID(t testing.TB, r toolResult) string {
	t.Helper()
	id, _ := r.structured(t)["executionId"].(string)
	if id == "" {
		t.Fatalf("no executionId in %s", r.StructuredContent)
	}
	return id
}

func TestModelModePausesAndResumes(t *testing.T) {
	tg, up := approvalsFixture(t, Config{})
	c := tg.client(t, "alice")
	c.initialize()

	r := c.execute(readThenWrite)
	s := r.structured(t)
	if r.IsError || s["status"] != "waiting_for_interaction" || !strings.HasPrefix(r.text(), "Execution paused: POST /pets") {
		t.Fatalf("pause: %s", r.StructuredContent)
	}
	inter := s["interaction"].(map[string]any)
	if inter["address"] != "tools.pets.org.main.pets.createPet" || !strings.Contains(inter["message"].(string), `"name": "Fido"`) ||
		!strings.Contains(fmt.Sprint(inter["requestedSchema"]), "properties") || !strings.Contains(inter["instructions"].(string), "resume") {
		t.Fatalf("interaction: %v", inter)
	}
	if up.posts.Load() != 0 || up.gets.Load() != 1 {
		t.Fatalf("before approval: posts %d gets %d", up.posts.Load(), up.gets.Load())
	}
	id := executionID(t, r)
	// security.md M7: the person sees where the call goes, never the key.
	target := "POST " + up.URL + "/pets"
	if msg := inter["message"].(string); !strings.Contains(msg, "Sends: "+target) || strings.Contains(msg, petsSecret) {
		t.Fatalf("the approval message does not say where the call goes: %s", msg)
	}
	var pending []map[string]any
	tg.api(t, "alice", "GET", "/api/executions?status=paused", nil, &pending)
	if len(pending) != 1 || pending[0]["target"] != target {
		t.Fatalf("the console's pending approval: %v, want target %q", pending, target)
	}

	done := c.resume(map[string]any{"executionId": id, "action": "accept", "content": "{}"})
	want := `{"status":"completed","result":{"before":"Rex","created":"Fido","status":201},"logs":["[log] after true"]}`
	if done.IsError || string(done.StructuredContent) != want {
		t.Fatalf("resume: %s", done.StructuredContent)
	}
	if up.posts.Load() != 1 || up.gets.Load() != 1 {
		t.Fatalf("after approval: posts %d gets %d (the read before the pause must not repeat)", up.posts.Load(), up.gets.Load())
	}
	again := c.resume(map[string]any{"executionId": id, "action": "decline"})
	if string(again.StructuredContent) != want || up.posts.Load() != 1 {
		t.Fatalf("a repeated resume must replay the outcome: %s, posts %d", again.StructuredContent, up.posts.Load())
	}
}

func TestModelModeDeclineThrowsInTheSandbox(t *testing.T) {
	tg, up := approvalsFixture(t, Config{})
	c := tg.client(t, "alice")
	c.initialize()
	id := executionID(t, c.execute(readThenWrite))
	r := c.resume(map[string]any{"executionId": id, "action": "decline"})
	if !r.IsError || !strings.Contains(r.text(), `Tool "pets.org.main.pets.createPet" requires approval but the request was declined by the user.`) {
		t.Fatalf("decline: %q", r.text())
	}
	id = executionID(t, c.execute(`try { await tools.pets.org.main.pets.createPet({ body: { name: "x" } }) } catch (e) { return "caught: " + e.message }`))
	r = c.resume(map[string]any{"executionId": id, "action": "cancel"})
	if r.IsError || !strings.Contains(r.text(), "caught: ") || !strings.Contains(r.text(), "cancelled by the user") {
		t.Fatalf("cancel caught by the script: %q", r.text())
	}
	if up.posts.Load() != 0 {
		t.Fatalf("the upstream received %d writes", up.posts.Load())
	}
}

func TestResumeFromAnotherSessionAndAnotherPrincipal(t *testing.T) {
	tg, up := approvalsFixture(t, Config{})
	a := tg.client(t, "alice")
	a.initialize()
	id := executionID(t, a.execute(readThenWrite))

	mallory := tg.client(t, "mallory")
	mallory.initialize()
	r := mallory.resume(map[string]any{"executionId": id, "action": "accept"})
	if !r.IsError || r.structured(t)["status"] != "execution_forbidden" || up.posts.Load() != 0 {
		t.Fatalf("another principal: %s", r.StructuredContent)
	}
	b := tg.client(t, "alice")
	b.initialize()
	r = b.resume(map[string]any{"executionId": id, "action": "accept"})
	if r.IsError || r.structured(t)["status"] != "completed" || up.posts.Load() != 1 {
		t.Fatalf("a second session of the same principal: %s", r.StructuredContent)
	}
	r = b.resume(map[string]any{"executionId": "exec_unknown", "action": "accept"})
	if s := r.structured(t); s["status"] != "execution_not_found" || s["recovery"] != "re_execute" {
		t.Fatalf("unknown id: %s", r.StructuredContent)
	}
}

func TestAPausedExecutionSurvivesARestart(t *testing.T) {
	up := newPetsUpstream(t)
	path := filepath.Join(t.TempDir(), "executor.db")
	open := func() (*Gateway, *store.DB) {
		db, err := store.Open(path, store.Options{SecretKey: "test-secret-key-0123456789"})
		if err != nil {
			t.Fatal(err)
		}
		g, err := New(Config{Store: db, Sandbox: engine, AllowLocalNetwork: true, HTTPClient: egress.NewClient(egress.Options{AllowLocalNetwork: true})})
		if err != nil {
			t.Fatal(err)
		}
		return g, db
	}
	alice := Principal{ID: "alice"}
	g, db := open()
	tg := &testGateway{Gateway: g}
	tg.srv = serve(t, g)
	addPets(t, tg, up.URL)
	c := tg.client(t, "alice")
	c.initialize()
	id := executionID(t, c.execute(readThenWrite))
	tg.srv.Close()
	g.Close()
	db.Close()

	g2, db2 := open()
	defer func() { g2.Close(); db2.Close() }()
	out, err := g2.continueExecution(context.Background(), alice, id, "accept", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out.StructuredContent)
	if !strings.Contains(string(b), `"created":"Fido"`) || up.posts.Load() != 1 || up.gets.Load() != 1 {
		t.Fatalf("after a restart: %s; posts %d gets %d", b, up.posts.Load(), up.gets.Load())
	}
}

func TestApprovalsAreSingleUseAndBoundToTheCall(t *testing.T) {
	t.Run("concurrent resumes run the call once", func(t *testing.T) {
		tg, up := approvalsFixture(t, Config{})
		c := tg.client(t, "alice")
		c.initialize()
		id := executionID(t, c.execute(readThenWrite))
		var wg sync.WaitGroup
		results := make([]string, 10)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out, err := tg.continueExecution(context.Background(), Principal{ID: "alice"}, id, "accept", nil, nil)
				if err != nil {
					results[i] = err.Error()
					return
				}
				b, _ := json.Marshal(out.StructuredContent)
				results[i] = string(b)
			}(i)
		}
		wg.Wait()
		if up.posts.Load() != 1 {
			t.Fatalf("the upstream received %d writes", up.posts.Load())
		}
		for _, r := range results {
			if !strings.Contains(r, `"created":"Fido"`) && !strings.Contains(r, "execution_already_settled") {
				t.Fatalf("a concurrent resume got %s", r)
			}
		}
	})
	t.Run("a decision after the approval window declines the call", func(t *testing.T) {
		tg, up := approvalsFixture(t, Config{ApprovalTimeout: 300 * time.Millisecond})
		c := tg.client(t, "alice")
		c.initialize()
		id := executionID(t, c.execute(readThenWrite))
		time.Sleep(400 * time.Millisecond)
		if _, err := tg.decide(Principal{ID: "alice"}, id, "accept", nil, ""); err == nil || !strings.Contains(err.Error(), "execution_expired") {
			t.Fatalf("a console approval after the window: %v", err)
		}
		r := c.resume(map[string]any{"executionId": id, "action": "accept"})
		if !r.IsError || !strings.Contains(r.text(), "declined by the user") || up.posts.Load() != 0 {
			t.Fatalf("a late accept: %q; posts %d", r.text(), up.posts.Load())
		}
	})
	t.Run("an approval given for other arguments is refused", func(t *testing.T) {
		tg, _ := approvalsFixture(t, Config{})
		e, _ := tg.catalog.lookup(Principal{ID: "alice"}, "pets.org.main.pets.createPet")
		o := &runOptions{approved: map[int]approval{2: {Action: "accept", Hash: callHash(e.Path, json.RawMessage(`{"body":{"name":"Fido"}}`))}}}
		err := o.gate(context.Background(), 2, e, decision{Action: ActionRequireApproval}, json.RawMessage(`{"body":{"name":"Mallory"}}`), "")
		if err == nil || !strings.Contains(err.Error(), "different arguments") {
			t.Fatalf("got %v", err)
		}
		if err := o.gate(context.Background(), 2, e, decision{Action: ActionRequireApproval}, json.RawMessage(`{ "body": {"name": "Fido"} }`), ""); err != nil {
			t.Fatalf("the same call (other spacing) was refused: %v", err)
		}
	})
	t.Run("a decision cannot be given twice or by another principal", func(t *testing.T) {
		tg, _ := approvalsFixture(t, Config{})
		c := tg.client(t, "alice")
		c.initialize()
		id := executionID(t, c.execute(readThenWrite))
		if _, err := tg.decide(Principal{ID: "bob"}, id, "accept", nil, ""); err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Fatalf("bob's approval: %v", err)
		}
		if _, err := tg.decide(Principal{ID: "alice"}, id, "accept", nil, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := tg.decide(Principal{ID: "alice"}, id, "decline", nil, ""); err == nil || !strings.Contains(err.Error(), "already_settled") {
			t.Fatalf("a second decision: %v", err)
		}
	})
}

func TestBrowserModeApprovalRoundTrip(t *testing.T) {
	tg, up := approvalsFixture(t, Config{})
	c := tg.client(t, "alice")
	c.url += "?elicitation_mode=browser"
	c.initialize()
	r := c.execute(readThenWrite)
	s := r.structured(t)
	approvalURL, _ := s["approvalUrl"].(string)
	if s["status"] != "user_approval_required" || !strings.Contains(approvalURL, "/resume/"+s["executionId"].(string)+"?mcp_session_id="+c.session) ||
		!strings.HasPrefix(r.text(), "User approval required.") {
		t.Fatalf("pause: %s", r.StructuredContent)
	}
	id := s["executionId"].(string)
	u, _ := url.Parse(approvalURL)
	base := "/api/mcp-sessions/" + u.Query().Get("mcp_session_id") + "/executions/" + id

	var detail map[string]any
	if code, body := tg.api(t, "alice", "GET", base, nil, &detail); code != 200 || detail["text"] == nil {
		t.Fatalf("detail: %d %s", code, body)
	}
	if code, _ := tg.api(t, "bob", "GET", base, nil, nil); code != 404 {
		t.Fatalf("bob reads alice's approval: %d", code)
	}
	if code, body := tg.api(t, "alice", "POST", base+"/resume", map[string]any{"action": "maybe"}, nil); code != 400 || !strings.Contains(body, "Invalid approval response") {
		t.Fatalf("bad action: %d %s", code, body)
	}
	if code, _ := tg.api(t, "bob", "POST", base+"/resume", map[string]any{"action": "accept"}, nil); code != 404 {
		t.Fatalf("bob approves alice's call: %d", code)
	}

	resumed := make(chan toolResult, 1)
	go func() { resumed <- c.resume(map[string]any{"executionId": id}) }()
	time.Sleep(100 * time.Millisecond)
	var ok map[string]any
	if code, body := tg.api(t, "alice", "POST", base+"/resume", map[string]any{"action": "accept", "content": map[string]any{}}, &ok); code != 200 {
		t.Fatalf("approve: %d %s", code, body)
	}
	if ok["text"] != "I've approved it" || fmt.Sprint(ok["structured"]) != fmt.Sprintf("map[executionId:%s status:approved]", id) || ok["isError"] != false {
		t.Fatalf("approve response: %v", ok)
	}
	select {
	case done := <-resumed:
		if done.IsError || done.structured(t)["status"] != "completed" || up.posts.Load() != 1 {
			t.Fatalf("agent resume: %s; posts %d", done.StructuredContent, up.posts.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent's resume did not wake up on the decision")
	}
	if code, _ := tg.api(t, "alice", "POST", base+"/resume", map[string]any{"action": "accept"}, nil); code != 409 {
		t.Fatalf("a second approval: %d", code)
	}

	// Decline: the sandbox sees the thrown error, the upstream nothing.
	r = c.execute(readThenWrite)
	id = executionID(t, r)
	tg.api(t, "alice", "POST", "/api/mcp-sessions/"+c.session+"/executions/"+id+"/resume", map[string]any{"action": "decline"}, nil)
	done := c.resume(map[string]any{"executionId": id})
	if !done.IsError || !strings.Contains(done.text(), "declined by the user") || up.posts.Load() != 1 {
		t.Fatalf("decline: %q; posts %d", done.text(), up.posts.Load())
	}
}

// elicitor answers elicitation requests with a fixed action and records the
// messages it was shown.
type elicitor struct {
	action   mcp.ElicitationResponseAction
	messages []string
	mu       sync.Mutex
}

func (e *elicitor) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.mu.Lock()
	e.messages = append(e.messages, req.Params.Message)
	e.mu.Unlock()
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: e.action, Content: map[string]any{}}}, nil
}

func sdkClient(t *testing.T, tg *testGateway, principal, mode string, legacy bool, h *elicitor) *client.Client {
	t.Helper()
	return sdkConnect(t, tg.srv.URL+"/mcp?elicitation_mode="+mode, principal, legacy, h)
}

// sdkConnect connects mcp-go's client to url as principal; with h it
// declares elicitation and answers with h.
func sdkConnect(t *testing.T, url, principal string, legacy bool, h *elicitor) *client.Client {
	t.Helper()
	var opts []client.ClientOption
	if h != nil {
		opts = append(opts, client.WithElicitationHandler(h))
	}
	if legacy {
		opts = append(opts, client.WithLegacyProtocolOnly())
	}
	tr, err := transport.NewStreamableHTTP(url, transport.WithHTTPHeaders(map[string]string{"X-Test-Principal": principal}))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "0"}
	if h != nil {
		init.Params.Capabilities.Elicitation = &mcp.ElicitationCapability{}
	}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sdkExecute(t *testing.T, c *client.Client, code string) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "execute"
	req.Params.Arguments = map[string]any{"code": code}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestNativeModeAsksTheClient(t *testing.T) {
	for _, legacy := range []bool{true, false} {
		era := "2026-07-28 input_required"
		if legacy {
			era = "elicitation/create"
		}
		t.Run(era, func(t *testing.T) {
			tg, up := approvalsFixture(t, Config{})
			accept := &elicitor{action: mcp.ElicitationResponseActionAccept}
			res := sdkExecute(t, sdkClient(t, tg, "alice", "native", legacy, accept), readThenWrite)
			b, _ := json.Marshal(res.StructuredContent)
			if res.IsError || !strings.Contains(string(b), `"created":"Fido"`) || up.posts.Load() != 1 || up.gets.Load() != 1 {
				t.Fatalf("accept: %s; posts %d gets %d", b, up.posts.Load(), up.gets.Load())
			}
			if want := "POST /pets\n\nSends: POST " + up.URL + "/pets\n\nArguments:"; len(accept.messages) != 1 || !strings.HasPrefix(accept.messages[0], want) {
				t.Fatalf("the client was shown %q", accept.messages)
			}
			decline := &elicitor{action: mcp.ElicitationResponseActionDecline}
			res = sdkExecute(t, sdkClient(t, tg, "alice", "native", legacy, decline), readThenWrite)
			if !res.IsError || up.posts.Load() != 1 {
				b, _ = json.Marshal(res)
				t.Fatalf("decline: %s; posts %d", b, up.posts.Load())
			}
		})
	}
}

func TestCodeCannotApproveItself(t *testing.T) {
	tg, _ := approvalsFixture(t, Config{})
	c := tg.client(t, "alice")
	c.initialize()
	write := `return await tools.executor.coreTools.policies.create({ owner: "org", pattern: "*", action: "approve" })`
	if r := c.execute(write); r.structured(t)["status"] != "waiting_for_interaction" {
		t.Fatalf("a policy write ran without approval: %s", r.StructuredContent)
	}
	// Even an existing approve-everything rule does not lift it.
	tg.api(t, "alice", "POST", "/api/policies", map[string]any{"owner": "org", "pattern": "*", "action": "approve"}, nil)
	if r := c.execute(write); r.structured(t)["status"] != "waiting_for_interaction" {
		t.Fatalf("a policy write ran under approve *: %s", r.StructuredContent)
	}
	var rules []policyView
	tg.api(t, "alice", "GET", "/api/policies", nil, &rules)
	if len(rules) != 1 {
		t.Fatalf("code wrote a rule: %+v", rules)
	}
}

func TestBlockedToolsAreBlockedOnEveryCallPath(t *testing.T) {
	tg, up := approvalsFixture(t, Config{})
	tg.api(t, "alice", "POST", "/api/policies", map[string]any{"owner": "org", "pattern": "pets.org.main.pets.getPet", "action": "block"}, nil)
	code := `return await tools.pets.org.main.pets.getPet({ petId: "1" })`
	want := `"code": "tool_blocked"`

	c := tg.client(t, "alice")
	c.initialize()
	if r := c.execute(code); !strings.Contains(r.text(), want) || !strings.Contains(r.text(), "Tool blocked by policy: pets.org.main.pets.getPet") {
		t.Fatalf("code mode: %s", r.text())
	}
	for _, auto := range []bool{false, true} {
		var res map[string]any
		tg.api(t, "alice", "POST", "/api/executions", map[string]any{"code": code, "autoApprove": auto}, &res)
		if !strings.Contains(fmt.Sprint(res["text"]), want) {
			t.Fatalf("console Run (autoApprove %v): %v", auto, res)
		}
	}
	// security.md E1: another spelling of the path is no way round the rule.
	for _, other := range []string{"pets.org.main.pets.GetPet", "pets.org.main.pets.GETPET", "PETS.org.main.pets.getPet", "pets.org.main.pets.getPet ", "pets.org.main.pets.get\u200bPet"} {
		r := c.execute("return await tools" + jsPath(other) + `({ petId: "1" })`)
		if !strings.Contains(r.text(), "tool_not_found") && !strings.Contains(r.text(), "tool_blocked") {
			t.Fatalf("calling %q: %s", other, r.text())
		}
	}
	if up.gets.Load() != 0 {
		t.Fatalf("a blocked call reached the upstream %d times", up.gets.Load())
	}
	if p := search(t, tg, "alice", `{"query":"get pet"}`); len(p.Items) > 0 && paths(p)[0] == "pets.org.main.pets.getPet" {
		t.Fatal("search lists the blocked tool")
	}
	if r := c.execute(`return await tools.describe.tool({ path: "pets.org.main.pets.getPet" })`); !strings.Contains(r.text(), "tool_not_found") {
		t.Fatalf("describe shows the blocked tool: %s", r.text())
	}
	var tools []toolView
	tg.api(t, "alice", "GET", "/api/tools?integration=pets", nil, &tools)
	for _, tl := range tools {
		if tl.Name == "pets.getPet" {
			t.Fatal("/api/tools lists the blocked tool")
		}
	}
	tg.api(t, "alice", "GET", "/api/tools?integration=pets&includeBlocked=true", nil, &tools)
	found := false
	for _, tl := range tools {
		found = found || (tl.Name == "pets.getPet" && tl.Policy == "block" && tl.PolicyPattern == "pets.org.main.pets.getPet" && tl.PolicyID != "" && !tl.PolicyDefault)
		if tl.Name == "pets.createPet" && (tl.Policy != "require_approval" || !tl.PolicyDefault || tl.PolicyID != "") {
			t.Fatalf("an unmatched tool should show its default decision: %+v", tl)
		}
	}
	if !found {
		t.Fatalf("includeBlocked does not show the blocked tool with its rule: %+v", tools)
	}
}

func TestAnApprovalIsAuditedOnceWhoeverDecides(t *testing.T) {
	tg, _ := approvalsFixture(t, Config{})
	c := tg.client(t, "alice")
	c.initialize()
	create := `return await tools.pets.org.main.pets.createPet({ body: { name: "Rex" } })`

	// A person approves in the console, then the agent resumes.
	byConsole := executionID(t, c.execute(create))
	if code, body := tg.api(t, "alice", "POST", "/api/executions/"+byConsole+"/resume", map[string]any{"action": "accept"}, nil); code != 200 {
		t.Fatalf("console decision: %d %s", code, body)
	}
	if r := c.resume(map[string]any{"executionId": byConsole, "action": "accept"}); r.IsError {
		t.Fatalf("resume after the console approved: %s", r.text())
	}
	// The agent answers itself.
	byAgent := executionID(t, c.execute(create))
	c.resume(map[string]any{"executionId": byAgent, "action": "decline"})

	tg.auditLog.flushNow()
	var page struct {
		Items []auditRecord `json:"items"`
	}
	tg.api(t, "alice", "GET", "/api/audit?limit=100", nil, &page)
	got := map[string][]string{}
	for _, r := range page.Items {
		if r.Kind == "approval" {
			got[r.Execution] = append(got[r.Execution], r.Source+":"+r.Outcome)
		}
	}
	if want := []string{"console:approved"}; fmt.Sprint(got[byConsole]) != fmt.Sprint(want) {
		t.Errorf("console approval audited as %v, want %v", got[byConsole], want)
	}
	if want := []string{"execute:denied"}; fmt.Sprint(got[byAgent]) != fmt.Sprint(want) {
		t.Errorf("agent decision audited as %v, want %v", got[byAgent], want)
	}
}

func TestConsoleRunAutoApprovesAndPausesOtherwise(t *testing.T) {
	tg, up := approvalsFixture(t, Config{})
	var res map[string]any
	tg.api(t, "alice", "POST", "/api/executions", map[string]any{"code": readThenWrite, "autoApprove": true}, &res)
	if res["status"] != "completed" || res["isError"] != false || up.posts.Load() != 1 {
		t.Fatalf("autoApprove: %v; posts %d", res, up.posts.Load())
	}
	tg.api(t, "alice", "POST", "/api/executions", map[string]any{"code": readThenWrite}, &res)
	if res["status"] != "paused" {
		t.Fatalf("without autoApprove: %v", res)
	}
	id := res["structured"].(map[string]any)["executionId"].(string)
	var list []map[string]any
	tg.api(t, "alice", "GET", "/api/executions?status=paused", nil, &list)
	if len(list) != 1 || list[0]["executionId"] != id || list[0]["address"] != "tools.pets.org.main.pets.createPet" {
		t.Fatalf("pending list: %v", list)
	}
	tg.api(t, "alice", "POST", "/api/executions/"+id+"/resume", map[string]any{"action": "accept"}, &res)
	if res["status"] != "completed" || up.posts.Load() != 2 {
		t.Fatalf("resume: %v; posts %d", res, up.posts.Load())
	}
	if code, body := tg.api(t, "alice", "GET", "/api/executions/exec_nope", nil, nil); code != 404 || !strings.Contains(body, "ExecutionNotFoundError") {
		t.Fatalf("unknown: %d %s", code, body)
	}
}

func TestAuditRecordsEveryDecisionWithoutSecrets(t *testing.T) {
	tg, _ := approvalsFixture(t, Config{})
	tg.api(t, "alice", "POST", "/api/policies", map[string]any{"owner": "org", "pattern": "pets.org.main.pets.getPet", "action": "block"}, nil)
	c := tg.client(t, "alice")
	c.initialize()
	c.execute(`return await tools.pets.org.main.pets.getPet({ petId: "1" })`)
	id := executionID(t, c.execute(`return await tools.pets.org.main.pets.createPet({ body: { name: "`+petsSecret+`" } })`))
	c.resume(map[string]any{"executionId": id, "action": "decline"})
	c.execute(`return await tools.executor.coreTools.connections.list({})`)

	var page struct {
		Items      []auditRecord `json:"items"`
		NextBefore *uint64       `json:"nextBefore"`
	}
	code, body := tg.api(t, "alice", "GET", "/api/audit?limit=100", nil, &page)
	if code != 200 {
		t.Fatalf("audit: %d %s", code, body)
	}
	outcomes := map[string]bool{}
	for _, r := range page.Items {
		outcomes[r.Kind+":"+r.Outcome] = true
		if r.Principal != "alice" || r.Email != "alice@example.com" {
			t.Errorf("record %d names %q <%s>, want alice <alice@example.com>", r.Seq, r.Principal, r.Email)
		}
	}
	for _, want := range []string{"policy:created", "call:tool_blocked", "call:paused", "approval:denied", "call:declined", "call:ok"} {
		if !outcomes[want] {
			t.Errorf("no %s entry in %v", want, outcomes)
		}
	}
	if strings.Contains(body, petsSecret) {
		t.Fatal("the audit log holds a secret argument value")
	}
	var filtered struct {
		Items []auditRecord `json:"items"`
	}
	tg.api(t, "alice", "GET", "/api/audit?outcome=tool_blocked&principal=Alice@example.com", nil, &filtered)
	if len(filtered.Items) != 1 || filtered.Items[0].Pattern != "pets.org.main.pets.getPet" {
		t.Fatalf("filter: %+v", filtered.Items)
	}
	// Arguments are kept as the digest of their canonical form, whatever
	// the order of their keys or the white space they were sent with.
	if got, want := filtered.Items[0].ArgsDigest, argsDigest(json.RawMessage(`{ "petId" : "1" }`)); got == "" || got != want {
		t.Fatalf("argsDigest %q, want %q", got, want)
	}
	var p1, p2 struct {
		Items      []auditRecord `json:"items"`
		NextBefore *uint64       `json:"nextBefore"`
	}
	tg.api(t, "alice", "GET", "/api/audit?limit=2", nil, &p1)
	tg.api(t, "alice", "GET", fmt.Sprintf("/api/audit?limit=2&before=%d", *p1.NextBefore), nil, &p2)
	if len(p1.Items) != 2 || len(p2.Items) != 2 || p2.Items[0].Seq >= p1.Items[1].Seq {
		t.Fatalf("paging: %+v then %+v", p1.Items, p2.Items)
	}
}

// security.md M3: where the operator leaves model mode out, an agent cannot
// approve its own call; and a call paused for a decision in the console is
// never accepted by a resume from a model-mode session.
func TestOnlyAPersonApprovesWhereTheOperatorSaysSo(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		pauseIn string // the mode of the session that executes
		resumes string // the mode of the session whose agent says accept
	}{
		{"model mode left out: an agent asking for it gets browser approval", Config{ApprovalModes: []string{ModeBrowser, ModeNative}}, ModeModel, ModeModel},
		{"model mode left out: the legacy allow_model_resume is no way round", Config{ApprovalModes: []string{ModeBrowser}}, "legacy", "legacy"},
		{"a browser pause resumed from a model session", Config{}, ModeBrowser, ModeModel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg, up := approvalsFixture(t, c.cfg)
			session := func(mode string) *mcpClient {
				cl := tg.client(t, "alice")
				if mode == "legacy" {
					cl.url += "?allow_model_resume=1"
				} else {
					cl.url += "?elicitation_mode=" + mode
				}
				cl.initialize()
				return cl
			}
			a := session(c.pauseIn)
			s := a.execute(readThenWrite).structured(t)
			id, _ := s["executionId"].(string)
			if s["status"] != "user_approval_required" || id == "" {
				t.Fatalf("pause: %v", s)
			}
			b := session(c.resumes)
			resumed := make(chan toolResult, 1)
			go func() { resumed <- b.resume(map[string]any{"executionId": id, "action": "accept", "content": "{}"}) }()
			select {
			case r := <-resumed:
				t.Fatalf("the agent's own accept returned %s; posts %d", r.StructuredContent, up.posts.Load())
			case <-time.After(300 * time.Millisecond):
			}
			if up.posts.Load() != 0 {
				t.Fatalf("the agent's own accept reached the upstream")
			}
			// The person decides in the console; the waiting resume completes.
			if code, body := tg.api(t, "alice", "POST", "/api/executions/"+id+"/resume", map[string]any{"action": "accept"}, nil); code != 200 {
				t.Fatalf("approve: %d %s", code, body)
			}
			select {
			case r := <-resumed:
				if r.IsError || r.structured(t)["status"] != "completed" || up.posts.Load() != 1 {
					t.Fatalf("after the person approved: %s; posts %d", r.StructuredContent, up.posts.Load())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the resume did not wake up on the person's decision")
			}
		})
	}
}

func TestApprovalModesAreCheckedAndShown(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "executor.db"), store.Options{SecretKey: "test-secret-key-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := New(Config{Store: db, ApprovalModes: []string{"browser", "email"}}); err == nil || !strings.Contains(err.Error(), `"email"`) {
		t.Fatalf("an unknown mode: %v", err)
	}
	tg := newTestGateway(t, Config{ApprovalModes: []string{ModeNative, ModeBrowser}})
	var cfg map[string]any
	tg.api(t, "alice", "GET", "/api/config", nil, &cfg)
	if fmt.Sprint(cfg["approvalModes"]) != "[native browser]" {
		t.Fatalf("/api/config approvalModes = %v", cfg["approvalModes"])
	}
	if err := tg.Reconfigure(Config{ApprovalModes: []string{"Model"}}); err == nil {
		t.Fatal("a reload with an unknown mode was accepted")
	}
	tg.api(t, "alice", "GET", "/api/config", nil, &cfg)
	if fmt.Sprint(cfg["approvalModes"]) != "[native browser]" {
		t.Fatalf("a refused reload changed the modes: %v", cfg["approvalModes"])
	}
	if err := tg.Reconfigure(Config{}); err != nil {
		t.Fatal(err)
	}
	tg.api(t, "alice", "GET", "/api/config", nil, &cfg)
	if fmt.Sprint(cfg["approvalModes"]) != "[model browser native]" {
		t.Fatalf("the default modes: %v", cfg["approvalModes"])
	}
}

// jsPath is path as bracketed JavaScript property accesses: a.b → ["a"]["b"].
func jsPath(path string) string {
	var b strings.Builder
	for _, seg := range strings.Split(path, ".") {
		b.WriteString(fmt.Sprintf("[%q]", seg))
	}
	return b.String()
}

// security.md K13: an agent that pauses in a loop cannot fill the database.
func TestWaitingExecutionsAreCappedPerPrincipal(t *testing.T) {
	tg, _ := approvalsFixture(t, Config{maxWaiting: 2})
	alice, bob := tg.client(t, "alice"), tg.client(t, "bob")
	alice.initialize()
	bob.initialize()
	first := executionID(t, alice.execute(readThenWrite))
	executionID(t, alice.execute(readThenWrite))
	r := alice.execute(readThenWrite)
	if !r.IsError || !strings.Contains(r.text(), "2 of your executions already wait for a decision") {
		t.Fatalf("a third paused execution: %s", r.text())
	}
	executionID(t, bob.execute(readThenWrite)) // another principal's count
	// A decision frees a place.
	alice.resume(map[string]any{"executionId": first, "action": "decline"})
	executionID(t, alice.execute(readThenWrite))

	tg.auditLog.flushNow()
	var page struct {
		Items []auditRecord `json:"items"`
	}
	tg.api(t, "alice", "GET", "/api/audit?outcome=too_many_waiting", nil, &page)
	if len(page.Items) != 1 || page.Items[0].Address != "tools.pets.org.main.pets.createPet" {
		t.Fatalf("the refused pause in the audit log: %+v", page.Items)
	}
}

func TestOldExecutionsArePruned(t *testing.T) {
	tg := newTestGateway(t, Config{})
	now := time.Now().UTC()
	day := 24 * time.Hour
	records := map[string]execution{
		"old-settled":    {Status: statusSettled, CreatedAt: now.Add(-8 * day), ExpiresAt: now.Add(-8 * day)},
		"recent-settled": {Status: statusSettled, CreatedAt: now.Add(-6 * day), ExpiresAt: now.Add(-6 * day)},
		"old-expired":    {Status: statusPaused, CreatedAt: now.Add(-9 * day), ExpiresAt: now.Add(-8 * day)},
		"recent-expired": {Status: statusPaused, CreatedAt: now.Add(-2 * day), ExpiresAt: now.Add(-day)},
		"waiting":        {Status: statusPaused, CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Minute)},
	}
	err := tg.store.Update(func(tx store.Tx) error {
		for id, ex := range records {
			ex.ID, ex.Principal = id, "alice"
			if err := tx.PutJSON(store.Executions, id, ex); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.pruneExecutions(now); err != nil {
		t.Fatal(err)
	}
	var left []string
	_ = tg.store.View(func(tx store.Tx) error {
		return tx.ForEach(store.Executions, "", func(id string, _ []byte) error { left = append(left, id); return nil })
	})
	if fmt.Sprint(left) != "[recent-expired recent-settled waiting]" {
		t.Fatalf("left after pruning: %v", left)
	}
}

// The audit log keeps the newest records up to its cap, counted from its
// first and last keys (auditCount) without reading every record.
func TestTheAuditLogKeepsItsNewestRecordsUpToTheCap(t *testing.T) {
	tg := newTestGateway(t, Config{AuditMaxEntries: 50})
	alice := Principal{ID: "alice", Email: "alice@example.com"}
	for i := range 1000 {
		tg.audit(context.Background(), alice, auditRecord{Kind: "call", Address: fmt.Sprintf("tools.x.org.main.t%d", i), Outcome: "ok"})
	}
	tg.auditLog.flushNow() // 1,000 writes: the log is pruned
	var counted, scanned int
	err := tg.store.View(func(tx store.Tx) error {
		var err error
		if counted, err = auditCount(tx); err != nil {
			return err
		}
		scanned, err = tx.Count(store.Audit, "")
		return err
	})
	if err != nil || counted != 50 || scanned != 50 {
		t.Fatalf("after pruning: auditCount %d, a scan %d (%v); want 50", counted, scanned, err)
	}
	var page struct {
		Items []auditRecord `json:"items"`
	}
	tg.api(t, "alice", "GET", "/api/audit?limit=500", nil, &page)
	if len(page.Items) != 50 || page.Items[0].Address != "tools.x.org.main.t999" || page.Items[49].Address != "tools.x.org.main.t950" {
		t.Fatalf("the log holds %d records, from %s to %s", len(page.Items), page.Items[0].Address, page.Items[len(page.Items)-1].Address)
	}
}
