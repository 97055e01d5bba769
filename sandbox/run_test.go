package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRunReturnsValues(t *testing.T) {
	tests := []struct{ name, code, want string }{
		{"return 1+1 gives 2", "return 1+1", "2"},
		{"a bare expression is not returned", "1+1", "null"},
		{"no return gives null", "const x = 1", "null"},
		{"undefined gives null", "return undefined", "null"},
		{"a function gives null", "return () => 1", "null"},
		{"a symbol gives null", "return Symbol('x')", "null"},
		{"a BigInt becomes a string", "return {n: 12345678901234567890n}", `{"n":"12345678901234567890"}`},
		{"objects are JSON", "return {a: [1, 'x', null, true]}", `{"a":[1,"x",null,true]}`},
		{"top-level await works", "const v = await Promise.resolve(7); return v", "7"},
		{"TypeScript types are stripped", `
interface Item<T> { id: number; value: T }
type Pair = [string, number];
function first<T>(xs: T[]): T | undefined { return xs[0]; }
const items: Item<string>[] = [{ id: 1, value: "a" }];
const p = ["k", 2] as Pair;
const cfg = { retries: 3 } satisfies { retries: number };
const n = first<Item<string>>(items)!.id as number;
return [n, p[0], cfg.retries, (items[0] as Item<string>).value];`, `[1,"k",3,"a"]`},
		{"a TS class with modifiers works", `
class Counter { private n = 0; constructor(public readonly step: number) {} inc(): number { return this.n += this.step; } }
const c = new Counter(2); c.inc(); return c.inc();`, "4"},
		{"a fenced block is run", "Sure:\n```typescript\nconst x: number = 20;\nreturn x + 1\n```", "21"},
		{"export default of an expression is the result", "export default 6*7", "42"},
		{"export default of a function is invoked", "export default async function () { return 'ok' }", `"ok"`},
		{"an arrow function is invoked", "async () => { const a = await Promise.resolve(2); return a * 3 }", "6"},
		{"a named function declaration is invoked", "async function main() { return 'main' }", `"main"`},
		{"a class instance is JSON", "class P { constructor() { this.x = 1 } }; return new P()", `{"x":1}`},
		{"toJSON is honoured", "return { toJSON() { return 'j' } }", `"j"`},
		{"Date is usable", "const d = new Date(0); return [d.toISOString(), typeof Date.now(), new Date() instanceof Date]", `["1970-01-01T00:00:00.000Z","number",true]`},
		{"Date.UTC and Date.parse still work", "return [Date.UTC(2020, 0, 1), Date.parse('2020-01-01T00:00:00Z')]", "[1577836800000,1577836800000]"},
		{"Math.random is in [0,1)", "const xs = Array.from({length: 1000}, Math.random); return xs.every(x => x >= 0 && x < 1) && new Set(xs).size > 990", "true"},
		{"strict mode is on", "try { undeclared = 1; return 'sloppy' } catch (e) { return e.name }", `"ReferenceError"`},
		{"performance.now is relative", "const a = performance.now(); return a === 0 && performance.now() >= a", "true"},
		// security.md H13: timing probes get whole milliseconds, no finer.
		{"the clocks are coarsened to whole milliseconds", `const xs = [];
for (let i = 0; i < 2000; i++) xs.push(Date.now(), performance.now(), new Date().getTime());
return xs.every(Number.isInteger)`, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantValue(t, runCode(t, tt.code), tt.want)
		})
	}
}

