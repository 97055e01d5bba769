package mcpproxy

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpexecutor/executor/sandbox"
)

func TestInitializeOnEverySupportedProtocolVersion(t *testing.T) {
	tg := newTestGateway(t, Config{})
	for _, v := range []string{"2025-03-26", "2025-06-18", "2025-11-25"} {
		t.Run(v, func(t *testing.T) {
			c := tg.client(t, "alice")
			c.protocol = v
			c.initialize()
			if c.session == "" {
				t.Fatal("no Mcp-Session-Id")
			}
			res := c.call("tools/list", map[string]any{})
			if res.status != 200 || !strings.Contains(string(res.Result), `"execute"`) {
				t.Fatalf("tools/list: %d %s", res.status, res.raw)
			}
		})
	}
	t.Run("2026-07-28", func(t *testing.T) {
		c := tg.client(t, "alice")
		c.headers["Mcp-Protocol-Version"] = "2026-07-28"
		c.headers["Mcp-Method"] = "tools/list"
		res := c.post(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`)
		if res.status != 200 || !strings.Contains(string(res.Result), `"execute"`) {
			t.Fatalf("modern tools/list: %d %s", res.status, res.raw)
		}
		if res.header.Get("Mcp-Session-Id") != "" {
			t.Fatal("a 2026-07-28 request got a session id")
		}
	})
	// security.md D23: Mcp-Method and Mcp-Name headers that contradict the
	// body are refused (mcp-go checks them), so no layer can act on one and
	// run the other.
	for _, lie := range []map[string]string{
		{"Mcp-Method": "tools/list", "Mcp-Name": "execute"},
		{"Mcp-Method": "tools/call", "Mcp-Name": "skills"},
	} {
		t.Run("2026-07-28 headers that contradict the body: "+fmt.Sprint(lie), func(t *testing.T) {
			c := tg.client(t, "alice")
			c.headers["Mcp-Protocol-Version"] = "2026-07-28"
			maps.Copy(c.headers, lie)
			res := c.post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute","arguments":{"code":"return 40+2"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`)
			if res.status != 400 || !strings.Contains(res.raw, "header mismatch") || strings.Contains(res.raw, `"result"`) {
				t.Fatalf("a tools/call of execute under lying headers: %d %s", res.status, res.raw)
			}
		})
	}
}

