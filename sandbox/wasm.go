package sandbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// The QuickJS build shipped with fastschema/qjs v0.0.6 has three properties a
// sandbox cannot live with, and all three are fixed here by rewriting the wasm
// binary once per process:
//
//   - its linear memory has no maximum (4 GiB per runtime is possible), so the
//     memory section gets one;
//   - QuickJS's C stack check is compiled out for WASI and the 64 KiB C stack
//     sits right above the static data, so deep recursion silently overwrites
//     the interpreter's globals. Every function now starts with
//     "if (__stack_pointer < sbx_stack_limit) unreachable". The limit is a new
//     exported global that the host sets per runtime, which also makes it the
//     interrupt: setting it to 0xFFFFFFFF traps the next function entry, and
//     every JS loop calls a function at least every 10,000 bytecodes
//     (QuickJS's interrupt poll). That replaces wazero's CloseOnContextDone,
//     whose per-loop-iteration exit to Go made CPU-bound JS 5–8× slower;
//   - every context registers the qjs:std, qjs:os and qjs:bjson modules
//     (files, timers, sleeping, exit, a bytecode reader), reachable through
//     import() whatever the globals say. The functions that register them
//     and set the std/os globals become empty, so they never exist.

// Exported names of the two globals the host needs.
const (
	exportStackPointer = "sbx_stack_pointer"
	exportStackLimit   = "sbx_stack_limit"
)

// interruptLimit makes every instrumented function entry trap.
const interruptLimit = 0xFFFFFFFF

// newQJSContextExport is the qjs export whose body is replaced.
const newQJSContextExport = "New_QJSContext"

// newQJSContextBody is the expected body of New_QJSContext in qjs v0.0.6:
//
//	local.get 0; call 285 (JS_NewContext); local.tee 0
//	call 1093 (js_init_module_std); local.get 0
//	call 1095 (js_init_module_os); local.get 0
//	call 1103 (js_init_module_bjson); local.get 0
//	call 42 (js_set_global_objs: std/os globals, timers, print); local.get 0
//	end
var newQJSContextBody = []byte{
	0x00,
	0x20, 0x00, 0x10, 0x9d, 0x02, 0x22, 0x00,
	0x10, 0xc5, 0x08, 0x20, 0x00,
	0x10, 0xc7, 0x08, 0x20, 0x00,
	0x10, 0xcf, 0x08, 0x20, 0x00,
	0x10, 0x2a, 0x20, 0x00,
	0x0b,
}

// emptyBody is the body of a function of type (i32) -> () that does nothing.
var emptyBody = []byte{0x00, 0x0b}

// removedCalls returns the function indices New_QJSContext calls for the
// modules and globals: the calls after JS_NewContext. They are inlined into
// New_QJS too, hence emptying the callees rather than the caller. Each takes
// the context and returns nothing (nothing is dropped after the calls).
func removedCalls(body []byte) ([]uint64, error) {
	if !bytes.Equal(body, newQJSContextBody) {
		return nil, errors.New("New_QJSContext is not the qjs v0.0.6 body; pin github.com/fastschema/qjs v0.0.6")
	}
	var idx []uint64
	for i := 8; i < len(body); i++ { // after "local.get 0; call JS_NewContext; local.tee 0"
		if body[i] == 0x10 {
			v, n := binary.Uvarint(body[i+1:])
			idx = append(idx, v)
			i += n
		}
	}
	return idx, nil
}

// stackCheck is inserted at the start of every function body:
// global.get 0 (__stack_pointer); global.get 1 (sbx_stack_limit); i32.lt_u;
// if; unreachable; end.
var stackCheck = []byte{0x23, 0x00, 0x23, 0x01, 0x49, 0x04, 0x40, 0x00, 0x0b}

// Wasm section ids used below.
const (
	secImport = 2
	secMemory = 5
	secGlobal = 6
	secExport = 7
	secCode   = 10
)

type wasmSection struct {
	id   byte
	body []byte
}

