package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestToolCallsReachTheBridge(t *testing.T) {
	var mu sync.Mutex
	var calls []Call
	bridge := BridgeFunc(func(ctx context.Context, c Call) (json.RawMessage, error) {
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		return json.RawMessage(`{"ok":true,"data":{"n":` + fmt.Sprint(c.Seq) + `}}`), nil
	})
	res := engine(t).Run(context.Background(), Request{
		Code: `const a = await tools.github.issues.list({ repo: "x", n: 1 });
const b = await tools.search();
return [a.data.n, b.data.n]`,
		Bridge: bridge,
	})
	wantValue(t, res, "[1,2]")
	want := []Call{
		{Seq: 1, Path: "github.issues.list", Args: json.RawMessage(`{"repo":"x","n":1}`)},
		{Seq: 2, Path: "search", Args: json.RawMessage(`null`)},
	}
	if len(calls) != len(want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i].Seq != want[i].Seq || calls[i].Path != want[i].Path || string(calls[i].Args) != string(want[i].Args) {
			t.Errorf("call %d = %+v, want %+v", i, calls[i], want[i])
		}
	}
}

func TestParallelToolCallsRunConcurrently(t *testing.T) {
	t0 := time.Now()
	res := engine(t).Run(context.Background(), Request{
		Code:   "const r = await Promise.all([tools.a(), tools.b(), tools.c()]); return r.map(x => x.path)",
		Bridge: echoBridge(100 * time.Millisecond),
	})
	wantValue(t, res, `["a","b","c"]`)
	if d := time.Since(t0); d >= 200*time.Millisecond {
		t.Fatalf("three parallel 100ms calls took %v", d)
	}
}

func TestToolErrorsRejectThePromise(t *testing.T) {
	bridge := BridgeFunc(func(ctx context.Context, c Call) (json.RawMessage, error) {
		switch c.Path {
		case "fails":
			return nil, errors.New(`Tool "fails" requires approval but the request was declined by the user.`)
		case "invalid":
			return json.RawMessage(`{nope`), nil
		case "empty":
			return nil, nil
		case "panics":
			panic("bridge bug with a secret path /etc/shadow")
		}
		return json.RawMessage(`1`), nil
	})
	e := engine(t)
	tests := []struct{ code, want string }{
		{"try { await tools.fails() } catch (e) { return [e instanceof Error, e.message] }", `[true,"Tool \"fails\" requires approval but the request was declined by the user."]`},
		{"try { await tools.invalid() } catch (e) { return e.message }", `"tools.invalid returned invalid JSON"`},
		{"return await tools.empty()", "null"},
		{"try { await tools.panics() } catch (e) { return e.message }", `"internal tool error"`},
		{"return await tools.ok()", "1"},
	}
	for _, tt := range tests {
		wantValue(t, e.Run(context.Background(), Request{Code: tt.code, Bridge: bridge}), tt.want)
	}
	res := e.Run(context.Background(), Request{Code: "await tools.fails()", Bridge: bridge})
	wantError(t, res, KindRuntime, `Error: Tool "fails" requires approval but the request was declined by the user.`)
}

func TestToolCallsWithoutABridgeFail(t *testing.T) {
	wantValue(t, runCode(t, "try { await tools.x() } catch (e) { return e.message }"), `"no tools are available to this execution"`)
}

func TestToolArgumentsMustBeJSON(t *testing.T) {
	tests := []struct{ code, want string }{
		{"const a = {}; a.a = a; try { tools.x(a) } catch (e) { return e.message }", "tools.x: the arguments are not JSON-serialisable"},
		{"try { tools.x({ get g() { throw new Error('getter') } }) } catch (e) { return e.message }", "getter"},
	}
	for _, tt := range tests {
		res := engine(t).Run(context.Background(), Request{Code: tt.code, Bridge: echoBridge(0)})
		if res.Status != StatusCompleted || !strings.Contains(string(res.Value), tt.want) {
			t.Errorf("%s → %s %s %s; want a message with %q", tt.code, res.Status, res.Value, res.Error, tt.want)
		}
	}
	// BigInts become strings, functions and undefined members are dropped.
	wantValue(t, engine(t).Run(context.Background(), Request{
		Code: "return (await tools.x({ n: 10n, f() {}, u: undefined })).args", Bridge: echoBridge(0),
	}), `{"n":"10"}`)
}

func TestToolCallLimit(t *testing.T) {
	res := engine(t).Run(context.Background(), Request{
		Code: `const out = [];
for (let i = 0; i < 6; i++) { try { await tools.x({ i }); out.push(i) } catch (e) { out.push(e.message) } }
return out`,
		Bridge: echoBridge(0),
		Limits: Limits{MaxToolCalls: 4},
	})
	wantValue(t, res, `[0,1,2,3,"tool call limit (4) exceeded","tool call limit (4) exceeded"]`)
}

