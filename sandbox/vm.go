package sandbox

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/fastschema/qjs"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

//go:embed prelude.js
var preludeJS string

// stackGuard is the part of the relocated C stack below the limit: the
// instrumented check runs at function entry, before the function takes its
// frame, so the largest single frame must fit in it.
const stackGuard = 64 << 10

// cause says why a runtime was interrupted.
type cause int

const (
	causeNone cause = iota
	causeBudget
	causeCanceled
	causeDivergence
	causeSettled
)

// vm is one QuickJS runtime: built ahead of time with the prelude
// evaluated, used by exactly one run on one goroutine, then discarded.
type vm struct {
	rt       *qjs.Runtime
	ctx      *qjs.Context
	mod      api.Module
	sp       api.Global
	limit    api.MutableGlobal
	stackLow uint64 // the limit in normal operation
	stackTop uint64
	memMax   uint64

	mu    sync.Mutex // orders interrupt() against reads of cause/limit
	cause cause

	// run is the execution using this runtime; host functions report to it.
	// Written once before the first call into the runtime, on the goroutine
	// that then owns it.
	run *run
}

// newVM creates a runtime: qjs.New with the patched module, C stack moved to
// a heap block of stackSize bytes, host functions registered, prelude run.
func (e *Engine) newVM() (_ *vm, err error) {
	rt, err := qjs.New(qjs.Option{
		Context:          context.Background(),
		CWD:              e.cwd,
		CacheDir:         e.opts.CacheDir,
		QuickJSWasmBytes: e.wasm,
		MemoryLimit:      e.jsMemoryLimit,
		Stdout:           discard{},
		Stderr:           discard{},
	})
	if err != nil {
		return nil, fmt.Errorf("creating a QuickJS runtime: %w", err)
	}
	v := &vm{rt: rt, ctx: rt.Context(), memMax: uint64(e.opts.MemoryLimit)}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("preparing a QuickJS runtime: %v", p)
		}
		if err != nil {
			v.discard()
		}
	}()
	if v.mod, err = innerModule(rt); err != nil {
		return nil, err
	}
	sp, ok1 := v.mod.ExportedGlobal(exportStackPointer).(api.MutableGlobal)
	limit, ok2 := v.mod.ExportedGlobal(exportStackLimit).(api.MutableGlobal)
	if !ok1 || !ok2 {
		return nil, errors.New("the patched module lacks its stack globals")
	}
	v.sp, v.limit = sp, limit
	size := uint64(e.opts.StackSize) + stackGuard
	base := rt.Malloc(size)
	if base == 0 {
		return nil, errors.New("cannot allocate the C stack")
	}
	v.stackTop = (base + size) &^ 15
	v.stackLow = base + stackGuard
	sp.Set(v.stackTop)
	limit.Set(v.stackLow)

	v.register()
	val, err := v.ctx.Eval("prelude.js", qjs.Code(preludeJS))
	if err != nil {
		return nil, fmt.Errorf("evaluating the prelude: %w", err)
	}
	val.Free()
	return v, nil
}


// discard drops the runtime. It never calls into QuickJS (a trapped module
// may trap again, and freeing a heap that is thrown away anyway only costs
// time): it closes the wazero runtime, which releases the linear memory.
// qjs v0.0.6 never closes that runtime itself (≈24 KB leaked per New).
func (v *vm) discard() {
	w, err := innerWazero(v.rt)
	if err != nil {
		return
	}
	func() {
		defer func() { _ = recover() }()
		_ = w.Close(context.Background())
	}()
}

// interrupt makes the next function entry inside the VM trap. Safe from any
// goroutine; the first cause wins.
func (v *vm) interrupt(c cause) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cause == causeNone {
		v.cause = c
	}
	v.limit.Set(interruptLimit)
}

func (v *vm) interruptCause() cause {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cause
}

// trapKind classifies a panic that came out of the VM.
func (v *vm) trapKind(p any) ErrorKind {
	msg := fmt.Sprint(p)
	if sp := v.sp.Get(); sp < v.stackLow || sp > v.stackTop || strings.Contains(msg, "stack overflow") {
		return KindStack
	}
	if v.mod.Memory().Size() >= uint32(v.memMax-(1<<20)) || strings.Contains(msg, "out of memory") {
		return KindMemory
	}
	return KindInternal
}

// discard is the stdout/stderr of every runtime: nothing the guest writes
// reaches the process's streams.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// innerWazero and innerModule reach the unexported fields of qjs.Runtime
// (pinned at v0.0.6; TestQJSInternals fails if they change).
func innerWazero(rt *qjs.Runtime) (wazero.Runtime, error) {
	w, err := unexported[wazero.Runtime](rt, "wrt")
	if err == nil && w == nil {
		err = errors.New("qjs.Runtime.wrt is nil")
	}
	return w, err
}

func innerModule(rt *qjs.Runtime) (api.Module, error) {
	m, err := unexported[api.Module](rt, "module")
	if err == nil && m == nil {
		err = errors.New("qjs.Runtime.module is nil")
	}
	return m, err
}

func unexported[T any](rt *qjs.Runtime, name string) (T, error) {
	var zero T
	f := reflect.ValueOf(rt).Elem().FieldByName(name)
	if !f.IsValid() {
		return zero, fmt.Errorf("qjs.Runtime has no field %q (qjs must be v0.0.6)", name)
	}
	v, ok := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(T)
	if !ok && !f.IsNil() {
		return zero, fmt.Errorf("qjs.Runtime.%s has type %s", name, f.Type())
	}
	return v, nil
}
