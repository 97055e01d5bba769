package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	_ "unsafe" // for go:linkname

	_ "github.com/fastschema/qjs" // provides the wasm binary below
)

// qjsWasm is the QuickJS wasm binary embedded in qjs v0.0.6. The sandbox
// patches a copy of it (see wasm.go) and runs it itself (see quickjs.go).
//
//go:linkname qjsWasm github.com/fastschema/qjs.wasmBytes
var qjsWasm []byte

// Options configure an Engine. Zero values mean the defaults.
type Options struct {
	// CacheDir is wazero's compilation cache directory (for example
	// <data dir>/qjs-cache); it makes the first New of a process ≈0.2 s
	// instead of ≈0.8 s. "" keeps the compiled module in memory only.
	CacheDir string
	// MemoryLimit is the wasm linear memory of one runtime, in bytes
	// (rounded up to 64 KiB pages). Default 64 MiB. QuickJS's own allocation
	// limit is set to three quarters of it less the stack, so that most
	// allocations fail
	// with a catchable "out of memory" before the hard cap is reached. The
	// value is compiled into the module: Engines with different limits
	// compile separately (≈0.8 s each, or once per CacheDir).
	MemoryLimit int64
	// Prebuilt is how many ready runtimes are kept; Run takes one and a
	// background goroutine makes the next once a run has finished. Default
	// 4; negative: none (every Run makes its runtime from the snapshot,
	// ≈0.3 ms of CPU; see snapshot.go).
	Prebuilt int
	// StackSize is the C stack of one runtime in bytes. Every recursion in
	// the interpreter (JS calls, the parser, JSON, regular expressions) uses
	// it; past it the run fails with "stack overflow". Default 1 MiB, which
	// allows ≈3,600 nested calls of a small JS function (256 KiB: ≈900;
	// 4 MiB: ≈9,700). Past ≈6,000 calls wazero's own limit on its native
	// call stack (50–100 MB) may end the run first, also as "stack
	// overflow". QuickJS's own 64 KiB stack allowed ≈275 before corrupting
	// memory.
	StackSize int
	// Logger receives internal failures (never the script's logs). Default:
	// discard.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultMemoryLimit = 64 << 20
	DefaultPrebuilt    = 4
	DefaultStackSize   = 1 << 20
)

const (
	wasmPage         = 64 << 10
	minMemoryLimit   = 8 << 20
	maxMemoryLimit   = 4<<30 - wasmPage
	minStackSize     = 64 << 10
	programCacheSize = 256
)

// Engine owns the compiled QuickJS module and a small queue of pre-built,
// never-used runtimes. It is safe for concurrent use: each Run executes on
// its caller's goroutine with a runtime of its own.
type Engine struct {
	opts          Options
	log           *slog.Logger
	machine       *machine
	interruptSlot uint32        // function-table index of the interrupt handler
	data          []dataSegment // the module's static data (see buildVM)
	snap          *snapshot     // what new runtimes are made from; nil: built
	prelude       []byte        // bytecode of prelude.js, compiled by the first runtime
	deliver       []byte        // bytecode of "__sbx_deliver()"
	jsMemoryLimit int           // QuickJS's own allocation limit, below the wasm cap

	ready    chan *vm
	programs *programCache

	mu       sync.Mutex
	closed   bool
	active   map[*run]struct{}
	runs     sync.WaitGroup     // Runs in progress
	calls    sync.WaitGroup     // Bridge goroutines
	closing  <-chan struct{}    // closed by Close
	closeCtx context.Context    // done when closing is closed
	stop     context.CancelFunc // closes closing
	workers  sync.WaitGroup     // refill and retire goroutines
	retired  chan *vm
	wake     chan struct{} // a run finished, or the queue ran low (see refill)
}