func TestConcurrentCallsBeyondTheLimitAreQueued(t *testing.T) {
	var inFlight, peak atomic.Int32
	bridge := BridgeFunc(func(ctx context.Context, c Call) (json.RawMessage, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		return json.RawMessage(fmt.Sprint(c.Seq)), nil
	})
	res := engine(t).Run(context.Background(), Request{
		Code:   "const r = await Promise.all(Array.from({ length: 20 }, (_, i) => tools.x({ i }))); return r.length",
		Bridge: bridge,
		Limits: Limits{MaxConcurrentCalls: 3},
	})
	wantValue(t, res, "20")
	if p := peak.Load(); p > 3 {
		t.Fatalf("%d calls were in flight at once, limit 3", p)
	}
}

func TestResultsAreDeliveredInArrivalOrder(t *testing.T) {
	delays := map[string]time.Duration{"slow": 150 * time.Millisecond, "mid": 75 * time.Millisecond, "fast": 0}
	bridge := BridgeFunc(func(ctx context.Context, c Call) (json.RawMessage, error) {
		time.Sleep(delays[c.Path])
		return json.RawMessage(`"` + c.Path + `"`), nil
	})
	res := engine(t).Run(context.Background(), Request{
		Code: `const order = [];
await Promise.all(["slow", "mid", "fast"].map(p => tools[p]().then(v => order.push(v))));
return order`,
		Bridge: bridge,
	})
	wantValue(t, res, `["fast","mid","slow"]`)
	var delivered []int
	for _, ev := range res.Trace {
		if ev.Kind == EventResult {
			delivered = append(delivered, ev.Seq)
		}
	}
	if fmt.Sprint(delivered) != "[3 2 1]" {
		t.Fatalf("trace delivers %v, want [3 2 1]", delivered)
	}
}

func TestFireAndForgetCallsDoNotBlockTheResult(t *testing.T) {
	t0 := time.Now()
	res := engine(t).Run(context.Background(), Request{Code: "tools.slow(); return 1", Bridge: echoBridge(time.Hour)})
	wantValue(t, res, "1")
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("run waited %v for a call nobody awaited", d)
	}
}

func TestToolsProxyShape(t *testing.T) {
	tests := []struct{ name, code, want string }{
		{"awaiting the proxy is safe", "const t = await tools; return typeof t", `"function"`},
		{"then is undefined", "return [typeof tools.then, typeof tools.a.then]", `["undefined","undefined"]`},
		{"symbols are undefined", "return tools[Symbol.iterator] === undefined && tools.a[Symbol.toPrimitive] === undefined", "true"},
		{"an empty path throws", "try { tools() } catch (e) { return e.message }", `"Tool path missing in invocation"`},
		{"Object.keys throws", "try { Object.keys(tools) } catch (e) { return e.message }", "\"`tools` is a lazy proxy and cannot be enumerated. Use tools.search({ query }) to discover tools.\""},
		{"spread throws", "try { ({ ...tools.github }) } catch (e) { return e.message.startsWith('`tools` is a lazy proxy') }", "true"},
		{"for…in throws", "try { for (const k in tools) {} } catch (e) { return e.message.startsWith('`tools` is a lazy proxy') }", "true"},
		{"getOwnPropertyNames throws", "try { Object.getOwnPropertyNames(tools) } catch (e) { return e.message.startsWith('`tools` is a lazy proxy') }", "true"},
		{"assignment throws", "try { tools.x = 1 } catch (e) { return e.message }", "\"`tools` is read-only\""},
		{"delete throws", "try { delete tools.x } catch (e) { return e.message }", "\"`tools` is read-only\""},
		{"the global cannot be replaced", "try { globalThis.tools = {} } catch (e) { return e.name }", `"TypeError"`},
		{"defineProperty throws", "try { Object.defineProperty(tools, 'x', { value: 1 }) } catch (e) { return e.name }", `"TypeError"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantValue(t, engine(t).Run(context.Background(), Request{Code: tt.code, Bridge: echoBridge(0)}), tt.want)
		})
	}
}

func TestPrototypeTricksOnToolsStayInTheGuest(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	bridge := BridgeFunc(func(ctx context.Context, c Call) (json.RawMessage, error) {
		mu.Lock()
		paths = append(paths, c.Path)
		mu.Unlock()
		return json.RawMessage(`null`), nil
	})
	res := engine(t).Run(context.Background(), Request{
		Code:   "const f = tools.__proto__.constructor.constructor; return await f('return this')",
		Bridge: bridge,
	})
	wantValue(t, res, "null")
	if len(paths) != 1 || paths[0] != "__proto__.constructor.constructor" {
		t.Fatalf("bridge saw %q; the chain must be an ordinary (unknown) tool path", paths)
	}
}
