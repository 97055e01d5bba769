package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// sdkClient runs the official MCP TypeScript SDK (testdata/npm) against url
// and returns one decoded JSON value per printed line. Without node or the
// package the test is skipped, except under CI=true.
func sdkClient(t *testing.T, url string, steps ...map[string]any) []map[string]any {
	t.Helper()
	return sdkClientAs(t, "", url, steps...)
}

// sdkClientAs is sdkClient sending bearer as its Authorization on every
// request (none when empty).
func sdkClientAs(t *testing.T, bearer, url string, steps ...map[string]any) []map[string]any {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "npm", "sdk-client.mjs"))
	sdk := filepath.Join(filepath.Dir(script), "node_modules", "@modelcontextprotocol", "sdk")
	_, nodeErr := exec.LookPath("node")
	_, sdkErr := os.Stat(sdk)
	if nodeErr != nil || sdkErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and the MCP TypeScript SDK are required under CI (node: %v, sdk: %v)", nodeErr, sdkErr)
		}
		t.Skip("node or @modelcontextprotocol/sdk is not installed (cd testdata/npm && npm ci)")
	}
	b, _ := json.Marshal(steps)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, url, string(b))
	if bearer != "" {
		cmd.Env = append(os.Environ(), "MCP_BEARER="+bearer)
	}
	out, err := cmd.Output()
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var v map[string]any
		if json.Unmarshal(sc.Bytes(), &v) == nil {
			lines = append(lines, v)
		}
	}
	if err != nil {
		t.Fatalf("sdk client: %v\n%s", err, out)
	}
	return lines
}

func execute(code string) map[string]any {
	return map[string]any{"tool": "execute", "arguments": map[string]any{"code": code}}
}

func structured(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	s, ok := v["structuredContent"].(map[string]any)
	if !ok {
		t.Fatalf("no structuredContent in %v", v)
	}
	return s
}

// gateway is a running executor binary on the local default.
type gateway struct {
	base string
	env  []string
	dir  string
	p    *process
}

func startGateway(t *testing.T, home string, port int) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{base: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir,
		env: env(t, home, fmt.Sprintf("EXECUTOR_PORT=%d", port), fmt.Sprintf("EXECUTOR_ADMIN=localhost:%d", freePort(t)))}
	g.p = start(t, dir, g.env, "run")
	waitHTTP(t, g.base+"/", g.p)
	if code, body := g.api(t, "GET", "/api/config", nil); code != 200 || !strings.Contains(body, `"approvalModes"`) {
		t.Fatalf("%s is not the gateway (another server on the port?): %d %s\n%s", g.base, code, body, g.p.out.String())
	}
	return g
}

func (g *gateway) stop(t *testing.T) {
	t.Helper()
	_ = g.p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- g.p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the gateway did not stop:\n%s", g.p.out.String())
	}
}

func (g *gateway) api(t *testing.T, method, path string, body any) (int, string) {
	t.Helper()
	return g.apiAs(t, "", method, path, body)
}

// apiAs calls the API with bearer as the Authorization (none when empty).
func (g *gateway) apiAs(t *testing.T, bearer, method, path string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, g.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	return res.StatusCode, buf.String()
}

