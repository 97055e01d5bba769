package sandbox

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
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

// vm is one QuickJS runtime: a fresh instance of the module with the
// prelude evaluated, used by exactly one run on one goroutine, then
// discarded.
type vm struct {
	mod       api.Module
	fn        *qjsFuncs // = qjsExports
	fns       [numExports]api.Function
	callCtx   context.Context // carries the vm to hostProxy
	jsctx     uint64          // JSContext*
	sp        api.MutableGlobal
	limit     api.MutableGlobal
	stackLow  uint64 // the limit in normal operation
	stackTop  uint64
	memMax    uint64
	files     struct{ code, deliver uint32 } // C strings for eval
	deliverBC []byte                         // bytecode of "__sbx_deliver()"
	snap      *snapshot                      // the snapshot it was made from, if any

	mu    sync.Mutex // orders interrupt() against reads of cause
	cause cause

	// run is the execution using this runtime; host functions report to it.
	// Written once before the first call into the runtime, on the goroutine
	// that then owns it.
	run *run
	log *slog.Logger
}

// newVM returns a fresh runtime: a copy of the Engine's snapshot when it
// has one (see snapshot.go), otherwise one built from scratch.
func (e *Engine) newVM() (*vm, error) {
	if s := e.snap; s != nil {
		return e.cloneVM(s)
	}
	return e.buildVM()
}

// instantiate makes a new instance of the module (with its memory from
// the allocator in ctx, if any) and looks up what the host uses of it.
func (e *Engine) instantiate(ctx context.Context) (*vm, error) {
	mod, err := e.machine.rt.InstantiateModule(ctx, e.machine.compiled, e.machine.config)
	if err != nil {
		return nil, fmt.Errorf("instantiating QuickJS: %w", err)
	}
	v := &vm{mod: mod, fn: qjsExports, memMax: uint64(e.opts.MemoryLimit), log: e.log}
	v.callCtx = context.WithValue(context.Background(), vmKey{}, v)
	sp, ok1 := mod.ExportedGlobal(exportStackPointer).(api.MutableGlobal)
	limit, ok2 := mod.ExportedGlobal(exportStackLimit).(api.MutableGlobal)
	if !ok1 || !ok2 {
		v.discard()
		return nil, errors.New("the patched module lacks its stack globals")
	}
	v.sp, v.limit = sp, limit
	return v, nil
}

// buildVM instantiates the module, copies in its static data, moves the C
// stack to a block of StackSize bytes, creates the QuickJS runtime,
// installs the interrupt handler and the host function, and evaluates the
// prelude.
func (e *Engine) buildVM() (_ *vm, err error) {
	v, err := e.instantiate(experimental.WithMemoryAllocator(context.Background(), memoryAllocator()))
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("preparing a QuickJS runtime: %v", p)
		}
		if err != nil {
			v.discard()
		}
	}()
	// The patched module's data segments are empty (see patchQJSWasm).
	for _, d := range e.data {
		if !v.mod.Memory().Write(d.offset, d.bytes) {
			return nil, errors.New("a data segment lies outside the memory")
		}
	}

	// The C stack first, so that it comes from the initial memory (sized
	// for it by the patch) and nothing QuickJS allocates sits below it.
	size := uint64(e.opts.StackSize) + stackGuard
	base := v.call(v.fn.malloc, size)
	if base == 0 {
		return nil, errors.New("cannot allocate the C stack")
	}
	v.stackTop = (base + size) &^ 15
	v.stackLow = base + stackGuard
	v.sp.Set(v.stackTop)
	v.limit.Set(v.stackLow)

	qjs := uint32(v.call(v.fn.newQJS, uint64(e.jsMemoryLimit), 0, 0, 0))
	if qjs == 0 {
		return nil, errors.New("New_QJS failed")
	}
	v.jsctx = v.call(v.fn.getContext, uint64(qjs))
	jsrt, _ := v.mod.Memory().ReadUint32Le(qjs) // QJSRuntime{JSRuntime *runtime; JSContext *context}
	if err := v.installInterruptHandler(jsrt, e.interruptSlot); err != nil {
		return nil, err
	}

	v.files.code = v.cstring(sourceFile)
	v.files.deliver = v.cstring("deliver.js")
	v.setGlobalFunction("__sbx_host", hostFunctionID)
	prelude := v.cstring("prelude.js")
	if e.prelude == nil { // the first runtime of the Engine, built by New
		bc, exc := v.compile(prelude, preludeJS)
		if exc != "" {
			return nil, fmt.Errorf("compiling the prelude: %s", exc)
		}
		if e.deliver, exc = v.compile(v.files.deliver, "__sbx_deliver()"); exc != "" {
			return nil, fmt.Errorf("compiling the delivery call: %s", exc)
		}
		e.prelude = bc
	}
	v.deliverBC = e.deliver
	if exc := v.evalBytecode(prelude, e.prelude); exc != "" {
		return nil, fmt.Errorf("evaluating the prelude: %s", exc)
	}
	return v, nil
}

// deliver hands the pending tool result to the script (see prelude.js).
func (v *vm) deliver() string {
	return v.evalBytecode(v.files.deliver, v.deliverBC)
}

// installInterruptHandler points JSRuntime.interrupt_handler at the handler
// the patch added (see patchQJSWasm).
func (v *vm) installInterruptHandler(jsrt, slot uint32) error {
	mem := v.mod.Memory()
	h, ok1 := mem.ReadUint32Le(jsrt + jsRuntimeInterruptHandler)
	o, ok2 := mem.ReadUint32Le(jsrt + jsRuntimeInterruptOpaque)
	if jsrt == 0 || !ok1 || !ok2 || h != 0 || o != 0 {
		return errors.New("unexpected JSRuntime layout")
	}
	if !mem.WriteUint32Le(jsrt+jsRuntimeInterruptHandler, slot) {
		return errors.New("cannot install the interrupt handler")
	}
	return nil
}

// discard drops the runtime: closing the instance releases its memory. It
// never calls into QuickJS (a trapped instance may trap again, and freeing
// a heap that is thrown away anyway only costs time).
func (v *vm) discard() {
	_ = v.mod.Close(context.Background())
	if v.snap != nil {
		v.snap.recycle(v)
	}
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
