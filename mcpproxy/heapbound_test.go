package mcpproxy

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"testing"
)

func memoryLimit() int64 { return debug.SetMemoryLimit(-1) }

func TestBoundHeapLowersTheLimitUntilTheLastImportEnds(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	debug.FreeOSMemory()
	held := goMemoryHeld()
	first := boundHeap(100 << 20)
	// What the runtime holds moves a little between the two readings.
	if l := memoryLimit(); l < held/2+100<<20 || l > held+200<<20 {
		t.Fatalf("limit %d MB while importing, want about %d MB held + 100 MB", l>>20, held>>20)
	}
	one := memoryLimit()
	second := boundHeap(50 << 20)
	if l := memoryLimit(); l != one+50<<20 {
		t.Fatalf("a concurrent import raised the limit to %d MB, want %d MB", l>>20, (one+50<<20)>>20)
	}
	first()
	first() // releasing twice changes nothing
	if l := memoryLimit(); l != one-100<<20+50<<20 {
		t.Fatalf("after the first import the limit is %d MB, want the second's bound %d MB", l>>20, (one-50<<20)>>20)
	}
	second()
	if l := memoryLimit(); l != math.MaxInt64 {
		t.Fatalf("after the last import the limit is %d, want none", l)
	}
}

// Garbage that earlier work left is returned before an import is bounded,
// so it never counts as room for the import (the gateway after a busy
// spell held ≈ 100 MB more than it used, and an import grew from there).
func TestBoundHeapDoesNotCountGarbageAsRoom(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	debug.FreeOSMemory()
	floor := goMemoryHeld()
	garbage := make([][]byte, 0, 200)
	for range 200 {
		garbage = append(garbage, make([]byte, 1<<20))
	}
	garbage[0][0] = 1
	garbage = nil
	if held := goMemoryHeld(); held < floor+150<<20 {
		t.Fatalf("the test's garbage is not held: %d MB, from %d MB", held>>20, floor>>20)
	}
	release := boundHeap(10 << 20)
	defer release()
	if l := memoryLimit(); l > floor+60<<20 {
		t.Fatalf("limit %d MB while importing, want about %d MB live + 10 MB: the garbage counted as room", l>>20, floor>>20)
	}
}

func TestBoundHeapKeepsALowerOperatorLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	release := boundHeap(1 << 30)
	if l := memoryLimit(); l != 64<<20 {
		t.Fatalf("limit %d while importing, want the operator's 64 MiB", l)
	}
	release()
	if l := memoryLimit(); l != 64<<20 {
		t.Fatalf("limit %d after the import, want the operator's 64 MiB back", l)
	}
}

func TestLargeBodiesAreImportedUnderABound(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	for _, tt := range []struct {
		name    string
		size    int
		bounded bool
	}{
		{"a small body runs as usual", 1 << 10, false},
		{"a large body holds a bound while it is handled", largeDocument + 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var limit int64
			var marked bool
			h := boundLargeBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				limit, marked = memoryLimit(), heapBounded(r.Context())
			}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/api/openapi/specs", bytes.NewReader(make([]byte, tt.size))))
			if got := limit != math.MaxInt64; got != tt.bounded || marked != tt.bounded {
				t.Fatalf("bounded %v (limit %d), marked %v; want %v", got, limit, marked, tt.bounded)
			}
			if l := memoryLimit(); l != math.MaxInt64 {
				t.Fatalf("after the request the limit is %d, want none", l)
			}
		})
	}
}