// petStore is an OpenAPI upstream counting the writes it receives.
func petStore(t *testing.T) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	var posts, gets atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/openapi.json":
			fmt.Fprintf(w, `{"openapi":"3.0.3","info":{"title":"Pets","version":"1"},"servers":[{"url":%q}],
"paths":{"/pets":{"get":{"operationId":"listPets","responses":{"200":{"description":"ok"}}},
"post":{"operationId":"createPet","requestBody":{"required":true,"content":{"application/json":{"schema":{"type":"object","properties":{"name":{"type":"string"}}}}}},"responses":{"201":{"description":"created"}}}}}}`, srv.URL)
		case r.Method == "GET" && r.URL.Path == "/pets":
			gets.Add(1)
			fmt.Fprint(w, `[{"name":"Rex"}]`)
		case r.Method == "POST" && r.URL.Path == "/pets":
			posts.Add(1)
			w.WriteHeader(201)
			fmt.Fprint(w, `{"name":"Fido","id":7}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &posts, &gets
}

func TestTheOfficialTypeScriptSDKExecutesCode(t *testing.T) {
	g := startGateway(t, t.TempDir(), freePort(t))
	out := sdkClient(t, g.base+"/mcp",
		map[string]any{"list": true},
		execute("return 1+1"),
		execute("interface P { n: number }\nconst p: P = { n: 41 }\nconsole.warn('typed')\nreturn p.n + 1"),
	)
	if len(out) != 4 {
		t.Fatalf("output: %v", out)
	}
	if out[0]["server"].(map[string]any)["name"] != "executor" {
		t.Fatalf("server: %v", out[0])
	}
	var names []string
	for _, tl := range out[1]["tools"].([]any) {
		names = append(names, tl.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "execute,skills,resume" {
		t.Fatalf("tools: %v", names)
	}
	if s := structured(t, out[2]); s["status"] != "completed" || s["result"] != 2.0 {
		t.Fatalf("return 1+1: %v", out[2])
	}
	if s := structured(t, out[3]); s["result"] != 42.0 || fmt.Sprint(s["logs"]) != "[[warn] typed]" {
		t.Fatalf("typescript: %v", out[3])
	}
}

// addPetStore adds the pet store as the integration pets with the
// connection tools.pets.org.main.
func (g *gateway) addPetStore(t *testing.T, up *httptest.Server) {
	t.Helper()
	if code, body := g.api(t, "POST", "/api/openapi/specs", map[string]any{"spec": map[string]any{"kind": "url", "url": up.URL + "/openapi.json"}, "slug": "pets"}); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	if code, body := g.api(t, "POST", "/api/connections", map[string]any{"owner": "org", "name": "main", "integration": "pets", "template": "none"}); code != 200 {
		t.Fatalf("connect: %d %s", code, body)
	}
}

func TestAPausedExecutionSurvivesAGatewayRestart(t *testing.T) {
	home, port := t.TempDir(), freePort(t)
	up, posts, gets := petStore(t)
	g := startGateway(t, home, port)
	g.addPetStore(t, up)
	code := `const before = await tools.pets.org.main.pets.listPets({});
const created = await tools.pets.org.main.pets.createPet({ body: { name: "Fido" } });
return { before: before.data[0].name, created: created.data.name, status: created.http.status };`
	out := sdkClient(t, g.base+"/mcp", execute(code))
	paused := structured(t, out[1])
	id, _ := paused["executionId"].(string)
	if paused["status"] != "waiting_for_interaction" || id == "" || posts.Load() != 0 || gets.Load() != 1 {
		t.Fatalf("pause: %v; posts %d gets %d", paused, posts.Load(), gets.Load())
	}

	g.stop(t)
	g = startGateway(t, home, port)

	// A new session (a new client process) of the same principal resumes.
	out = sdkClient(t, g.base+"/mcp", map[string]any{"tool": "resume", "arguments": map[string]any{"executionId": id, "action": "accept"}})
	s := structured(t, out[1])
	result, _ := s["result"].(map[string]any)
	if s["status"] != "completed" || result["created"] != "Fido" || result["before"] != "Rex" || result["status"] != 201.0 {
		t.Fatalf("resume after restart: %v", out[1])
	}
	if posts.Load() != 1 || gets.Load() != 1 {
		t.Fatalf("upstream saw %d writes and %d reads; want exactly 1 and 1 (nothing before the pause repeated)", posts.Load(), gets.Load())
	}
}

// An OpenAPI POST under the default policy pauses in each approval mode;
// accepting sends exactly one POST upstream, declining throws in the sandbox
// and sends nothing. The agent is the official TypeScript SDK.
func TestEveryApprovalModeWithTheTypeScriptSDK(t *testing.T) {
	up, posts, _ := petStore(t)
	g := startGateway(t, t.TempDir(), freePort(t))
	g.addPetStore(t, up)
	write := execute(`return (await tools.pets.org.main.pets.createPet({ body: { name: "Fido" } })).data.name`)
	const declined = `Tool "pets.org.main.pets.createPet" requires approval but the request was declined by the user.`
	resume := func(action string) map[string]any {
		args := map[string]any{"executionId": "$last"}
		if action != "" {
			args["action"] = action
		}
		return map[string]any{"tool": "resume", "arguments": args}
	}
	// browser approves or declines on the console's endpoint while the
	// agent's resume, from a second client, waits for the decision.
	browser := func(t *testing.T, action string) map[string]any {
		paused := structured(t, sdkClient(t, g.base+"/mcp?elicitation_mode=browser", write)[1])
		id, _ := paused["executionId"].(string)
		u, err := url.Parse(fmt.Sprint(paused["approvalUrl"]))
		if paused["status"] != "user_approval_required" || err != nil || u.Query().Get("mcp_session_id") == "" {
			t.Fatalf("browser-mode pause: %v", paused)
		}
		waiting := make(chan []map[string]any, 1)
		go func() {
			var out []map[string]any
			defer func() { waiting <- out }() // also when sdkClient fails the test
			out = sdkClient(t, g.base+"/mcp?elicitation_mode=browser", map[string]any{"tool": "resume", "arguments": map[string]any{"executionId": id}})
		}()
		time.Sleep(1500 * time.Millisecond) // node starts and the resume is waiting
		decided := time.Now()
		decision := fmt.Sprintf("/api/mcp-sessions/%s/executions/%s/resume", u.Query().Get("mcp_session_id"), id)
		if code, body := g.api(t, "POST", decision, map[string]any{"action": action, "content": map[string]any{}}); code != 200 {
			t.Fatalf("%s on the console: %d %s", action, code, body)
		}
		select {
		case out := <-waiting:
			t.Logf("the waiting resume answered %v after the decision", time.Since(decided).Round(time.Millisecond))
			if len(out) < 2 {
				t.FailNow()
			}
			return out[1]
		case <-time.After(60 * time.Second):
			t.Fatal("the agent's resume did not wake up on the decision")
			return nil
		}
	}
	// native answers the gateway's elicitation request in the client.
	native := func(t *testing.T, action string) map[string]any {
		out := sdkClient(t, g.base+"/mcp?elicitation_mode=native", map[string]any{"elicit": action}, write)
		if asked, _ := out[1]["elicited"].(string); !strings.HasPrefix(asked, "POST /pets") {
			t.Fatalf("the client was not asked, or not about POST /pets: %v", out)
		}
		return out[len(out)-1]
	}
	tests := []struct {
		mode, action string
		run          func(t *testing.T, action string) map[string]any
	}{
		{"model", "accept", func(t *testing.T, a string) map[string]any { return sdkClient(t, g.base+"/mcp", write, resume(a))[2] }},
		{"model", "decline", func(t *testing.T, a string) map[string]any { return sdkClient(t, g.base+"/mcp", write, resume(a))[2] }},
		{"browser", "accept", browser},
		{"browser", "decline", browser},
		{"native", "accept", native},
		{"native", "decline", native},
	}
	for _, tt := range tests {
		t.Run(tt.mode+" "+tt.action, func(t *testing.T) {
			before := posts.Load()
			res := tt.run(t, tt.action)
			text := fmt.Sprint(res["content"])
			switch tt.action {
			case "accept":
				if res["isError"] == true || !strings.Contains(text, "Fido") || posts.Load() != before+1 {
					t.Fatalf("accepted: %v; the upstream received %d writes, want 1", res, posts.Load()-before)
				}
			case "decline":
				if res["isError"] != true || !strings.Contains(text, declined) || posts.Load() != before {
					t.Fatalf("declined: %v; the upstream received %d writes, want 0", res, posts.Load()-before)
				}
			}
		})
	}
}

// A connection's direct endpoint, used by the official TypeScript SDK: the
// connection's tools are plain MCP tools, a read runs, a write asks the
// client (elicitation) and runs only once accepted.
func TestTheTypeScriptSDKOnADirectEndpoint(t *testing.T) {
	up, posts, gets := petStore(t)
	g := startGateway(t, t.TempDir(), freePort(t))
	g.addPetStore(t, up)
	write := map[string]any{"tool": "pets_createPet", "arguments": map[string]any{"body": map[string]any{"name": "Fido"}}}
	out := sdkClient(t, g.base+"/mcp/direct/pets/org/main",
		map[string]any{"list": true},
		map[string]any{"tool": "pets_listPets", "arguments": map[string]any{}},
		write,
		map[string]any{"elicit": "accept"},
		write,
	)
	// server, tools, listPets, elicited + declined, elicited + created.
	if len(out) != 7 {
		t.Fatalf("output: %v", out)
	}
	var names []string
	for _, tl := range out[1]["tools"].([]any) {
		names = append(names, tl.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "pets_createPet,pets_listPets" {
		t.Fatalf("tools: %v", names)
	}
	if s := structured(t, out[2]); s["ok"] != true || fmt.Sprint(s["data"]) != "[map[name:Rex]]" || out[2]["isError"] == true {
		t.Fatalf("listPets: %v", out[2])
	}
	if out[3]["elicited"] == nil || out[4]["isError"] != true || !strings.Contains(fmt.Sprint(out[4]["content"]), "declined by the user") {
		t.Fatalf("a declined write: %v %v", out[3], out[4])
	}
	if s := structured(t, out[6]); out[5]["elicited"] == nil || s["ok"] != true || s["http"].(map[string]any)["status"] != 201.0 {
		t.Fatalf("an accepted write: %v %v", out[5], out[6])
	}
	if posts.Load() != 1 || gets.Load() != 1 {
		t.Fatalf("the upstream saw %d writes and %d reads, want 1 and 1", posts.Load(), gets.Load())
	}
}
