package sandbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The sandbox drives the QuickJS wasm binary of qjs v0.0.6 through its C
// exports directly instead of qjs's Go API: qjs.New costs ≈3 ms (it hashes
// the 1 MB binary and compiles the WASI host module every time), leaks its
// wazero runtime, mounts a directory as "/", panics instead of returning
// errors, and puts Go stack traces into JS errors. Here one wazero runtime
// per Engine holds the compiled module and the host modules, and a runtime
// is one more instance of it: no file system, no clock but a fake one
// (Date.now is served by the host), stdout and stderr discarded.

// machine is the wazero side of an Engine.
type machine struct {
	rt       wazero.Runtime
	cache    wazero.CompilationCache // nil without CacheDir
	compiled wazero.CompiledModule
	config   wazero.ModuleConfig // of every instance (read-only, shared)
}

type vmKey struct{}

func newMachine(wasm []byte, cacheDir string) (*machine, error) {
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig()
	// The module does not import random_get (TestTheModuleHasNoRandomSource):
	// the source only spares wazero seeding its default one for every
	// instance (≈10 µs).
	m := &machine{config: wazero.NewModuleConfig().WithName("").WithStartFunctions().WithRandSource(noRandom{})}
	if cacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			return nil, fmt.Errorf("opening the compilation cache %s: %w", cacheDir, err)
		}
		cfg = cfg.WithCompilationCache(cache)
		m.cache = cache
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	m.rt = rt
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		m.close()
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	if _, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostProxy), []api.ValueType{i32, i64, i32, i32}, []api.ValueType{i64}).
		Export("jsFunctionProxy").Instantiate(ctx); err != nil {
		m.close()
		return nil, fmt.Errorf("instantiating the host module: %w", err)
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		m.close()
		return nil, fmt.Errorf("compiling QuickJS: %w", err)
	}
	m.compiled = compiled
	if err := m.checkExports(); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

// noRandom is the WASI random source: none.
type noRandom struct{}

func (noRandom) Read([]byte) (int, error) { return 0, errors.New("no random source") }

func (m *machine) close() {
	_ = m.rt.Close(context.Background())
	if m.cache != nil {
		_ = m.cache.Close(context.Background())
	}
}

// export names a C export the sandbox calls. A runtime looks each up the
// first time it calls it (vm.function): wazero gives every exported
// function its own call stack, ≈10 KiB, and a run calls about half of
// them; cloneVM looks up those the probe run called ahead of the run.
type export uint8

// qjsFuncs are the C exports the sandbox calls (qjsExports).
type qjsFuncs struct {
	malloc, free, newQJS, getContext, createEvalOption, eval, compile,
	hasException, getException, toCString, freeCString, freeValue,
	getPropertyStr, newString, newFloat64, createFunctionProxy,
	getGlobalObject, setPropertyStr export
}

var qjsExports = &qjsFuncs{
	0, 1, 2, 3, 4, 5, 6,
	7, 8, 9, 10, 11,
	12, 13, 14, 15,
	16, 17,
}

// exportNames are the names of the exports, by export.
var exportNames = [...]string{
	"malloc", "free", "New_QJS", "QJS_GetContext", "QJS_CreateEvalOption", "QJS_Eval", "QJS_Compile2",
	"JS_HasException", "JS_GetException", "QJS_ToCString", "JS_FreeCString", "JS_FreeValue",
	"JS_GetPropertyStr", "QJS_NewString", "QJS_NewFloat64", "QJS_CreateFunctionProxy",
	"JS_GetGlobalObject", "JS_SetPropertyStr",
}

const numExports = len(exportNames)

// checkExports fails unless the module exports every function in
// exportNames.
func (m *machine) checkExports() error {
	defs := m.compiled.ExportedFunctions()
	for _, name := range exportNames {
		if defs[name] == nil {
			return fmt.Errorf("QuickJS export %s is missing", name)
		}
	}
	return nil
}

// QuickJS eval flags.
const (
	evalTypeGlobal = 0
	evalFlagStrict = 1 << 3
)

// trapError marks a call that ended in a wasm trap (or a host panic): the
// instance must not be used again.
type trapError struct{ err error }

func (e *trapError) Error() string { return e.err.Error() }
func (e *trapError) Unwrap() error { return e.err }

