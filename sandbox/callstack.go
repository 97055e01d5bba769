package sandbox

import (
	"reflect"
	"unsafe"

	"github.com/tetratelabs/wazero/api"
)

// wazero (its compiler, wazevo) runs each exported function on a Go-allocated
// stack of its own, 10 KiB at first, doubled and copied whenever a call
// needs more. QJS_Eval needs ≈130 KiB for a run with a tool call, so every
// fresh runtime used to grow it four or five times during the run itself,
// ≈80 µs on the request path. cloneVM instead gives the functions the
// stacks the probe run needed (see learnPages) before the runtime is
// handed out.
//
// wazero has no option for that: presizeStack sets the fields its
// callEngine.init sets (stack, stackTop, execCtx.stackBottomPtr), through
// reflection, and only if they have the types it expects and, on the
// function at hand, still hold what init put there (the function has not
// been called). Otherwise it does nothing and the stack grows as usual.
// Growing past the presized stack, and wazero's limit on it (stack
// overflow), are unchanged. Written against wazero v1.9.0;
// TestCallStacksArePresized fails if a later version changes this.

// callStackFields returns the stack fields of fn's callEngine, or ok false.
func callStackFields(fn api.Function) (stack, top, bottom reflect.Value, ok bool) {
	p := reflect.ValueOf(fn)
	if p.Kind() != reflect.Pointer || p.IsNil() || p.Type().Elem().Name() != "callEngine" || p.Type().Elem().PkgPath() != "github.com/tetratelabs/wazero/internal/engine/wazevo" {
		return
	}
	ce := p.Elem()
	stack, top = ce.FieldByName("stack"), ce.FieldByName("stackTop")
	if ec := ce.FieldByName("execCtx"); ec.IsValid() && ec.Kind() == reflect.Struct {
		bottom = ec.FieldByName("stackBottomPtr")
	}
	if !stack.IsValid() || stack.Type() != reflect.TypeFor[[]byte]() ||
		!top.IsValid() || top.Kind() != reflect.Uintptr ||
		!bottom.IsValid() || bottom.Type() != reflect.TypeFor[*byte]() {
		return
	}
	settable := func(f reflect.Value) reflect.Value {
		return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
	}
	return settable(stack), settable(top), settable(bottom), true
}

// callStackSize returns the size of fn's stack, or 0 if unknown.
func callStackSize(fn api.Function) int {
	stack, _, _, ok := callStackFields(fn)
	if !ok {
		return 0
	}
	return stack.Len()
}

// presizeStack gives fn, which must not have been called yet, the stack
// newStack returns (zeroed, larger than fn's). It reports whether it could.
func presizeStack(fn api.Function, newStack func() []byte) bool {
	stack, top, bottom, ok := callStackFields(fn)
	if !ok || stack.Len() == 0 {
		return false
	}
	old := stack.Bytes()
	if top.Uint() != uint64(stackTop(old)) || bottom.Pointer() != uintptr(unsafe.Pointer(&old[0])) {
		return false // not as init left it
	}
	setStack(stack, top, bottom, newStack())
	return true
}

// takeStack returns fn's stack and gives fn a small new one, or returns nil.
// fn must not be called again (its runtime is being discarded); the small
// stack only keeps a stray call from touching memory it no longer owns.
func takeStack(fn api.Function) []byte {
	stack, top, bottom, ok := callStackFields(fn)
	if !ok || stack.Len() == 0 {
		return nil
	}
	old := stack.Bytes()
	setStack(stack, top, bottom, make([]byte, 64))
	return old
}

func setStack(stack, top, bottom reflect.Value, s []byte) {
	stack.Set(reflect.ValueOf(s))
	top.SetUint(uint64(stackTop(s)))
	bottom.Set(reflect.ValueOf(&s[0]))
}

// stackTop is where callEngine.init starts a stack: its last byte, aligned
// down to 16.
func stackTop(s []byte) uintptr {
	return uintptr(unsafe.Pointer(&s[len(s)-1])) &^ 15
}