func readSections(in []byte) ([]wasmSection, error) {
	if len(in) < 8 || !bytes.Equal(in[:4], []byte("\x00asm")) {
		return nil, errors.New("not a wasm module")
	}
	var out []wasmSection
	for p := 8; p < len(in); {
		id := in[p]
		size, n := binary.Uvarint(in[p+1:])
		if n <= 0 {
			return nil, fmt.Errorf("bad size of section %d", id)
		}
		start := p + 1 + n
		end := start + int(size)
		if end > len(in) || end < start {
			return nil, fmt.Errorf("section %d runs past the end", id)
		}
		out = append(out, wasmSection{id, in[start:end]})
		p = end
	}
	return out, nil
}

// reader is a cursor over a section body; the first error sticks.
type reader struct {
	b   []byte
	p   int
	err error
}

func (r *reader) uleb() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.p:])
	if n <= 0 {
		r.err = errors.New("bad LEB128")
		return 0
	}
	r.p += n
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || r.p >= len(r.b) {
		r.err = errors.New("unexpected end of section")
		return 0
	}
	r.p++
	return r.b[r.p-1]
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.p+n > len(r.b) {
		r.err = errors.New("unexpected end of section")
		return nil
	}
	r.p += n
	return r.b[r.p-n : r.p]
}

