package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runOn runs req on v (as Run does once it has taken a runtime) and
// discards v.
func runOn(e *Engine, v *vm, req Request) Result {
	defer v.discard()
	r := newRun(e, context.Background(), req, req.Limits.withDefaults(), e.programs.get(req.Code))
	defer r.cancelCalls()
	v.run, r.vm = r, v
	r.execute()
	return r.result()
}

// memoryOf returns a copy of v's linear memory.
func memoryOf(t *testing.T, v *vm) []byte {
	t.Helper()
	b, ok := v.mod.Memory().Read(0, v.mod.Memory().Size())
	if !ok {
		t.Fatal("cannot read the memory")
	}
	return bytes.Clone(b)
}

// firstDifference describes where a and b differ.
func firstDifference(a, b []byte) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d bytes against %d", len(a), len(b))
	}
	var diff []int
	for i := range a {
		if a[i] != b[i] {
			diff = append(diff, i)
		}
	}
	if len(diff) == 0 {
		return ""
	}
	return fmt.Sprintf("%d bytes differ, the first at %d", len(diff), diff[0])
}

// The state a snapshot holds is everything of a runtime: a runtime made
// from it has the memory (byte for byte) and the globals of one built from
// scratch, and the vm points at the same places.
func TestASnapshotRuntimeIsABuiltRuntime(t *testing.T) {
	e := newEngine(t, Options{Prebuilt: -1})
	if e.snap == nil {
		t.Fatal("the Engine has no snapshot")
	}
	if runtime.GOOS == "linux" && e.snap.img == nil {
		t.Fatal("no copy-on-write image on Linux")
	}
	built, err := e.buildVM()
	if err != nil {
		t.Fatal(err)
	}
	defer built.discard()
	clone, err := e.newVM()
	if err != nil {
		t.Fatal(err)
	}
	defer clone.discard()
	if d := firstDifference(memoryOf(t, clone), memoryOf(t, built)); d != "" {
		t.Fatalf("memory of a snapshot runtime and a built one: %s", d)
	}
	if clone.sp.Get() != built.sp.Get() || clone.limit.Get() != built.limit.Get() {
		t.Fatalf("globals: sp %d limit %d, built sp %d limit %d", clone.sp.Get(), clone.limit.Get(), built.sp.Get(), built.limit.Get())
	}
	if clone.jsctx != built.jsctx || clone.stackLow != built.stackLow || clone.stackTop != built.stackTop ||
		clone.files != built.files || clone.memMax != built.memMax || !bytes.Equal(clone.deliverBC, built.deliverBC) {
		t.Fatalf("vm fields differ:\n%+v\n%+v", clone, built)
	}
	if clone.mod == built.mod || clone.callCtx == built.callCtx {
		t.Fatal("the two runtimes share their instance")
	}
}

// The snapshot restores every mutable global of the module: the patched
// module has exactly two globals, both exported.
func TestTheModuleHasNoOtherGlobals(t *testing.T) {
	p, err := patchQJSWasm(qjsWasm, 1024, DefaultStackSize)
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := readSections(p.wasm)
	for _, s := range secs {
		switch s.id {
		case secGlobal:
			if n := (&reader{b: s.body}).uleb(); n != 2 {
				t.Fatalf("%d globals, want 2 (__stack_pointer and %s)", n, exportStackLimit)
			}
		case secImport:
			r := &reader{b: s.body}
			for n := r.uleb(); n > 0 && r.err == nil; n-- {
				r.bytes(int(r.uleb()))
				r.bytes(int(r.uleb()))
				if kind := r.byte(); kind == 0x03 {
					t.Fatal("the module imports a global")
				}
				r.uleb()
			}
		}
	}
	v, err := engine(t).newVM()
	if err != nil {
		t.Fatal(err)
	}
	defer v.discard()
	for i, name := range []string{exportStackPointer, exportStackLimit} {
		if _, ok := v.mod.ExportedGlobal(name).(interface{ Set(uint64) }); !ok {
			t.Fatalf("global %d is not exported as the mutable %s", i, name)
		}
	}
}

// The data segments of the patched module are empty: instantiating it
// writes nothing over the snapshot.
func TestThePatchedModuleHasEmptyDataSegments(t *testing.T) {
	p, err := patchQJSWasm(qjsWasm, 1024, DefaultStackSize)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, d := range p.data {
		total += len(d.bytes)
	}
	if len(p.data) != 63 || total < 30000 {
		t.Fatalf("%d segments, %d bytes", len(p.data), total)
	}
	secs, _ := readSections(p.wasm)
	for _, s := range secs {
		if s.id == secData {
			_, segs, err := emptyDataSegments(s.body)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range segs {
				if len(d.bytes) != 0 || d.offset != p.data[i].offset {
					t.Fatalf("segment %d: %d bytes at %d", i, len(d.bytes), d.offset)
				}
			}
		}
	}
}

