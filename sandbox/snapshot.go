package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

	"github.com/tetratelabs/wazero/experimental"
)

// Building a runtime (buildVM) costs ≈1.5 ms of CPU, nearly all of it
// QuickJS creating its runtime and context and evaluating the prelude.
// Everything that goes into it is deterministic (the same module, the same
// calls, wazero's fake clock, the Engine's own prelude bytecode), so every
// runtime starts with the same linear memory and the same values in the
// module's two mutable globals (TestASnapshotRuntimeIsABuiltRuntime checks
// it byte for byte). New builds one runtime, the template, and keeps that
// state as a snapshot; every further runtime is a new instance of the
// module whose memory starts as a copy of the snapshot's and whose globals
// are set to the snapshot's values: ≈0.1 ms for the instance, with the
// preparation below ≈0.3 ms, instead of 1.5.
//
// On Linux the memory is a copy-on-write mapping of a sealed memfd holding
// the snapshot (memory_linux.go): making a runtime copies nothing, the
// pages it only reads stay shared with every other runtime, and a page it
// writes becomes its own at the first write. Elsewhere the non-zero pages
// of the snapshot are copied into a fresh memory.
//
// A fresh mapping costs a page fault for every page a run touches (≈30,
// ≈4 µs each on the 2-core VM), and fresh wazero functions start with
// small call stacks that the run then grows (QJS_Eval to ≈130 KiB, ≈80 µs):
// that would put ≈0.2 ms back on the request path. So New also makes one
// runtime from the snapshot and runs a probe on it (learnPages), and
// cloneVM, in the background refill, prepares every runtime for what the
// probe needed: it maps the pages the probe touched (MADV_POPULATE_*), looks
// up the exports it called and gives their functions the call stacks they
// grew to (callstack.go), recycled from discarded runtimes.
//
// Isolation is as before: each runtime is a separate instance with its own
// memory, no page a runtime writes is visible to any other, and the
// snapshot (the file) itself can no longer be written by anyone.
//
// What the template holds outside its memory and globals is rebuilt for
// every runtime by instantiate: the wazero instance with its function
// table, the exported functions, the Go context that carries the vm to the
// host functions. The addresses the vm keeps (the JSContext, the C stack,
// the C strings) point into linear memory and so are the same in every
// runtime.

// snapshot is the state of a runtime as buildVM leaves it.
type snapshot struct {
	size      uint32 // bytes of linear memory in use
	sp, limit uint64 // __stack_pointer and sbx_stack_limit
	layout    vmLayout
	img       *memoryImage  // the copy-on-write image, or nil
	runs      []dataSegment // the non-zero pages, when img is nil
	// warm are the exports the probe run called, with the size their call
	// stacks grew to (see learnPages and callstack.go).
	warm []warmExport
}

type warmExport struct {
	f     export
	stack int
	// stacks are zeroed stacks of that size, taken from discarded
	// runtimes (see vm.discard): ≈270 KiB less garbage per runtime.
	stacks chan []byte
}

// stackPoolSize bounds each pool of call stacks.
const stackPoolSize = 8

// newStack returns a zeroed call stack for w.
func (w *warmExport) newStack() []byte {
	select {
	case s := <-w.stacks:
		return s
	default:
		return make([]byte, w.stack)
	}
}

// recycle returns the call stacks of v's warm exports to their pools.
func (s *snapshot) recycle(v *vm) {
	for i := range s.warm {
		w := &s.warm[i]
		fn := v.fns[w.f]
		if w.stacks == nil || fn == nil {
			continue
		}
		if st := takeStack(fn); len(st) == w.stack {
			clear(st) // nothing of a run reaches the next, not even here
			select {
			case w.stacks <- st:
			default:
			}
		}
	}
}

// vmLayout are the addresses in linear memory a vm keeps.
type vmLayout struct {
	jsctx              uint64
	stackLow, stackTop uint64
	files              struct{ code, deliver uint32 }
}

// takeSnapshot records the state of v, which must be fresh from buildVM.
func (e *Engine) takeSnapshot(v *vm) (*snapshot, error) {
	mem := v.mod.Memory()
	buf, ok := mem.Read(0, mem.Size())
	if !ok || len(buf)%wasmPage != 0 {
		return nil, errors.New("cannot read the template's memory")
	}
	s := &snapshot{
		size:  uint32(len(buf)),
		sp:    v.sp.Get(),
		limit: v.limit.Get(),
		layout: vmLayout{
			jsctx:    v.jsctx,
			stackLow: v.stackLow,
			stackTop: v.stackTop,
			files:    v.files,
		},
	}
	img, err := newMemoryImage(buf)
	if err == nil {
		s.img = img
		return s, nil
	}
	if runtime.GOOS == "linux" {
		e.log.Warn("sandbox: no copy-on-write snapshot; runtimes copy it instead", "err", err)
	}
	// One Go buffer for all the runs, so that the snapshot does not keep
	// the template's memory alive.
	runs := nonZeroRuns(buf)
	n := 0
	for _, r := range runs {
		n += len(r.bytes)
	}
	all := make([]byte, 0, n)
	for i, r := range runs {
		all = append(all, r.bytes...)
		runs[i].bytes = all[len(all)-len(r.bytes):]
	}
	s.runs = runs
	return s, nil
}