// patchQJSWasm returns a copy of the qjs.wasm binary with the memory maximum
// set to maxPages, the stack/interrupt check in every function and the
// std/os/bjson modules removed. It fails, rather than guessing, if the binary
// is not the one it was written for.
func patchQJSWasm(in []byte, maxPages uint32) ([]byte, error) {
	secs, err := readSections(in)
	if err != nil {
		return nil, err
	}
	var importedFuncs uint64
	for _, s := range secs {
		if s.id == secImport {
			if importedFuncs, err = countImportedFuncs(s.body); err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
		}
	}
	target := -1 // index of New_QJSContext among the module's own functions
	for _, s := range secs {
		if s.id == secExport {
			idx, ok, err := findFuncExport(s.body, newQJSContextExport)
			if err != nil {
				return nil, fmt.Errorf("export section: %w", err)
			}
			if !ok || idx < importedFuncs {
				return nil, fmt.Errorf("export %s not found", newQJSContextExport)
			}
			target = int(idx - importedFuncs)
		}
	}
	if target < 0 {
		return nil, errors.New("no export section")
	}

	out := append([]byte{}, in[:8]...)
	seen := map[byte]bool{}
	for _, s := range secs {
		body := s.body
		switch s.id {
		case secMemory:
			body, err = capMemory(body, maxPages)
		case secGlobal:
			body, err = addLimitGlobal(body)
		case secExport:
			body, err = addGlobalExports(body)
		case secCode:
			body, err = instrumentCode(body, target, importedFuncs)
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
		seen[s.id] = true
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	for _, id := range []byte{secMemory, secGlobal, secExport, secCode} {
		if !seen[id] {
			return nil, fmt.Errorf("section %d missing", id)
		}
	}
	return out, nil
}

func countImportedFuncs(body []byte) (uint64, error) {
	r := &reader{b: body}
	n := r.uleb()
	var funcs uint64
	for i := uint64(0); i < n && r.err == nil; i++ {
		r.bytes(int(r.uleb())) // module
		r.bytes(int(r.uleb())) // name
		switch kind := r.byte(); kind {
		case 0x00: // func: type index
			r.uleb()
			funcs++
		case 0x01: // table: reftype + limits
			r.byte()
			readLimits(r)
		case 0x02: // memory
			readLimits(r)
		case 0x03: // global
			r.byte()
			r.byte()
			// An imported global would shift the index of __stack_pointer.
			return 0, errors.New("imported globals are not supported")
		default:
			return 0, fmt.Errorf("unknown import kind %d", kind)
		}
	}
	return funcs, r.err
}

func readLimits(r *reader) {
	if flags := r.byte(); flags&1 != 0 {
		r.uleb()
	}
	r.uleb()
}

func findFuncExport(body []byte, name string) (uint64, bool, error) {
	r := &reader{b: body}
	n := r.uleb()
	for i := uint64(0); i < n && r.err == nil; i++ {
		got := string(r.bytes(int(r.uleb())))
		kind := r.byte()
		idx := r.uleb()
		if kind == 0x00 && got == name {
			return idx, true, r.err
		}
	}
	return 0, false, r.err
}

func capMemory(body []byte, maxPages uint32) ([]byte, error) {
	r := &reader{b: body}
	if r.uleb() != 1 || r.byte() != 0x00 { // one memory, flags: min only
		return nil, errors.New("expected one memory without a maximum")
	}
	min := r.uleb()
	if r.err != nil {
		return nil, r.err
	}
	if min > uint64(maxPages) {
		return nil, fmt.Errorf("memory limit (%d pages) is below the module's minimum (%d pages)", maxPages, min)
	}
	out := binary.AppendUvarint([]byte{1, 0x01}, min)
	return binary.AppendUvarint(out, uint64(maxPages)), nil
}

// addLimitGlobal appends global 1: (mut i32) = 0, i.e. "no check" until the
// host sets it.
func addLimitGlobal(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.uleb()
	if r.err != nil || n < 1 {
		return nil, errors.New("expected __stack_pointer as global 0")
	}
	// Global 0 must be the mutable i32 stack pointer: 7f 01 41 <sleb> 0b.
	if r.byte() != 0x7f || r.byte() != 0x01 || r.byte() != 0x41 {
		return nil, errors.New("global 0 is not a mutable i32 (__stack_pointer)")
	}
	if n != 1 {
		return nil, fmt.Errorf("expected exactly one global, found %d", n)
	}
	out := binary.AppendUvarint(nil, n+1)
	out = append(out, body[len(binary.AppendUvarint(nil, n)):]...)
	return append(out, 0x7f, 0x01, 0x41, 0x00, 0x0b), nil
}

func addGlobalExports(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.uleb()
	if r.err != nil {
		return nil, r.err
	}
	out := binary.AppendUvarint(nil, n+2)
	out = append(out, body[r.p:]...)
	for i, name := range []string{exportStackPointer, exportStackLimit} {
		out = binary.AppendUvarint(out, uint64(len(name)))
		out = append(out, name...)
		out = append(out, 0x03) // global
		out = binary.AppendUvarint(out, uint64(i))
	}
	return out, nil
}

// instrumentCode prepends stackCheck to every function body (after its local
// declarations) and empties the functions New_QJSContext (own function
// `target`) uses to register std/os/bjson.
func instrumentCode(body []byte, target int, importedFuncs uint64) ([]byte, error) {
	r := &reader{b: body}
	n := r.uleb()
	funcs := make([][]byte, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		funcs = append(funcs, r.bytes(int(r.uleb())))
	}
	if r.err != nil {
		return nil, r.err
	}
	if target >= len(funcs) {
		return nil, errors.New("New_QJSContext body not found")
	}
	removed, err := removedCalls(funcs[target])
	if err != nil {
		return nil, err
	}
	for _, f := range removed {
		if f < importedFuncs || f-importedFuncs >= uint64(len(funcs)) {
			return nil, fmt.Errorf("function %d out of range", f)
		}
		funcs[f-importedFuncs] = emptyBody
	}
	out := binary.AppendUvarint(make([]byte, 0, len(body)+len(funcs)*len(stackCheck)+16), n)
	for i, fn := range funcs {
		lr := &reader{b: fn}
		for groups := lr.uleb(); groups > 0 && lr.err == nil; groups-- {
			lr.uleb()
			lr.byte()
		}
		if lr.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, lr.err)
		}
		out = binary.AppendUvarint(out, uint64(len(fn)+len(stackCheck)))
		out = append(out, fn[:lr.p]...)
		out = append(out, stackCheck...)
		out = append(out, fn[lr.p:]...)
	}
	return out, nil
}
