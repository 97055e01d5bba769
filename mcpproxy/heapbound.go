package mcpproxy

import (
	"context"
	"net/http"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// importHeadroom is how many times a large document's size the memory held
// by the Go runtime may grow by while the document is decoded and parsed.
// Importing GitHub's 13 MB description keeps about five times its size
// reachable at the peak, and the collector's default pacing (GOGC=100) lets
// the heap grow to twice what is reachable before it collects: the import
// added ≈ 100 MB to the gateway's RSS. Bounded at five times the request
// body, it adds ≈ 70 MB and takes ≈ 0.1 s longer (0.7 → 0.8 s); at four
// times, ≈ 55 MB and 0.2 s longer.
const importHeadroom = 5

// heapBound holds the soft memory limit that boundHeap lowers, shared by
// concurrent imports.
var heapBound struct {
	sync.Mutex
	holders int
	limit   int64 // the limit while holders > 0
	before  int64 // the limit to restore when the last holder releases
}

// boundHeap lowers the runtime's soft memory limit (debug.SetMemoryLimit)
// to the memory the process holds now (after returning what it freed) plus
// extra bytes, so that the collector runs earlier instead of letting the
// heap double, until release is called. It only ever lowers a limit: an operator's GOMEMLIMIT below
// the bound stays. When what is reachable outgrows the bound, the runtime
// caps the collector's share of the CPU, so a larger document than expected
// is slower to import, never refused.
func boundHeap(extra int64) (release func()) {
	heapBound.Lock()
	defer heapBound.Unlock()
	if heapBound.holders == 0 {
		heapBound.before = debug.SetMemoryLimit(-1)
		// Memory that earlier work freed but the runtime still holds would
		// count as room for this import: return it first (a collection,
		// some milliseconds), so that the bound is what is live plus extra.
		debug.FreeOSMemory()
		heapBound.limit = goMemoryHeld()
	}
	heapBound.holders++
	heapBound.limit += extra
	debug.SetMemoryLimit(min(heapBound.limit, heapBound.before))
	var once sync.Once
	return func() {
		once.Do(func() {
			heapBound.Lock()
			defer heapBound.Unlock()
			heapBound.holders--
			heapBound.limit -= extra
			if heapBound.holders == 0 {
				debug.SetMemoryLimit(heapBound.before)
				// What the import left is garbage now, which the runtime
				// would return to the OS only slowly: give it back.
				go debug.FreeOSMemory()
				return
			}
			debug.SetMemoryLimit(min(heapBound.limit, heapBound.before))
		})
	}
}

// boundLargeBodies bounds the heap's growth (boundHeap) while a request
// with a large body, such as an OpenAPI description sent inline, is decoded
// and imported.
func boundLargeBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > largeDocument {
			defer boundHeap(importHeadroom * r.ContentLength)()
			r = r.WithContext(context.WithValue(r.Context(), heapBoundKey{}, true))
		}
		next.ServeHTTP(w, r)
	})
}

// heapBoundKey marks a context whose request already holds a bound.
type heapBoundKey struct{}

// heapBounded reports whether ctx's request already holds a bound, so that
// the import it makes does not count its document twice.
func heapBounded(ctx context.Context) bool { return ctx.Value(heapBoundKey{}) != nil }

// goMemoryHeld is the memory the soft limit counts: everything the Go
// runtime has mapped, less what it has returned to the OS.
func goMemoryHeld() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	held := int64(s[0].Value.Uint64()) - int64(s[1].Value.Uint64())
	return max(held, 0)
}