func TestToolsListMatchesTheReferenceSchemas(t *testing.T) {
	tg := newTestGateway(t, Config{})
	c := tg.client(t, "alice")
	c.initialize()
	var list struct {
		Tools []struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"inputSchema"`
			Execution   map[string]any  `json:"execution"`
		} `json:"tools"`
	}
	res := c.call("tools/list", map[string]any{})
	if err := json.Unmarshal(res.Result, &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
		if tl.Execution["taskSupport"] != "forbidden" {
			t.Errorf("%s: execution = %v", tl.Name, tl.Execution)
		}
	}
	if strings.Join(names, ",") != "execute,skills,resume" {
		t.Fatalf("tools = %v, want execute, skills, resume", names)
	}
	var exec struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
	}
	_ = json.Unmarshal(list.Tools[0].InputSchema, &exec)
	if exec.Properties["code"]["type"] != "string" || exec.Properties["code"]["minLength"] != 1.0 || fmt.Sprint(exec.Required) != "[code]" {
		t.Fatalf("execute schema: %s", list.Tools[0].InputSchema)
	}
	var resume struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
	}
	_ = json.Unmarshal(list.Tools[2].InputSchema, &resume)
	if fmt.Sprint(resume.Properties["action"]["enum"]) != "[accept decline cancel]" || resume.Properties["content"]["default"] != "{}" ||
		fmt.Sprint(resume.Required) != "[executionId action]" {
		t.Fatalf("resume schema: %s", list.Tools[2].InputSchema)
	}
}

func TestResumeFollowsTheElicitationMode(t *testing.T) {
	tg := newTestGateway(t, Config{})
	for mode, want := range map[string]string{"browser": `"required":["executionId"]`, "native": "", "model": `"action"`} {
		c := tg.client(t, "alice")
		c.url += "?elicitation_mode=" + mode
		c.initialize()
		res := c.call("tools/list", map[string]any{})
		hasResume := strings.Contains(string(res.Result), `"name":"resume"`)
		if want == "" && hasResume {
			t.Errorf("%s mode lists resume", mode)
		}
		if want != "" && (!hasResume || !strings.Contains(string(res.Result), want)) {
			t.Errorf("%s mode: %s", mode, res.Result)
		}
	}
}

func TestTransportHygiene(t *testing.T) {
	tg := newTestGateway(t, Config{})
	alice := tg.client(t, "alice")
	alice.initialize()

	cases := []struct {
		name    string
		mutate  func(c *mcpClient)
		body    string
		status  int
		contain string
	}{
		{"an unsupported protocol version is 400", func(c *mcpClient) { c.protocol = "2099-01-01" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 400, "Unsupported protocol version"},
		{"a malformed protocol version is 400 before initialize", func(c *mcpClient) { c.session = ""; c.headers["Mcp-Protocol-Version"] = "invalid" }, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, 400, "Unsupported protocol version"},
		{"a foreign Origin is 403", func(c *mcpClient) { c.headers["Origin"] = "https://evil.example" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 403, "Origin"},
		{"Origin null is 403", func(c *mcpClient) { c.headers["Origin"] = "null" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 403, "Origin"},
		{"a batch is rejected", nil, `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`, 400, "batch"},
		{"duplicate case-variant keys are rejected", nil, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"skills","Name":"execute","arguments":{}}}`, 400, "duplicate key"},
		{"malformed JSON is a parse error", nil, `{"jsonrpc":"2.0",`, 400, "-32700"},
		{"jsonrpc must be 2.0", nil, `{"jsonrpc":"1.0","id":1,"method":"tools/list"}`, 400, "-32600"},
		{"another principal's session is 403 -32003", func(c *mcpClient) { c.principal = "mallory" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 403, "-32003"},
		{"an unknown session is 404 -32001", func(c *mcpClient) { c.session = "no-such-session" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 404, "-32001"},
		{"a session id with control characters is 400", func(c *mcpClient) { c.session = "abc def" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 400, "Mcp-Session-Id"},
		{"a missing session is 400", func(c *mcpClient) { c.session = ""; c.headers["Mcp-Protocol-Version"] = "2025-06-18" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 400, "Mcp-Session-Id"},
		{"trailing bytes after the message are a parse error", nil, `{"jsonrpc":"2.0","id":1,"method":"tools/list"} {}`, 400, "-32700"},
		{"a byte-order mark is a parse error", nil, "\ufeff" + `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 400, "-32700"},
		{"a missing jsonrpc member is invalid", nil, `{"id":1,"method":"tools/list"}`, 400, "-32600"},
		{"a method that is not a string is invalid", nil, `{"jsonrpc":"2.0","id":1,"method":7}`, 400, "-32600"},
		{"a message that is not an object is invalid", nil, `"tools/list"`, 400, "-32600"},
		{"a compressed body is refused, never decompressed", func(c *mcpClient) { c.headers["Content-Encoding"] = "gzip" }, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 415, "Content-Encoding"},
		{"resources/read is not offered", nil, `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}`, 200, "-32601"},
		{"prompts/get is not offered", nil, `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"x"}}`, 200, "-32601"},
		// security.md D5–D7, D10, D12, D13, D21.
		{"invalid UTF-8 is a parse error", nil, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"x\":\"\xff\xfe\"}", 400, "-32700"},
		{"a lone surrogate is a parse error", nil, `{"jsonrpc":"2.0","id":1,"method":"tools/list","x":"\ud800"}`, 400, "-32700"},
		{"nesting 100,000 deep is refused", nil, `{"jsonrpc":"2.0","id":1,"method":"tools/list","x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`, 400, "-32700"},
		{"an object id is invalid", nil, `{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}`, 400, "-32600"},
		{"an id of 1e999 is invalid", nil, `{"jsonrpc":"2.0","id":1e999,"method":"tools/list"}`, 400, "-32600"},
		{"an id past 2^53, which a float64 rounds, is invalid", nil, `{"jsonrpc":"2.0","id":9223372036854775807,"method":"tools/list"}`, 400, "-32600"},
		{"an id of -0 is invalid", nil, `{"jsonrpc":"2.0","id":-0,"method":"tools/list"}`, 400, "-32600"},
		{"an id of 2^53 is echoed as sent", nil, `{"jsonrpc":"2.0","id":9007199254740992,"method":"tools/list"}`, 200, `"id":9007199254740992`},
		{"a string id is echoed as sent", nil, `{"jsonrpc":"2.0","id":"a\u00e9b","method":"tools/list"}`, 200, `"id":"aéb"`},
		{"a notification is 202 with no body", nil, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 202, ""},
		{"an Accept without JSON or SSE is refused", func(c *mcpClient) { c.headers["Accept"] = "text/html" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 406, ""},
		{"a text/plain body is 415", func(c *mcpClient) { c.headers["Content-Type"] = "text/plain" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 415, "Content-Type"},
		{"a form body is 415", func(c *mcpClient) { c.headers["Content-Type"] = "application/x-www-form-urlencoded" }, `a=1`, 415, "Content-Type"},
		{"a non-ASCII session id is 400", func(c *mcpClient) { c.session = "séance" }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 400, "Mcp-Session-Id"},
		{"a session id over 256 bytes is 400", func(c *mcpClient) { c.session = strings.Repeat("a", 257) }, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 400, "Mcp-Session-Id"},
		// security.md E11: the tool is params.name; a name elsewhere runs nothing.
		{"a tool named in _meta or a stray key runs the named one", nil, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"skills","tool":"execute","_meta":{"name":"execute"},"arguments":{"code":"return 'SMUGGLED'"}}}`, 200, "Available skills"},
		// security.md D11: a response to nothing the server asked is not acted on.
		{"a response matching no request is refused", nil, `{"jsonrpc":"2.0","id":"never-asked","result":{"action":"accept"}}`, 400, "Invalid request ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *alice
			c.t = t
			c.headers = map[string]string{}
			if tc.mutate != nil {
				tc.mutate(&c)
			}
			res := c.post(tc.body)
			if res.status != tc.status || !strings.Contains(res.raw, tc.contain) {
				t.Fatalf("got %d %s; want %d containing %q", res.status, res.raw, tc.status, tc.contain)
			}
		})
	}

	t.Run("a 5 MiB body is 413", func(t *testing.T) {
		c := *alice
		c.t = t
		res := c.post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute","arguments":{"code":"` + strings.Repeat("x", 5<<20) + `"}}}`)
		if res.status != 413 {
			t.Fatalf("got %d", res.status)
		}
	})
	t.Run("GET without a session is 400", func(t *testing.T) {
		res := getMCP(t, tg, "", "alice")
		if res != 400 {
			t.Fatalf("got %d", res)
		}
	})
	t.Run("DELETE ends a session", func(t *testing.T) {
		c := tg.client(t, "alice")
		c.initialize()
		if code := deleteMCP(t, tg, c.session, "mallory"); code != 403 {
			t.Fatalf("another principal's DELETE: %d", code)
		}
		if code := deleteMCP(t, tg, c.session, "alice"); code != 200 {
			t.Fatalf("DELETE: %d", code)
		}
		if res := c.call("tools/list", map[string]any{}); res.status != 404 {
			t.Fatalf("after DELETE: %d %s", res.status, res.raw)
		}
	})
}

func TestExecuteReturnsTheReferenceShapes(t *testing.T) {
	tg := newTestGateway(t, Config{})
	c := tg.client(t, "alice")
	c.initialize()
	tests := []struct {
		name       string
		code       string
		text       string
		structured string
	}{
		{"return 1+1", "return 1+1", "2", `{"status":"completed","result":2,"logs":[]}`},
		{"a bare expression is no result", "1+1", "(no result)", `{"status":"completed","result":null,"logs":[]}`},
		{"TypeScript interfaces and generics", "interface P { n: number }\nfunction id<T>(x: T): T { return x }\nconst p: P = { n: 41 }\nreturn id<number>(p.n + 1)", "42", `{"status":"completed","result":42,"logs":[]}`},
		{"fenced code", "```ts\nreturn 'fenced'\n```", "fenced", `{"status":"completed","result":"fenced","logs":[]}`},
		{"export default", "export default 6*7", "42", `{"status":"completed","result":42,"logs":[]}`},
		{"an arrow function is invoked", "async () => 'arrow'", "arrow", `{"status":"completed","result":"arrow","logs":[]}`},
		{"console output is captured", "console.log('a', 1, {b:2}); console.warn('w'); console.error('e'); console.info('i'); return 'ok'",
			"ok\n\nLogs:\n[log] a 1 {\"b\":2}\n[warn] w\n[error] e\n[info] i", `{"status":"completed","result":"ok","logs":["[log] a 1 {\"b\":2}","[warn] w","[error] e","[info] i"]}`},
		{"objects are pretty-printed in key order", "return {z: 1, a: [1, 'x']}", "{\n  \"z\": 1,\n  \"a\": [\n    1,\n    \"x\"\n  ]\n}", `{"status":"completed","result":{"z":1,"a":[1,"x"]},"logs":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.execute(tc.code)
			if r.IsError || r.text() != tc.text || string(r.StructuredContent) != tc.structured {
				t.Fatalf("got isError=%v text=%q structured=%s\nwant text=%q structured=%s", r.IsError, r.text(), r.StructuredContent, tc.text, tc.structured)
			}
		})
	}

	t.Run("a thrown error is an error result", func(t *testing.T) {
		r := c.execute("console.log('before'); throw new Error('boom')")
		s := r.structured(t)
		if !r.IsError || !strings.HasPrefix(r.text(), "Error: Error: boom") || !strings.Contains(r.text(), "Logs:\n[log] before") || s["status"] != "error" {
			t.Fatalf("got %v %q %s", r.IsError, r.text(), r.StructuredContent)
		}
	})
	t.Run("a syntax error says where", func(t *testing.T) {
		r := c.execute("const x = ;")
		if !r.IsError || !strings.Contains(r.text(), "1:") {
			t.Fatalf("got %q", r.text())
		}
	})
	t.Run("text is cut at 30,000 characters", func(t *testing.T) {
		r := c.execute("return 'x'.repeat(31000)")
		if got := len([]rune(r.text())); got != 30027 || !strings.HasSuffix(r.text(), "\n... [truncated 1000 chars]") {
			t.Fatalf("text length %d, suffix %q", got, r.text()[len(r.text())-30:])
		}
		var s struct{ Result string }
		_ = json.Unmarshal(r.StructuredContent, &s)
		if len(s.Result) != 31000 {
			t.Fatalf("structuredContent was truncated: %d", len(s.Result))
		}
	})
	t.Run("whitespace-only code is refused", func(t *testing.T) {
		r := c.execute("   ")
		if !r.IsError {
			t.Fatal("accepted")
		}
	})
}

func TestSandboxEscapesFailCleanlyAndTheServerStaysHealthy(t *testing.T) {
	tg := newTestGateway(t, Config{Limits: sandbox.Limits{Timeout: 2 * time.Second}})
	c := tg.client(t, "alice")
	c.initialize()
	for _, code := range []string{
		"let a = []; while (true) a.push('x'.repeat(1<<20))",
		"const f = () => f(); return f()",
		"return std.loadFile('/etc/passwd')",
		"return os.readdir('/')",
		"const m = await import('qjs:std'); return m.loadFile('/etc/passwd')",
		"return await fetch('http://127.0.0.1/')",
		"setTimeout(() => {}, 1); return 1",
		"return Object.keys(tools)",
		"return process.env",
	} {
		r := c.execute(code)
		if !r.IsError {
			t.Fatalf("%s: succeeded with %q", code, r.text())
		}
		if strings.Contains(r.text(), "goroutine") || strings.Contains(r.text(), ".go:") || strings.Contains(r.text(), "root:") {
			t.Fatalf("%s: leaked internals: %q", code, r.text())
		}
		if ok := c.execute("return 1+1"); ok.text() != "2" {
			t.Fatalf("after %s the next execution failed: %q", code, ok.text())
		}
	}
}

func TestAnInfiniteLoopDoesNotBlockOtherSessions(t *testing.T) {
	tg := newTestGateway(t, Config{Limits: sandbox.Limits{Timeout: time.Second}})
	looper := tg.client(t, "alice")
	looper.initialize()
	done := make(chan toolResult, 1)
	go func() { done <- looper.execute("while(true){}") }()
	time.Sleep(50 * time.Millisecond)

	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := tg.client(t, fmt.Sprintf("user-%d", i))
			c.initialize()
			start := time.Now()
			r := c.execute("return 1")
			if d := time.Since(start); r.text() != "1" || d >= time.Second {
				errs <- fmt.Sprintf("execution %d: %q in %v", i, r.text(), d)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	r := <-done
	if !r.IsError || !strings.Contains(r.text(), "timed out after 1000ms") {
		t.Fatalf("the loop: %q", r.text())
	}
}

func TestGlobalsDoNotLeakBetweenExecutions(t *testing.T) {
	tg := newTestGateway(t, Config{})
	c := tg.client(t, "alice")
	c.initialize()
	c.execute("globalThis.secret = 's3cret'; Array.prototype.evil = 1; return 1")
	r := c.execute("return [typeof globalThis.secret, typeof [].evil]")
	if r.text() != "[\n  \"undefined\",\n  \"undefined\"\n]" {
		t.Fatalf("state leaked: %q", r.text())
	}
}

func TestToolCallsFromCode(t *testing.T) {
	tg := newTestGateway(t, Config{Limits: sandbox.Limits{Timeout: time.Second}})
	tg.connect(t, "pets", OwnerOrg, "", "main",
		tool("pets.getPet", "Get a pet by id", `"petId":{"type":"string"},"verbose":{"type":"boolean"}`, "petId"),
		tool("pets.sleep", "Wait", `"ms":{"type":"number"}`),
		tool("pets.fail", "Always 404", ``),
		tool("pets.defect", "Breaks", ``),
	)
	c := tg.client(t, "alice")
	c.initialize()

	t.Run("a call returns the union with http", func(t *testing.T) {
		r := c.execute(`return await tools.pets.org.main.pets.getPet({ petId: "7" })`)
		want := `{"status":"completed","result":{"ok":true,"data":{"petId":"7"},"http":{"status":200,"headers":{"x-test":"1"}}},"logs":[]}`
		if string(r.StructuredContent) != want {
			t.Fatalf("got %s", r.StructuredContent)
		}
	})
	t.Run("bad arguments are invalid_tool_arguments and never reach the upstream", func(t *testing.T) {
		before := tg.kind.perTool["pets.getPet"].Load()
		r := c.execute(`return await tools.pets.org.main.pets.getPet({ petId: 7 })`)
		if !strings.Contains(r.text(), `"code": "invalid_tool_arguments"`) || !strings.Contains(r.text(), `"issues"`) {
			t.Fatalf("got %q", r.text())
		}
		if tg.kind.perTool["pets.getPet"].Load() != before {
			t.Fatal("the upstream was called")
		}
	})
	t.Run("an upstream error is a value", func(t *testing.T) {
		r := c.execute(`const r = await tools.pets.org.main.pets.fail({}); return r.error`)
		if !strings.Contains(r.text(), `"code": "upstream_http_error"`) || !strings.Contains(r.text(), `"status": 404`) {
			t.Fatalf("got %q", r.text())
		}
	})
	t.Run("a defect is an opaque correlation id", func(t *testing.T) {
		r := c.execute(`try { await tools.pets.org.main.pets.defect({}) } catch (e) { return e.message }`)
		if !strings.HasPrefix(r.text(), "Internal tool error [") || strings.Contains(r.text(), "10.0.0.1") {
			t.Fatalf("got %q", r.text())
		}
	})
	t.Run("an unknown tool is tool_not_found with suggestions", func(t *testing.T) {
		r := c.execute(`return await tools.pets.org.main.pets.getPett({})`)
		if !strings.Contains(r.text(), `"code": "tool_not_found"`) || !strings.Contains(r.text(), "pets.org.main.pets.getPet") {
			t.Fatalf("got %q", r.text())
		}
	})
	t.Run("a 2 s tool call does not count against a 1 s budget", func(t *testing.T) {
		r := c.execute(`return await tools.pets.org.main.pets.sleep({ ms: 2000 })`)
		if r.IsError {
			t.Fatalf("got %q", r.text())
		}
	})
	t.Run("three parallel 100 ms calls take about 100 ms", func(t *testing.T) {
		start := time.Now()
		r := c.execute(`const s = () => tools.pets.org.main.pets.sleep({ ms: 100 }); return (await Promise.all([s(), s(), s()])).map(x => x.ok)`)
		if d := time.Since(start); r.IsError || d >= 200*time.Millisecond {
			t.Fatalf("got %q in %v", r.text(), d)
		}
	})
	t.Run("another principal's user connection is not visible", func(t *testing.T) {
		tg.connect(t, "notes", OwnerUser, "bob", "mine", tool("notes.list", "List notes", ``))
		r := c.execute(`return await tools.notes.user.mine.notes.list({})`)
		if !strings.Contains(r.text(), "tool_not_found") {
			t.Fatalf("alice reached bob's connection: %q", r.text())
		}
		bob := tg.client(t, "bob")
		bob.initialize()
		if r := bob.execute(`return (await tools.notes.user.mine.notes.list({})).ok`); r.text() != "true" {
			t.Fatalf("bob: %q", r.text())
		}
	})
	t.Run("the execute description lists connected integrations", func(t *testing.T) {
		res := c.call("tools/list", map[string]any{})
		if !strings.Contains(string(res.Result), `## Available integrations`) || !strings.Contains(string(res.Result), `- pets`) {
			t.Fatalf("got %s", res.Result)
		}
	})
}