// probeCode is what learnPages runs: new code (compiled, not taken from
// the program cache), a tool call and a result, like most runs.
const probeCode = "const r = await tools.probe({ n: 1 }); return r.ok"

// learnPages runs probeCode on a runtime made from the snapshot and
// records what it needed that cloneVM can prepare ahead of the run: the
// pages of memory it touched (see memoryImage.learn), the exports it
// called and their call stacks.
func (e *Engine) learnPages(s *snapshot) error {
	v, err := e.cloneVM(s)
	if err != nil {
		return err
	}
	defer v.discard()
	bridge := BridgeFunc(func(context.Context, Call) (json.RawMessage, error) {
		return json.RawMessage(`{"ok":true}`), nil
	})
	r := newRun(e, context.Background(), Request{Code: probeCode, Bridge: bridge}, Limits{}.withDefaults(), prepare(probeCode))
	defer r.cancelCalls()
	v.run, r.vm = r, v
	r.execute()
	if res := r.result(); res.Status != StatusCompleted {
		return fmt.Errorf("the probe run failed: %s", res.Error)
	}
	for f, fn := range v.fns {
		if fn == nil {
			continue
		}
		w := warmExport{f: export(f)}
		// The stacks that grew, and a quarter more, for runs a little
		// deeper than the probe; a fresh function has the initial size.
		if n := callStackSize(fn); n > callStackSize(v.mod.ExportedFunction(exportNames[f])) {
			w.stack = n * 5 / 4
			w.stacks = make(chan []byte, stackPoolSize)
		}
		s.warm = append(s.warm, w)
	}
	if s.img != nil {
		buf, _ := v.mod.Memory().Read(0, s.size)
		s.img.learn(buf)
	}
	return nil
}

func (s *snapshot) close() {
	if s != nil && s.img != nil {
		s.img.close()
	}
}

// cloneVM makes a runtime from the snapshot.
func (e *Engine) cloneVM(s *snapshot) (_ *vm, err error) {
	mapped := false
	alloc := experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		if s.img != nil {
			if m := s.img.allocate(max); m != nil {
				mapped = true
				return m
			}
		}
		return newLinearMemory(max)
	})
	v, err := e.instantiate(experimental.WithMemoryAllocator(context.Background(), alloc))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			v.discard()
		}
	}()
	// The instance's memory has the module's initial size and nothing
	// written in it (the data segments are empty); wazero sees the
	// snapshot's size only once it has grown to it.
	mem := v.mod.Memory()
	if cur := mem.Size(); cur < s.size {
		if _, ok := mem.Grow((s.size - cur) / wasmPage); !ok {
			return nil, errors.New("cannot grow the memory to the snapshot's size")
		}
	}
	if mem.Size() != s.size {
		return nil, fmt.Errorf("a new instance has %d bytes of memory, the snapshot %d", mem.Size(), s.size)
	}
	for i := range s.warm {
		w := &s.warm[i]
		fn := v.function(w.f)
		if w.stack > 0 && !presizeStack(fn, w.newStack) {
			break // wazero is not as callstack.go expects
		}
	}
	v.snap = s
	if mapped {
		buf, _ := mem.Read(0, s.size)
		s.img.prefault(buf)
	} else {
		buf, _ := mem.Read(0, s.size)
		if s.img != nil {
			if err := s.img.copyTo(buf); err != nil {
				return nil, fmt.Errorf("copying the snapshot: %w", err)
			}
		} else {
			for _, r := range s.runs {
				copy(buf[r.offset:], r.bytes)
			}
		}
	}
	v.sp.Set(s.sp)
	v.limit.Set(s.limit)
	v.jsctx = s.layout.jsctx
	v.stackLow, v.stackTop = s.layout.stackLow, s.layout.stackTop
	v.files = s.layout.files
	v.deliverBC = e.deliver
	return v, nil
}

// osPage is the granularity of the zero-page scan.
const osPage = 4096

// nonZeroRuns returns the maximal runs of osPage pages of mem that are not
// all zero (slices of mem).
func nonZeroRuns(mem []byte) []dataSegment {
	var zero [osPage]byte
	var runs []dataSegment
	start := -1
	for off := 0; off < len(mem); off += osPage {
		page := mem[off:min(off+osPage, len(mem))]
		nonZero := !bytes.Equal(page, zero[:len(page)])
		if nonZero && start < 0 {
			start = off
		} else if !nonZero && start >= 0 {
			runs = append(runs, dataSegment{offset: uint32(start), bytes: mem[start:off]})
			start = -1
		}
	}
	if start >= 0 {
		runs = append(runs, dataSegment{offset: uint32(start), bytes: mem[start:]})
	}
	return runs
}