func TestRunReportsErrors(t *testing.T) {
	tests := []struct {
		name, code string
		kind       ErrorKind
		want       string
	}{
		{"a thrown Error keeps QuickJS's format", "throw new Error('boom')", KindRuntime, "Error: boom\n    at __main (code.ts:1:11)"},
		{"positions point into the agent's TypeScript", "const a: number = 1;\n\n// comment\nfunction f(x: string): void {\n  (null as any).foo;\n}\nf('a')", KindRuntime, "at f (code.ts:5:"},
		{"a thrown string reads as an Error", "throw 'nope'", KindRuntime, "Error: nope"},
		{"a thrown object is JSON", "throw {code: 42}", KindRuntime, `Error: {"code":42}`},
		{"a rejected await fails the run", "await Promise.reject(new TypeError('bad'))", KindRuntime, "TypeError: bad"},
		{"a syntax error has the agent's line and column", "const a = 1\nconst b = a +* 2", KindSyntax, "SyntaxError: Unexpected \"*\" (2:13)"},
		{"a cyclic result is not serialisable", "const a = {}; a.a = a; return a", KindRuntime, "result is not serialisable: TypeError: circular reference"},
		{"a throwing toJSON in the result is reported", "return { toJSON() { throw new Error('no json') } }", KindRuntime, "result is not serialisable: Error: no json"},
		{"an undefined variable is a ReferenceError", "return missing", KindRuntime, "ReferenceError: missing is not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCode(t, tt.code)
			wantError(t, res, tt.kind, tt.want)
			if strings.Contains(res.Error, "prelude.js") || strings.Contains(res.Error, "<eval>") {
				t.Errorf("error shows the sandbox's own frames: %q", res.Error)
			}
		})
	}
}

func TestConsoleIsCaptured(t *testing.T) {
	res := runCode(t, `
console.log("a", 1, {b: 2}, [3], null, undefined);
console.info("i");
console.warn("w");
console.error(new Error("e"));
console.debug("d", true);
const bad = { toJSON() { throw new Error("x") } };
const getter = { get g() { throw new Error("y") } };
console.log(bad, getter, Symbol("s"), 10n);
return "done"`)
	wantValue(t, res, `"done"`)
	want := []string{
		`[log] a 1 {"b":2} [3] null undefined`,
		"[info] i",
		"[warn] w",
		"[error] Error: e",
		"[debug] d true",
		`[log] [object Object] [object Object] Symbol(s) "10"`,
	}
	if strings.Join(res.Logs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logs:\n%s\nwant:\n%s", strings.Join(res.Logs, "\n"), strings.Join(want, "\n"))
	}
}

func TestLogsAreKeptWhenTheRunFails(t *testing.T) {
	res := runCode(t, "console.log('before'); throw new Error('after')")
	wantError(t, res, KindRuntime, "Error: after")
	if len(res.Logs) != 1 || res.Logs[0] != "[log] before" {
		t.Fatalf("logs = %q", res.Logs)
	}
}

func TestLogsAreCapped(t *testing.T) {
	e := engine(t)
	res := e.Run(context.Background(), Request{
		Code:   "for (let i = 0; i < 1000; i++) console.log('x'.repeat(100)); return 1",
		Limits: Limits{MaxLogBytes: 1000},
	})
	wantValue(t, res, "1")
	total := 0
	for _, l := range res.Logs[:len(res.Logs)-1] {
		total += len(l)
	}
	if total > 1000 {
		t.Errorf("kept %d log bytes, limit 1000", total)
	}
	last := res.Logs[len(res.Logs)-1]
	if !strings.HasPrefix(last, "[truncated ") || !strings.HasSuffix(last, " log bytes]") {
		t.Errorf("last line %q, want [truncated N log bytes]", last)
	}
	var n int
	fmt.Sscanf(last, "[truncated %d log bytes]", &n)
	if n+total != 1000*len("[log] "+strings.Repeat("x", 100)) {
		t.Errorf("truncated %d + kept %d bytes ≠ all the log", n, total)
	}
}

func TestResultIsCapped(t *testing.T) {
	e := engine(t)
	res := e.Run(context.Background(), Request{Code: "return 'x'.repeat(2000)", Limits: Limits{MaxResultBytes: 1000}})
	wantError(t, res, KindLimit, "the result is at least 2002 bytes of JSON, more than the limit of 1000")
	res = e.Run(context.Background(), Request{Code: "return 'é'.repeat(600)", Limits: Limits{MaxResultBytes: 1000}})
	wantError(t, res, KindLimit, "the result is 1202 bytes of JSON")
	res = e.Run(context.Background(), Request{Code: "return 'x'.repeat(900)", Limits: Limits{MaxResultBytes: 1000}})
	if res.Status != StatusCompleted {
		t.Fatalf("result under the cap failed: %s", res.Error)
	}
	res = e.Run(context.Background(), Request{Code: "return 'x'.repeat(3e6)"})
	if res.Status != StatusCompleted || len(res.Value) != 3e6+2 {
		t.Fatalf("a 3 MB result under the default cap: %s %s", res.Status, res.Error)
	}
	res = e.Run(context.Background(), Request{Code: "return 'x'.repeat(6e6)"})
	wantError(t, res, KindLimit, "more than the limit of 4194304")
}

