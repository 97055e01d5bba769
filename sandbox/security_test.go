package sandbox

import (
	"context"
	"strings"
	"testing"
)

func TestTheSandboxHasNoWayOut(t *testing.T) {
	tests := []struct{ name, code, want string }{
		{"std is gone", "return typeof std", `"undefined"`},
		{"os is gone", "return typeof os", `"undefined"`},
		{"bjson is gone", "return typeof bjson", `"undefined"`},
		{"std.loadFile fails", "try { return std.loadFile('/etc/passwd') } catch (e) { return e.name }", `"ReferenceError"`},
		{"os.readdir fails", "try { return os.readdir('/') } catch (e) { return e.name }", `"ReferenceError"`},
		{"import of qjs:std fails", "try { await import('qjs:std'); return 'imported' } catch (e) { return e.message }", `"could not load module filename 'qjs:std'"`},
		{"import of qjs:os fails", "try { await import('qjs:os'); return 'imported' } catch (e) { return 'failed' }", `"failed"`},
		{"import of qjs:bjson fails", "try { await import('qjs:bjson'); return 'imported' } catch (e) { return 'failed' }", `"failed"`},
		{"import through eval fails", "try { await (0, eval)(\"import('qjs:std')\"); return 'imported' } catch (e) { return 'failed' }", `"failed"`},
		{"import of a host file fails", "try { await import('/etc/passwd'); return 'imported' } catch (e) { return 'failed' }", `"failed"`},
		{"import of a relative file fails", "try { await import('./go.mod'); return 'imported' } catch (e) { return 'failed' }", `"failed"`},
		{"import of a URL fails", "try { await import('https://example.com/x.js'); return 'imported' } catch (e) { return 'failed' }", `"failed"`},
		{"fetch is disabled", "try { fetch('https://example.com') } catch (e) { return e.message }", `"fetch is disabled in QuickJS executor"`},
		{"setTimeout is not defined", "try { setTimeout(() => {}, 1) } catch (e) { return [e.name, e.message] }", `["ReferenceError","setTimeout is not defined"]`},
		{"setInterval is not defined", "return typeof setInterval", `"undefined"`},
		{"no network objects", "return [typeof XMLHttpRequest, typeof WebSocket, typeof Worker, typeof require, typeof process]", `["undefined","undefined","undefined","undefined","undefined"]`},
		{"no print or gc", "return [typeof print, typeof gc, typeof scriptArgs]", `["undefined","undefined","undefined"]`},
		{"the host function is hidden", "return [typeof __sbx_host, typeof QJS_PROXY_VALUE]", `["undefined","undefined"]`},
		// The prelude borrows Function.prototype.call to reach the C function
		// behind __sbx_host; scripts get the original back.
		{"Function.prototype.call is the built-in", "return [Math.max.call(null, 1, 2), String(Function.prototype.call).includes('[native code]')]", `[2,true]`},
		{"a replaced call changes nothing for the host", "Function.prototype.call = () => 'stolen'; try { await tools.x() } catch (e) { return e.message }", `"no tools are available to this execution"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantValue(t, runCode(t, tt.code), tt.want)
		})
	}
}

func TestHostErrorsCarryNoGoInternals(t *testing.T) {
	// Each of these goes through the host; none may show a Go stack, a file
	// path of this repository or a panic.
	codes := []string{
		"await tools.x()", // no Bridge
		"emit(() => 1); emit(Symbol()); const a = []; a[0] = a; emit(a)",
		"throw new Error('x')",
		"return 'x'.repeat(2**28)",
		"function f() { f() } f()",
	}
	for _, code := range codes {
		res := runCode(t, code)
		for _, bad := range []string{"goroutine", ".go:", "panic", "wazero", "/work/", "runtime."} {
			if strings.Contains(res.Error, bad) {
				t.Errorf("%s: error %q contains %q", code, res.Error, bad)
			}
		}
	}
}

func TestAScriptCannotReachAnotherRunsState(t *testing.T) {
	e := engine(t)
	done := make(chan Result)
	go func() {
		done <- e.Run(context.Background(), Request{Code: "globalThis.token = 'secret-of-run-1'; await tools.wait(); return 1", Bridge: echoBridge(200e6)})
	}()
	res := e.Run(context.Background(), Request{Code: "return typeof token"})
	wantValue(t, res, `"undefined"`)
	wantValue(t, <-done, "1")
}

// security.md H9: a getter that calls a tool while the arguments of another
// call are serialised runs in the guest, in order; the host never calls back
// into guest code during a host call.
func TestAGetterThatCallsAToolWhileArgumentsAreSerialised(t *testing.T) {
	res := engine(t).Run(context.Background(), Request{Code: `
let inner;
const outer = tools.a.outer({ get x() { inner = tools.a.inner({ n: 1 }); return 2 } });
return [(await outer).path, (await inner).path]`, Bridge: echoBridge(0)})
	wantValue(t, res, `["a.outer","a.inner"]`)
	var paths []string
	for _, ev := range res.Trace {
		if ev.Kind == EventCall {
			paths = append(paths, ev.Path)
		}
	}
	if strings.Join(paths, ",") != "a.inner,a.outer" {
		t.Fatalf("calls started in the order %v; the getter's call starts first", paths)
	}
}

// security.md H15, H20: bytecode is never accepted (code is source text),
// and the known typed-array hazards end inside the sandbox with a value or a
// clean error.
func TestBytecodeAndTypedArrayHazardsStayInside(t *testing.T) {
	cases := []struct{ name, code string }{
		{"bytecode bytes as code", "\x02\x05\x00\x00\x00\x10\x00\xfe\xff\x01"},
		{"resizing a buffer during sort", `const b = new ArrayBuffer(64, { maxByteLength: 128 }); const a = new Uint8Array(b);
a.fill(7); a.sort((x, y) => { b.resize(0); return x - y }); return a.length`},
		{"detaching a buffer during sort", `const a = new Float64Array(32).map((_, i) => 32 - i);
a.sort((x, y) => { try { structuredClone(a.buffer, { transfer: [a.buffer] }) } catch (e) {} return x - y }); return a.length`},
		{"a typed array from a species constructor that shrinks", `class Evil extends Uint8Array { static get [Symbol.species]() { return function () { return new Uint8Array(1) } } }
try { return new Evil(16).map(x => x + 1).length } catch (e) { return e.name }`},
		{"with over a typed array", `const a = new Int32Array(4); try { return eval("with (a) { length }") } catch (e) { return e.name }`},
		{"copyWithin on a shrunk view", `const b = new ArrayBuffer(16, { maxByteLength: 32 }); const a = new Uint32Array(b);
b.resize(4); try { a.copyWithin(0, 2); return a.length } catch (e) { return e.name }`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runCode(t, c.code)
			if c.name == "bytecode bytes as code" && res.ErrorKind != KindSyntax {
				t.Fatalf("bytecode was not refused as source: %s %s", res.Status, res.Error)
			}
			if res.Status == StatusCompleted {
				return
			}
			if res.ErrorKind == KindInternal || strings.Contains(res.Error, "crashed") {
				t.Fatalf("%s: %s (%s)", c.name, res.Error, res.ErrorKind)
			}
		})
	}
	wantValue(t, runCode(t, "return 1+1"), "2") // the engine is healthy afterwards
}