func TestSkills(t *testing.T) {
	tg := newTestGateway(t, Config{})
	c := tg.client(t, "alice")
	c.initialize()
	get := func(args map[string]any) toolResult {
		res := c.call("tools/call", map[string]any{"name": "skills", "arguments": args})
		var tr toolResult
		_ = json.Unmarshal(res.Result, &tr)
		return tr
	}
	if r := get(map[string]any{}); r.IsError || !strings.Contains(r.text(), "execute —") {
		t.Fatalf("index: %q", r.text())
	}
	if r := get(map[string]any{"name": "execute"}); r.IsError || !strings.Contains(r.text(), "tools.search") || r.StructuredContent != nil {
		t.Fatalf("execute skill: %q %s", r.text(), r.StructuredContent)
	}
	if r := get(map[string]any{"name": "nope"}); !r.IsError || !strings.HasPrefix(r.text(), `No skill named "nope".`) {
		t.Fatalf("unknown: %q", r.text())
	}
}

// security.md L5: initialize in a loop holds at most maxSessionsPerPrincipal
// sessions; the least recently used are ended, another principal's are not.
func TestSessionsPerPrincipalAreCapped(t *testing.T) {
	tg := newTestGateway(t, Config{})
	bob := tg.client(t, "bob")
	bob.initialize()
	var alice []*mcpClient
	for range maxSessionsPerPrincipal + 6 {
		c := tg.client(t, "alice")
		c.initialize()
		alice = append(alice, c)
	}
	list := `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`
	for i, c := range alice {
		res := c.post(list)
		if ended := i < 6; ended && res.status != 404 || !ended && res.status != 200 {
			t.Fatalf("alice's session %d of %d: %d %s", i+1, len(alice), res.status, res.raw)
		}
	}
	if res := bob.post(list); res.status != 200 {
		t.Fatalf("bob's session: %d %s", res.status, res.raw)
	}
}