func TestCodeSizeIsCapped(t *testing.T) {
	res := engine(t).Run(context.Background(), Request{Code: "return 1 //" + strings.Repeat("x", 3<<20)})
	wantError(t, res, KindLimit, "the code is 3145739 bytes, more than the limit of 2097152")
}

func TestEmit(t *testing.T) {
	e := engine(t)
	res := e.Run(context.Background(), Request{Code: "emit('text'); emit({type: 'text', text: 'hi'}); emit(undefined); return 1"})
	wantValue(t, res, "1")
	var got []string
	for _, v := range res.Emitted {
		got = append(got, string(v))
	}
	if want := `"text"|{"type":"text","text":"hi"}|null`; strings.Join(got, "|") != want {
		t.Fatalf("emitted %s, want %s", strings.Join(got, "|"), want)
	}

	res = e.Run(context.Background(), Request{Code: "for (let i = 0; i < 10; i++) emit('x'.repeat(300))", Limits: Limits{MaxResultBytes: 1000}})
	wantError(t, res, KindRuntime, "emit: output limit (1000 bytes) exceeded")
	if len(res.Emitted) != 3 {
		t.Fatalf("emitted %d values before the limit, want 3", len(res.Emitted))
	}

	res = e.Run(context.Background(), Request{Code: "const a = []; a.push(a); emit(a)"})
	wantError(t, res, KindRuntime, "emit: the value is not JSON-serialisable")
}

func TestGlobalsDoNotLeakBetweenRuns(t *testing.T) {
	e := engine(t)
	res := e.Run(context.Background(), Request{Code: `
globalThis.secret = "s3cr3t";
var leaked = 1;
Array.prototype.evil = () => "evil";
JSON.parse = () => "hijacked";
Object.prototype.polluted = true;
return 1`})
	wantValue(t, res, "1")
	for range 3 { // whichever prebuilt runtime comes next
		res = e.Run(context.Background(), Request{Code: `return [typeof secret, typeof leaked, typeof [].evil, JSON.parse("1"), ({}).polluted === undefined]`})
		wantValue(t, res, `["undefined","undefined","undefined",1,true]`)
	}
}

func TestScriptsCannotBreakTheMachinery(t *testing.T) {
	res := runCode(t, `
JSON.stringify = () => { throw new Error("hijacked stringify") };
JSON.parse = () => { throw new Error("hijacked parse") };
Promise.prototype.then = function () { throw new Error("hijacked then") };
Map.prototype.get = () => undefined;
Object.defineProperty(Object.prototype, "ok", { get() { throw new Error("getter") } });
try { globalThis.__sbx_deliver = null } catch (e) {}
try { globalThis.__sbx_main = null } catch (e) {}
return {x: 1}`)
	wantValue(t, res, `{"x":1}`)
}

func TestResultDurationExcludesWaits(t *testing.T) {
	e := engine(t)
	res := e.Run(context.Background(), Request{Code: "return await tools.slow()", Bridge: echoBridge(300 * time.Millisecond)})
	if res.Status != StatusCompleted {
		t.Fatalf("%s: %s", res.Status, res.Error)
	}
	if res.Duration > 150*time.Millisecond {
		t.Fatalf("Duration %v includes the 300ms tool call", res.Duration)
	}
}

func TestRunAfterCloseFailsCleanly(t *testing.T) {
	e := newEngine(t, Options{Prebuilt: 1})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	res := e.Run(context.Background(), Request{Code: "return 1"})
	wantError(t, res, KindInternal, "shut down")
}

func TestBridgeFuncAndSuspendError(t *testing.T) {
	var b Bridge = BridgeFunc(func(ctx context.Context, c Call) (json.RawMessage, error) {
		return json.RawMessage(`1`), nil
	})
	if v, err := b.Call(context.Background(), Call{}); err != nil || string(v) != "1" {
		t.Fatalf("BridgeFunc.Call = %s, %v", v, err)
	}
	if got := (&Suspend{Reason: "approval"}).Error(); got != "execution suspended: approval" {
		t.Fatalf("Suspend.Error() = %q", got)
	}
}
