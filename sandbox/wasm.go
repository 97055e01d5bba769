package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
)

// The QuickJS build shipped with fastschema/qjs v0.0.6 has four properties a
// sandbox cannot live with; all four are fixed by rewriting the wasm binary
// once per Engine (patchQJSWasm):
//
//   - its linear memory has no maximum (4 GiB per runtime is possible): the
//     memory section gets one (Options.MemoryLimit);
//   - QuickJS's C stack check is compiled out for WASI and the 64 KiB C stack
//     sits right above the static data, so deep recursion (≈275 JS calls)
//     silently overwrites the interpreter's globals. Each runtime moves its
//     stack to a malloc'ed block (Options.StackSize), and every function that
//     takes a stack frame now starts with
//     "if (__stack_pointer < sbx_stack_limit) unreachable". sbx_stack_limit
//     is a new exported global, which also makes it the interrupt: setting it
//     to 0xFFFFFFFF traps the next checked function entry;
//   - nothing interrupts a running script (MaxExecutionTime is a no-op, and
//     wazero's CloseOnContextDone exits to Go on every loop iteration, which
//     made CPU-bound JS 5–8× slower). The patch adds an interrupt handler
//     that QuickJS calls every 10,000 interpreter steps and regexp
//     backtracking steps; it is checked like any function, and it calls a
//     WASI host function, which gives the Go scheduler a point where it can
//     stop the goroutine: without one, a busy loop in compiled wasm holds up
//     every garbage collection of the process, and with it the timer that
//     would interrupt the loop;
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
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secElem     = 9
	secCode     = 10
	secData     = 11
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

// qjsWasmSHA256 is the hash of qjs.wasm in github.com/fastschema/qjs
// v0.0.6. Everything below (function indices, struct offsets, bodies) was
// read off that binary, so any other one is refused.
const qjsWasmSHA256 = "88fcbeead33cca3ec8394feb0fb3eec8047ec9ac5062aba7a63799cee11989b7"

// Offsets in QuickJS-ng's JSRuntime (read off __js_poll_interrupts).
const (
	jsRuntimeInterruptHandler = 152
	jsRuntimeInterruptOpaque  = 156
)

// scratchAddr is 8 bytes of linear memory nothing uses (static data starts
// at 1024): clock_time_get writes its result there.
const scratchAddr = 16

// patchedModule is the rewritten qjs.wasm.
type patchedModule struct {
	wasm []byte
	// interruptSlot is the function-table index of the added interrupt
	// handler, to be stored in JSRuntime.interrupt_handler.
	interruptSlot uint32
	// data are the module's active data segments. The patched module keeps
	// the segments but with no bytes, so that instantiating it writes
	// nothing into the memory: a runtime built from scratch copies these in
	// itself (buildVM), one made from a snapshot already has them (see
	// snapshot.go).
	data []dataSegment
}

// dataSegment is an active data segment: bytes copied to offset.
type dataSegment struct {
	offset uint32
	bytes  []byte
}