// Where the system cannot map the image, runtimes copy the snapshot; they
// are the same runtimes.
func TestTheCopyFallbackMakesTheSameRuntimes(t *testing.T) {
	e := newEngine(t, Options{Prebuilt: -1})
	built, err := e.buildVM()
	if err != nil {
		t.Fatal(err)
	}
	want := memoryOf(t, built)
	built.discard()
	s := *e.snap
	s.img = nil
	s.runs = nonZeroRuns(want)
	v, err := e.cloneVM(&s)
	if err != nil {
		t.Fatal(err)
	}
	if d := firstDifference(memoryOf(t, v), want); d != "" {
		t.Fatalf("copied runtime: %s", d)
	}
	wantValue(t, runOn(e, v, Request{Code: "return (await tools.x({ n: 2 })).args.n + 40", Bridge: echoBridge(0)}), "42")

	if e.snap.img != nil { // the path for a memory the image could not be mapped into
		buf := make([]byte, len(want))
		if err := e.snap.img.copyTo(buf); err != nil {
			t.Fatal(err)
		}
		if d := firstDifference(buf, want); d != "" {
			t.Fatalf("image read back: %s", d)
		}
	}
}

// What a run writes stays in its runtime: not in the next runtime, not in
// the image, not in the runtimes made before.
func TestARunWritesOnlyItsOwnPages(t *testing.T) {
	e := newEngine(t, Options{Prebuilt: -1})
	before, err := e.newVM()
	if err != nil {
		t.Fatal(err)
	}
	defer before.discard()
	v, err := e.newVM()
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("sbx-marker-" + strings.Repeat("q", 40))
	r := newRun(e, context.Background(), Request{Code: "globalThis.m = 'sbx-marker-' + 'q'.repeat(40); Object.prototype.polluted = 1; return m.length"}, Limits{}.withDefaults(), e.programs.get("globalThis.m = 'sbx-marker-' + 'q'.repeat(40); Object.prototype.polluted = 1; return m.length"))
	v.run, r.vm = r, v
	r.execute()
	r.cancelCalls()
	wantValue(t, r.result(), "51")
	if !bytes.Contains(memoryOf(t, v), marker) {
		t.Fatal("the marker is not in the memory of the run that made it")
	}
	after, err := e.newVM()
	if err != nil {
		t.Fatal(err)
	}
	defer after.discard()
	for name, w := range map[string]*vm{"a runtime made before": before, "a runtime made after": after} {
		if bytes.Contains(memoryOf(t, w), marker) {
			t.Fatalf("the marker is in %s", name)
		}
	}
	if img := e.snap.img; img != nil {
		buf := make([]byte, img.size)
		if err := img.copyTo(buf); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(buf, marker) {
			t.Fatal("the marker is in the image")
		}
	}
	v.discard()
	wantValue(t, runOn(e, after, Request{Code: "return [typeof m, ({}).polluted === undefined]"}), `["undefined",true]`)
}

func TestSnapshotRuntimesStartClean(t *testing.T) {
	e := newEngine(t, Options{Prebuilt: 2})
	ctx := context.Background()
	// Each run tampers with the intrinsics the prelude uses and with the
	// globals; the next sees none of it.
	tamper := `globalThis.leak = 'x'; Object.prototype.leak = 1; Array.prototype.push = null;
JSON.stringify = () => '"hijacked"'; Math.random = () => 4; Date.now = () => 0;
Promise.prototype.then = function () { throw new Error('hijacked') }; return 1`
	check := `return [typeof leak, ({}).leak, typeof [].push, JSON.stringify({a: 1}), Math.random() < 1, Date.now() > 1e12]`
	for range 3 {
		e.Run(ctx, Request{Code: tamper})
		wantValue(t, e.Run(ctx, Request{Code: check}), `["undefined",null,"function","{\"a\":1}",true,true]`)
	}
	// Math.random is seeded per run, not captured in the snapshot.
	seen := map[string]bool{}
	for range 5 {
		res := e.Run(ctx, Request{Code: "return Math.random()"})
		seen[string(res.Value)] = true
	}
	if len(seen) != 5 {
		t.Fatalf("Math.random() gave %d distinct first values in 5 runs", len(seen))
	}
	// Date and Math.random replay on snapshot runtimes.
	code := "const a = [Date.now(), Math.random()]; await tools.x(); return [...a, Date.now(), Math.random()]"
	first := e.Run(ctx, Request{Code: code, Bridge: echoBridge(0)})
	time.Sleep(5 * time.Millisecond)
	again := e.Run(ctx, Request{Code: code, Replay: first.Trace})
	if first.Status != StatusCompleted || !bytes.Equal(first.Value, again.Value) {
		t.Fatalf("replay: %s %s, then %s %s", first.Status, first.Value, again.Status, again.Value)
	}
}