// call invokes a C export; a trap panics with *trapError, which Run recovers.
func (v *vm) call(f export, args ...uint64) uint64 {
	res, err := v.function(f).Call(v.callCtx, args...)
	if err != nil {
		panic(&trapError{err})
	}
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

// function returns the export f of this runtime, looking it up the first
// time.
func (v *vm) function(f export) api.Function {
	fn := v.fns[f]
	if fn == nil {
		if fn = v.mod.ExportedFunction(exportNames[f]); fn == nil {
			panic(&trapError{fmt.Errorf("QuickJS export %s is missing", exportNames[f])})
		}
		v.fns[f] = fn
	}
	return fn
}

func (v *vm) mem() api.Memory { return v.mod.Memory() }

// cstring copies s into a malloc'ed, NUL-terminated buffer.
func (v *vm) cstring(s string) uint32 {
	p := uint32(v.call(v.fn.malloc, uint64(len(s)+1)))
	if p == 0 {
		panic(&trapError{errors.New("out of memory")})
	}
	buf, ok := v.mem().Read(p, uint32(len(s)+1))
	if !ok {
		panic(&trapError{errors.New("malloc returned memory out of range")})
	}
	copy(buf, s)
	buf[len(s)] = 0
	return p
}

// toString converts a JS value to a Go string (String(value)).
func (v *vm) toString(val uint64) string {
	packed := uint32(v.call(v.fn.toCString, v.jsctx, val))
	if packed == 0 {
		return ""
	}
	word, _ := v.mem().ReadUint64Le(packed)
	str, n := uint32(word>>32), uint32(word)
	b, _ := v.mem().Read(str, n)
	s := string(b)
	v.call(v.fn.freeCString, v.jsctx, uint64(str))
	v.call(v.fn.free, uint64(packed))
	return s
}

// newString returns a new JS string.
func (v *vm) newString(s string) uint64 {
	p := v.cstring(s)
	val := v.call(v.fn.newString, v.jsctx, uint64(p))
	v.call(v.fn.free, uint64(p))
	return val
}

func (v *vm) newNumber(f float64) uint64 {
	return v.call(v.fn.newFloat64, v.jsctx, math.Float64bits(f))
}

// eval evaluates a script in the global scope (strict), runs the jobs it
// queued, and returns the text of an uncaught exception, if any.
func (v *vm) eval(file uint32, code string) (exception string) {
	src := v.cstring(code)
	defer v.call(v.fn.free, uint64(src))
	return v.evalOption(uint64(src), 0, 0, file)
}

// evalBytecode is eval for the output of compile.
func (v *vm) evalBytecode(file uint32, bc []byte) (exception string) {
	p := v.copyIn(bc)
	defer v.call(v.fn.free, uint64(p))
	return v.evalOption(0, uint64(p), uint64(len(bc)), file)
}

func (v *vm) evalOption(src, bc, bcLen uint64, file uint32) string {
	opt := uint32(v.call(v.fn.createEvalOption, src, bc, bcLen, uint64(file), evalTypeGlobal|evalFlagStrict))
	if opt == 0 {
		panic(&trapError{errors.New("out of memory")})
	}
	res := v.call(v.fn.eval, v.jsctx, uint64(opt))
	v.call(v.fn.free, uint64(opt))
	v.call(v.fn.freeValue, v.jsctx, res)
	if v.call(v.fn.hasException, v.jsctx) != 0 {
		return v.takeException()
	}
	return ""
}

// compile parses code into QuickJS bytecode without running it. Bytecode is
// only ever produced here, from source: the sandbox never loads bytecode it
// did not make (QuickJS's reader trusts its input).
func (v *vm) compile(file uint32, code string) ([]byte, string) {
	src := v.cstring(code)
	defer v.call(v.fn.free, uint64(src))
	opt := uint32(v.call(v.fn.createEvalOption, uint64(src), 0, 0, uint64(file), evalTypeGlobal|evalFlagStrict))
	if opt == 0 {
		panic(&trapError{errors.New("out of memory")})
	}
	packed := uint32(v.call(v.fn.compile, v.jsctx, uint64(opt)))
	v.call(v.fn.free, uint64(opt))
	if packed == 0 {
		if v.call(v.fn.hasException, v.jsctx) != 0 {
			return nil, v.takeException()
		}
		return nil, "InternalError: compilation failed"
	}
	word, _ := v.mem().ReadUint64Le(packed)
	p, n := uint32(word>>32), uint32(word)
	b, ok := v.mem().Read(p, n)
	if !ok {
		panic(&trapError{errors.New("bytecode out of range")})
	}
	bc := append([]byte(nil), b...)
	v.call(v.fn.free, uint64(p))
	v.call(v.fn.free, uint64(packed))
	return bc, ""
}

// copyIn copies b into a malloc'ed buffer.
func (v *vm) copyIn(b []byte) uint32 {
	p := uint32(v.call(v.fn.malloc, uint64(len(b))))
	if p == 0 || !v.mem().Write(p, b) {
		panic(&trapError{errors.New("out of memory")})
	}
	return p
}

// takeException clears the pending exception and returns "String(e)\nstack".
func (v *vm) takeException() string {
	exc := v.call(v.fn.getException, v.jsctx)
	text := v.toString(exc)
	name := v.cstring("stack")
	stack := v.call(v.fn.getPropertyStr, v.jsctx, exc, uint64(name))
	v.call(v.fn.free, uint64(name))
	if s := v.toString(stack); s != "" && s != "undefined" {
		text += "\n" + strings.TrimRight(s, "\n")
	}
	v.call(v.fn.freeValue, v.jsctx, stack)
	v.call(v.fn.freeValue, v.jsctx, exc)
	return text
}

// setGlobalFunction defines globalThis[name] as a JS function that calls the
// host with function id id.
func (v *vm) setGlobalFunction(name string, id uint64) {
	fn := v.call(v.fn.createFunctionProxy, v.jsctx, id, 0, 0)
	global := v.call(v.fn.getGlobalObject, v.jsctx)
	p := v.cstring(name)
	v.call(v.fn.setPropertyStr, v.jsctx, global, uint64(p), fn) // takes fn
	v.call(v.fn.free, uint64(p))
	v.call(v.fn.freeValue, v.jsctx, global)
}

// hostProxy is the "env.jsFunctionProxy" import: QuickJS calls it for every
// function made by QJS_CreateFunctionProxy, with arguments (function id,
// context id, async flag, promise, …the script's arguments).
func hostProxy(ctx context.Context, mod api.Module, stack []uint64) {
	v, _ := ctx.Value(vmKey{}).(*vm)
	argc, argv := uint32(stack[2]), uint32(stack[3])
	if v == nil || argc < 4 {
		panic(errors.New("sandbox: host function called without its runtime"))
	}
	raw, ok := mod.Memory().Read(argv, argc*8)
	if !ok {
		panic(errors.New("sandbox: host function arguments out of range"))
	}
	args := make([]uint64, argc-4)
	for i := range args {
		args[i] = binary.LittleEndian.Uint64(raw[8*(i+4):])
	}
	stack[0] = v.host(uint32(binary.LittleEndian.Uint64(raw)), args)
}
