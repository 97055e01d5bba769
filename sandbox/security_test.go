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