// patchQJSWasm returns a copy of the qjs.wasm binary with the memory maximum
// set to maxPages, the stack/interrupt check in every function, the
// std/os/bjson modules removed and an interrupt handler added. QuickJS calls
// the handler every 10,000 interpreter steps and regexp backtracking steps;
// it calls a WASI host function, which gives the Go scheduler a point to
// stop the goroutine: without one a busy loop in compiled wasm would hold up
// every garbage collection in the process (and with it, the timer that
// interrupts the loop).
func patchQJSWasm(in []byte, maxPages uint32, stackSize int) (*patchedModule, error) {
	if sum := sha256.Sum256(in); hex.EncodeToString(sum[:]) != qjsWasmSHA256 {
		return nil, errors.New("qjs.wasm is not the binary of github.com/fastschema/qjs v0.0.6; the sandbox is written for that one")
	}
	secs, err := readSections(in)
	if err != nil {
		return nil, err
	}
	m := &moduleInfo{}
	for _, s := range secs {
		if err := m.read(s); err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	if m.target < 0 || m.clockImport < 0 || m.handlerType < 0 || m.ownFuncs == 0 || m.heapBase == 0 {
		return nil, errors.New("unexpected module layout")
	}
	// Each runtime mallocs its C stack before anything else (see newVM); an
	// initial memory that already holds it spares growing (copying) the
	// memory page by page.
	minPages := (m.heapBase + uint64(stackSize) + stackGuard + 2*wasmPage) / wasmPage
	if minPages >= uint64(maxPages)/2 {
		return nil, fmt.Errorf("a %d-byte stack does not fit in %d pages of memory", stackSize, maxPages)
	}
	handler := m.importedFuncs + m.ownFuncs // index of the added function
	out := append([]byte{}, in[:8]...)
	for _, s := range secs {
		body := s.body
		switch s.id {
		case secFunction:
			body, err = appendToVector(body, binary.AppendUvarint(nil, uint64(m.handlerType)))
		case secTable:
			body, err = growTable(body)
		case secMemory:
			body, err = capMemory(body, uint32(minPages), maxPages)
		case secGlobal:
			body, err = addLimitGlobal(body)
		case secExport:
			body, err = addGlobalExports(body)
		case secElem:
			var slot uint32
			body, slot, err = addTableEntry(body, handler)
			m.slot = slot
		case secCode:
			body, err = instrumentCode(body, m.target, m.importedFuncs, handlerBody(m.clockImport))
		case secData:
			var data []dataSegment
			body, data, err = emptyDataSegments(body)
			m.data = data
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if m.slot == 0 {
		return nil, errors.New("no element section")
	}
	if len(m.data) == 0 {
		return nil, errors.New("no data section")
	}
	for _, d := range m.data {
		if uint64(d.offset)+uint64(len(d.bytes)) > m.heapBase {
			return nil, errors.New("a data segment lies above __heap_base")
		}
	}
	return &patchedModule{wasm: out, interruptSlot: m.slot, data: m.data}, nil
}

// moduleInfo is what the patcher needs to know before rewriting.
type moduleInfo struct {
	importedFuncs uint64
	ownFuncs      uint64
	clockImport   int64  // wasi clock_time_get
	handlerType   int64  // (i32, i32) -> i32
	target        int    // New_QJSContext among the module's own functions
	heapBase      uint64 // initial __stack_pointer, which is __heap_base
	slot          uint32
	data          []dataSegment
}

func (m *moduleInfo) read(s wasmSection) error {
	var err error
	switch s.id {
	case secType:
		m.handlerType = findFuncType(s.body, []byte{0x60, 2, 0x7f, 0x7f, 1, 0x7f})
	case secImport:
		m.importedFuncs, m.clockImport, err = readImports(s.body)
	case secFunction:
		r := &reader{b: s.body}
		m.ownFuncs = r.uleb()
		err = r.err
	case secGlobal:
		m.heapBase, err = stackPointerInit(s.body)
	case secExport:
		idx, ok, err2 := findFuncExport(s.body, newQJSContextExport)
		switch {
		case err2 != nil:
			err = err2
		case !ok || idx < m.importedFuncs:
			err = fmt.Errorf("export %s not found", newQJSContextExport)
		default:
			m.target = int(idx - m.importedFuncs)
		}
	}
	return err
}

// handlerBody is the interrupt handler, (rt, opaque) -> 0: it only calls
// clock_time_get(CLOCK_MONOTONIC, 0, scratch) so that the goroutine passes
// through Go.
func handlerBody(clockImport int64) []byte {
	b := []byte{0x00, 0x41, 0x01, 0x42, 0x00, 0x41, scratchAddr, 0x10}
	b = binary.AppendUvarint(b, uint64(clockImport))
	return append(b, 0x1a, 0x41, 0x00, 0x0b) // drop; i32.const 0; end
}

func findFuncType(body []byte, want []byte) int64 {
	r := &reader{b: body}
	n := r.uleb()
	for i := int64(0); uint64(i) < n && r.err == nil; i++ {
		start := r.p
		if r.byte() != 0x60 {
			return -1
		}
		r.bytes(int(r.uleb())) // params
		r.bytes(int(r.uleb())) // results
		if bytes.Equal(r.b[start:r.p], want) {
			return i
		}
	}
	return -1
}

func readImports(body []byte) (funcs uint64, clock int64, err error) {
	r := &reader{b: body}
	n := r.uleb()
	clock = -1
	for i := uint64(0); i < n && r.err == nil; i++ {
		mod := string(r.bytes(int(r.uleb())))
		name := string(r.bytes(int(r.uleb())))
		switch kind := r.byte(); kind {
		case 0x00:
			r.uleb()
			if mod == "wasi_snapshot_preview1" && name == "clock_time_get" {
				clock = int64(funcs)
			}
			funcs++
		default:
			// Tables, memories or globals would shift the indices this
			// patcher relies on.
			return 0, 0, fmt.Errorf("unexpected import kind %d", kind)
		}
	}
	return funcs, clock, r.err
}

// appendToVector appends one encoded item to a section that is a vector.
func appendToVector(body, item []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.uleb()
	if r.err != nil {
		return nil, r.err
	}
	out := binary.AppendUvarint(nil, n+1)
	out = append(out, body[r.p:]...)
	return append(out, item...), nil
}

// growTable adds one slot to the only table.
func growTable(body []byte) ([]byte, error) {
	r := &reader{b: body}
	if r.uleb() != 1 || r.byte() != 0x70 {
		return nil, errors.New("expected one funcref table")
	}
	flags := r.byte()
	min := r.uleb()
	out := []byte{1, 0x70, flags}
	out = binary.AppendUvarint(out, min+1)
	if flags&1 != 0 {
		out = binary.AppendUvarint(out, r.uleb()+1)
	}
	return out, r.err
}

// addTableEntry appends fn to the only (active, table 0, i32.const offset)
// element segment and returns its table index.
func addTableEntry(body []byte, fn uint64) ([]byte, uint32, error) {
	r := &reader{b: body}
	if r.uleb() != 1 || r.uleb() != 0 || r.byte() != 0x41 {
		return nil, 0, errors.New("expected one active element segment at a constant offset")
	}
	offset := r.uleb() // small and positive, so its SLEB and ULEB agree
	if r.byte() != 0x0b {
		return nil, 0, errors.New("unexpected element offset expression")
	}
	head := r.p
	count := r.uleb()
	if r.err != nil || offset >= 64 {
		return nil, 0, errors.New("unexpected element segment")
	}
	out := append([]byte{}, body[:head]...)
	out = binary.AppendUvarint(out, count+1)
	out = append(out, body[r.p:]...)
	out = binary.AppendUvarint(out, fn)
	return out, uint32(offset + count), nil
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

func capMemory(body []byte, minPages, maxPages uint32) ([]byte, error) {
	r := &reader{b: body}
	if r.uleb() != 1 || r.byte() != 0x00 { // one memory, flags: min only
		return nil, errors.New("expected one memory without a maximum")
	}
	min := r.uleb()
	if r.err != nil {
		return nil, r.err
	}
	min = max(min, uint64(minPages))
	if min > uint64(maxPages) {
		return nil, fmt.Errorf("memory limit (%d pages) is below the module's minimum (%d pages)", maxPages, min)
	}
	out := binary.AppendUvarint([]byte{1, 0x01}, min)
	return binary.AppendUvarint(out, uint64(maxPages)), nil
}

// stackPointerInit reads the initial value of global 0, the mutable i32
// __stack_pointer (the only global: 7f 01 41 <sleb> 0b).
func stackPointerInit(body []byte) (uint64, error) {
	r := &reader{b: body}
	if r.uleb() != 1 || r.byte() != 0x7f || r.byte() != 0x01 || r.byte() != 0x41 {
		return 0, errors.New("expected __stack_pointer as the only global")
	}
	v, n := sleb32(r.b[r.p:])
	if n == 0 || v <= 0 || r.p+n >= len(r.b) || r.b[r.p+n] != 0x0b {
		return 0, errors.New("unexpected __stack_pointer initializer")
	}
	return uint64(v), nil
}

func sleb32(b []byte) (int64, int) {
	var v int64
	var shift uint
	for i, c := range b {
		if i >= 5 {
			return 0, 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, 0
}

// addLimitGlobal appends global 1, sbx_stack_limit (mut i32) = 0: no check
// until the host sets it.
func addLimitGlobal(body []byte) ([]byte, error) {
	if _, err := stackPointerInit(body); err != nil {
		return nil, err
	}
	out := []byte{2}
	out = append(out, body[1:]...)
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
// declarations), empties the functions New_QJSContext (own function
// `target`) uses to register std/os/bjson, and appends the body extra.
func instrumentCode(body []byte, target int, importedFuncs uint64, extra []byte) ([]byte, error) {
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
	funcs = append(funcs, extra)
	out := binary.AppendUvarint(make([]byte, 0, len(body)+len(funcs)*len(stackCheck)+32), uint64(len(funcs)))
	for i, fn := range funcs {
		lr := &reader{b: fn}
		for groups := lr.uleb(); groups > 0 && lr.err == nil; groups-- {
			lr.uleb()
			lr.byte()
		}
		if lr.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, lr.err)
		}
		// Only functions that touch __stack_pointer (global.get 0 = 23 00;
		// a false match in an immediate only adds a check) take stack
		// frames, and the interrupt handler is where every poll goes.
		// Frameless recursion uses no linear memory; wazero stops it with
		// its own "stack overflow".
		if i != len(funcs)-1 && !bytes.Contains(fn[lr.p:], []byte{0x23, 0x00}) {
			out = binary.AppendUvarint(out, uint64(len(fn)))
			out = append(out, fn...)
			continue
		}
		out = binary.AppendUvarint(out, uint64(len(fn)+len(stackCheck)))
		out = append(out, fn[:lr.p]...)
		out = append(out, stackCheck...)
		out = append(out, fn[lr.p:]...)
	}
	return out, nil
}

// emptyDataSegments returns the data section with the bytes of every
// segment removed (the segments themselves stay, so the data count section
// still holds), and the segments it removed. Each must be active, for
// memory 0, at an i32.const offset inside the static data (below
// __heap_base, which the caller checks).
func emptyDataSegments(body []byte) ([]byte, []dataSegment, error) {
	r := &reader{b: body}
	n := r.uleb()
	out := binary.AppendUvarint(nil, n)
	segs := make([]dataSegment, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		if r.uleb() != 0 || r.byte() != 0x41 {
			return nil, nil, fmt.Errorf("data segment %d is not active at a constant offset", i)
		}
		start := r.p
		off, k := sleb32(r.b[r.p:])
		if k == 0 || off < 0 || off > math.MaxUint32 {
			return nil, nil, fmt.Errorf("data segment %d: bad offset", i)
		}
		r.p += k
		if r.byte() != 0x0b {
			return nil, nil, fmt.Errorf("data segment %d: unexpected offset expression", i)
		}
		expr := r.b[start:r.p]
		b := r.bytes(int(r.uleb()))
		if r.err != nil {
			break
		}
		segs = append(segs, dataSegment{offset: uint32(off), bytes: b})
		out = append(out, 0x00, 0x41)
		out = append(out, expr...)
		out = append(out, 0x00) // no bytes
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	if r.p != len(body) {
		return nil, nil, errors.New("trailing bytes after the data segments")
	}
	return out, segs, nil
}