// New prepares an Engine: it patches the QuickJS module, compiles it (≈0.8 s;
// ≈0.2 s from CacheDir), builds the first runtime, snapshots it for every
// later one (see snapshot.go) and starts the background refill of Prebuilt
// runtimes.
func New(opts Options) (*Engine, error) {
	if opts.MemoryLimit == 0 {
		opts.MemoryLimit = DefaultMemoryLimit
	}
	if opts.MemoryLimit < minMemoryLimit || opts.MemoryLimit > maxMemoryLimit {
		return nil, fmt.Errorf("sandbox: MemoryLimit must be between %d and %d bytes, not %d", minMemoryLimit, maxMemoryLimit, opts.MemoryLimit)
	}
	opts.MemoryLimit = (opts.MemoryLimit + wasmPage - 1) / wasmPage * wasmPage
	if opts.Prebuilt == 0 {
		opts.Prebuilt = DefaultPrebuilt
	}
	if opts.Prebuilt < 0 {
		opts.Prebuilt = 0
	}
	if opts.StackSize == 0 {
		opts.StackSize = DefaultStackSize
	}
	if opts.StackSize < minStackSize || int64(opts.StackSize) > opts.MemoryLimit/4 {
		return nil, fmt.Errorf("sandbox: StackSize must be between %d bytes and a quarter of MemoryLimit, not %d", minStackSize, opts.StackSize)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if len(qjsWasm) == 0 {
		return nil, errors.New("sandbox: the QuickJS module of github.com/fastschema/qjs is missing (qjs must be v0.0.6)")
	}
	patched, err := patchQJSWasm(qjsWasm, uint32(opts.MemoryLimit/wasmPage), opts.StackSize)
	if err != nil {
		return nil, fmt.Errorf("sandbox: patching the QuickJS module: %w", err)
	}
	m, err := newMachine(patched.wasm, opts.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	e := &Engine{
		opts:          opts,
		log:           opts.Logger,
		interruptSlot: patched.interruptSlot,
		data:          patched.data,
		machine:       m,
		jsMemoryLimit: int(opts.MemoryLimit*3/4) - opts.StackSize,
		ready:         make(chan *vm, max(opts.Prebuilt, 1)),
		programs:      newProgramCache(programCacheSize),
		active:        map[*run]struct{}{},
		retired:       make(chan *vm, 64),
		wake:          make(chan struct{}, 1),
	}
	e.closeCtx, e.stop = context.WithCancel(context.Background())
	e.closing = e.closeCtx.Done()
	// The first runtime compiles the prelude, which leaves its heap unlike
	// that of any later one; the template is the second (see snapshot.go).
	first, err := e.buildVM()
	if err == nil {
		first.discard()
		first, err = e.buildVM()
	}
	if err != nil {
		m.close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if e.snap, err = e.takeSnapshot(first); err != nil {
		e.log.Error("sandbox: no snapshot of the first runtime; every runtime is built from scratch", "err", err)
	} else if err := e.learnPages(e.snap); err != nil {
		e.log.Error("sandbox: learning the pages a run touches", "err", err)
	}
	if opts.Prebuilt > 0 {
		e.ready <- first
		e.workers.Add(1)
		go e.refill()
	} else {
		first.discard()
	}
	e.workers.Add(1)
	go e.retire()
	return e, nil
}

// Close stops the refill, interrupts runs in progress (they fail with a
// timeout), waits for them and for Bridge calls to return, and releases all
// runtimes. It is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for r := range e.active {
		r.vm.interrupt(causeCanceled)
	}
	e.mu.Unlock()
	e.stop()
	e.runs.Wait()
	e.calls.Wait()
	e.workers.Wait()
	for {
		select {
		case v := <-e.ready:
			v.discard()
		case v := <-e.retired: // released after retire() had stopped
			v.discard()
		default:
			e.machine.close()
			e.snap.close()
			return nil
		}
	}
}

// refill keeps e.ready full.
func (e *Engine) refill() {
	defer e.workers.Done()
	backoff := 100 * time.Millisecond
	for {
		v, err := e.newVM()
		if err != nil {
			e.log.Error("sandbox: building a runtime failed", "err", err)
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, 10*time.Second)
				continue
			case <-e.closing:
				return
			}
		}
		backoff = 100 * time.Millisecond
		select {
		case e.ready <- v:
		case <-e.closing:
			v.discard()
			return
		}
		// v took the place of a runtime a run has just taken. With the
		// queue full there is no hurry: the next one is built once a run
		// has finished rather than while it runs, on the same two cores.
		if len(e.ready) == cap(e.ready) {
			select {
			case <-e.wake:
			case <-e.closing:
				return
			}
		}
	}
}

// signalRefill wakes refill if it waits.
func (e *Engine) signalRefill() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// retire closes used runtimes off the callers' goroutines.
func (e *Engine) retire() {
	defer e.workers.Done()
	for {
		select {
		case v := <-e.retired:
			v.discard()
		case <-e.closing:
			for {
				select {
				case v := <-e.retired:
					v.discard()
				default:
					return
				}
			}
		}
	}
}

// take returns an unused runtime and registers the run.
func (e *Engine) take(r *run) (*vm, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errClosed
	}
	e.runs.Add(1)
	e.mu.Unlock()
	var v *vm
	select {
	case v = <-e.ready:
		if len(e.ready) < cap(e.ready)/2 {
			e.signalRefill() // runs are taking runtimes faster than they finish
		}
	default:
		var err error
		if v, err = e.newVM(); err != nil {
			e.runs.Done()
			return nil, err
		}
	}
	v.run = r
	r.vm = v
	e.mu.Lock()
	e.active[r] = struct{}{}
	closed := e.closed
	e.mu.Unlock()
	if closed { // Close started while we were building
		v.interrupt(causeCanceled)
	}
	return v, nil
}

// release discards the run's runtime and unregisters the run.
func (e *Engine) release(r *run) {
	e.mu.Lock()
	delete(e.active, r)
	closed := e.closed
	e.mu.Unlock()
	if closed {
		r.vm.discard()
	} else {
		select {
		case e.retired <- r.vm:
		default:
			r.vm.discard()
		}
		e.signalRefill()
	}
	e.runs.Done()
}