// The limits hold on snapshot runtimes, and a runtime that hit one leaves
// nothing behind for the next.
func TestLimitsHoldOnSnapshotRuntimes(t *testing.T) {
	e := newEngine(t, Options{MemoryLimit: 16 << 20, Prebuilt: 1})
	ctx := context.Background()
	wantError(t, e.Run(ctx, Request{Code: "function f(n) { return n === 0 ? 0 : 1 + f(n - 1) } return f(1e6)"}), KindStack, "stack overflow")
	wantValue(t, e.Run(ctx, Request{Code: "function f(n) { return n === 0 ? 0 : 1 + f(n - 1) } return f(1000)"}), "1000")
	wantError(t, e.Run(ctx, Request{Code: "const a = []; for (;;) a.push('x'.repeat(1 << 16) + a.length)"}), KindMemory, "out of memory")
	wantValue(t, e.Run(ctx, Request{Code: "return new Uint8Array(4 << 20).length"}), "4194304")
	t0 := time.Now()
	wantError(t, e.Run(ctx, Request{Code: "for (;;) {}", Limits: Limits{Timeout: 200 * time.Millisecond}}), KindTimeout, "timed out after 200ms")
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("the interrupt took %v", d)
	}
	wantValue(t, e.Run(ctx, Request{Code: "return 1+1"}), "2")
}

// Runtimes whose scripts grew the memory are unmapped when discarded:
// neither private memory nor the shared image grows over 1,000 of them.
func TestGrownRuntimesAreUnmapped(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := newEngine(t, Options{Prebuilt: -1})
	// 8 MiB more than the snapshot, written (and read) page by page.
	req := Request{Code: "const b = new Uint8Array(8 << 20); for (let i = 0; i < b.length; i += 4096) b[i] = 1; let s = 0; for (let i = 0; i < b.length; i += 4096) s += b[i]; return s"}
	run := func(n int) {
		for range n {
			wantValue(t, e.Run(context.Background(), req), "2048")
		}
		for len(e.retired) > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	run(50)
	anon0 := rssAnon(t)
	run(1000)
	anon1 := rssAnon(t)
	t.Logf("anonymous RSS %d → %d KiB over 1000 runs", anon0>>10, anon1>>10)
	if anon1 > anon0+8<<20 && !raceEnabled {
		t.Errorf("anonymous RSS grew from %d KiB to %d KiB", anon0>>10, anon1>>10)
	}
	// The image is sealed at its size, and only its own range is mapped
	// from it: what runtimes touch beyond it is their own anonymous memory.
	if img := e.snap.img; img != nil {
		if used := img.allocated(); used > int64(img.size) {
			t.Errorf("the image holds %d KiB, more than its %d KiB", used>>10, img.size>>10)
		}
	}
}

// rssAnon returns the process's anonymous RSS, idle Go heap returned.
func rssAnon(t *testing.T) int64 {
	t.Helper()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if f[0] == "RssAnon:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no RssAnon in /proc/self/status")
	return 0
}

// cloneVM prepares the exports the probe run called, with the call stacks
// it needed. This reaches into wazero (see callstack.go): if a new version
// of wazero changes what presizeStack relies on, this fails.
func TestCallStacksArePresized(t *testing.T) {
	e := engine(t)
	var eval warmExport
	for _, w := range e.snap.warm {
		if w.f == qjsExports.eval {
			eval = w
		}
	}
	if eval.stack < 64<<10 {
		t.Fatalf("QJS_Eval needed a stack of %d bytes in the probe run, expected more than 64 KiB", eval.stack)
	}
	v, err := e.newVM()
	if err != nil {
		t.Fatal(err)
	}
	defer v.discard()
	if v.fns[qjsExports.eval] == nil || callStackSize(v.fns[qjsExports.eval]) != eval.stack {
		t.Fatalf("QJS_Eval's stack was not presized to %d bytes", eval.stack)
	}
	wantValue(t, runOn(e, v, Request{Code: "function f(n) { return n === 0 ? 0 : 1 + f(n - 1) } return f(2000)"}), "2000")
}

func TestTheModuleHasNoRandomSource(t *testing.T) {
	for _, d := range engine(t).machine.compiled.ImportedFunctions() {
		if _, name, _ := d.Import(); name == "random_get" {
			t.Fatal("the module imports random_get: give every instance a random source of its own (see newMachine)")
		}
	}
}

func TestExportNamesMatchTheirFields(t *testing.T) {
	f := reflect.ValueOf(*qjsExports)
	if f.NumField() != numExports {
		t.Fatalf("%d fields, %d names", f.NumField(), numExports)
	}
	for i := range f.NumField() {
		field := strings.TrimRight(strings.ToLower(f.Type().Field(i).Name), "0123456789")
		name := strings.ToLower(strings.ReplaceAll(exportNames[f.Field(i).Uint()], "_", ""))
		name = strings.TrimPrefix(strings.TrimPrefix(strings.TrimRight(name, "0123456789"), "qjs"), "js")
		if f.Field(i).Uint() != uint64(i) || name != field {
			t.Errorf("field %s is export %d, %s", f.Type().Field(i).Name, f.Field(i).Uint(), exportNames[f.Field(i).Uint()])
		}
	}
}
