package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// The sandbox takes the wasm binary out of qjs v0.0.6 through go:linkname;
// this fails if the variable disappears or holds another binary.
func TestQJSWasmIsLinked(t *testing.T) {
	sum := sha256.Sum256(qjsWasm)
	if got := hex.EncodeToString(sum[:]); got != qjsWasmSHA256 {
		t.Fatalf("github.com/fastschema/qjs.wasmBytes has sha256 %s (%d bytes), want the v0.0.6 binary", got, len(qjsWasm))
	}
}

func TestPatchRefusesOtherBinaries(t *testing.T) {
	bad := append([]byte(nil), qjsWasm...)
	bad[len(bad)-1] ^= 1
	if _, err := patchQJSWasm(bad, 1024, DefaultStackSize); err == nil || !strings.Contains(err.Error(), "v0.0.6") {
		t.Fatalf("patching a different binary: %v", err)
	}
	if _, err := patchQJSWasm([]byte("not wasm"), 1024, DefaultStackSize); err == nil {
		t.Fatal("patching garbage succeeded")
	}
}

func TestPatchedModuleLayout(t *testing.T) {
	p, err := patchQJSWasm(qjsWasm, 1024, DefaultStackSize)
	if err != nil {
		t.Fatal(err)
	}
	if p.interruptSlot != 542 {
		t.Fatalf("interrupt handler in table slot %d, want 542 (after the 541 original entries)", p.interruptSlot)
	}
	secs, err := readSections(p.wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		if s.id == secMemory {
			r := &reader{b: s.body}
			n, flags, min, max := r.uleb(), r.byte(), r.uleb(), r.uleb()
			if n != 1 || flags != 1 || max != 1024 || min*wasmPage < 165408+DefaultStackSize+stackGuard {
				t.Fatalf("memory section: n=%d flags=%d min=%d max=%d", n, flags, min, max)
			}
		}
	}
}

// The C stack is a malloc'ed block: nothing else is ever allocated inside
// it, and the initial memory holds it.
func TestTheHeapStaysOutOfTheStack(t *testing.T) {
	e := newEngine(t, Options{Prebuilt: -1})
	v, err := e.newVM()
	if err != nil {
		t.Fatal(err)
	}
	defer v.discard()
	base := v.stackLow - stackGuard
	for _, size := range []uint64{1, 16, 4096, 100000, 1 << 20, 4 << 20} {
		if p := v.call(v.fn.malloc, size); p+size > base && p < v.stackTop {
			t.Fatalf("malloc(%d) = %d, inside the stack block [%d, %d)", size, p, base, v.stackTop)
		}
	}
	if uint64(v.mod.Memory().Size()) < v.stackTop {
		t.Fatal("the stack block is not inside the memory")
	}
	if sp := v.sp.Get(); sp != v.stackTop {
		t.Fatalf("stack pointer %d after the prelude, want %d", sp, v.stackTop)
	}
	if v.stackLow < 165408 || v.stackTop-v.stackLow < DefaultStackSize-16 {
		t.Fatalf("stack [%d, %d) is not a %d-byte block above the static data", v.stackLow, v.stackTop, DefaultStackSize)
	}
}

func TestMemoryLimitOption(t *testing.T) {
	e := newEngine(t, Options{MemoryLimit: 16 << 20, Prebuilt: 1})
	wantError(t, e.Run(context.Background(), Request{Code: "const b = new Uint8Array(20 << 20); return b.length"}), KindMemory, "out of memory")
	wantValue(t, e.Run(context.Background(), Request{Code: "const b = new Uint8Array(4 << 20); return b.length"}), "4194304")
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{MemoryLimit: 1 << 20},
		{StackSize: 1024},
		{MemoryLimit: 16 << 20, StackSize: 8 << 20},
	} {
		if e, err := New(opts); err == nil {
			e.Close()
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
}
