//go:build linux || darwin || freebsd

package sandbox

import (
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// mmapMemory backs a runtime's linear memory with its own mapping of the
// maximum size. Nothing is committed until touched, growing never copies,
// and Free returns the pages to the system at once — instead of a Go slice
// that is reallocated (and copied) as QuickJS grows its heap, zeroed, and
// left to the garbage collector.
type mmapMemory struct{ buf []byte }

// memoryAllocator returns the allocator for runtimes built from scratch, or
// nil to use wazero's default.
func memoryAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		return newLinearMemory(max)
	})
}

// newLinearMemory returns an anonymous mapping of max bytes, or a Go slice
// if the mapping fails.
func newLinearMemory(max uint64) experimental.LinearMemory {
	if m := mapAnonymous(max); m != nil {
		return m
	}
	return &sliceMemory{max: max}
}

func mapAnonymous(max uint64) *mmapMemory {
	if max == 0 || max > 4<<30 {
		return nil
	}
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(max), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|mapNoReserve)
	if err != nil {
		return nil
	}
	return &mmapMemory{buf: unsafe.Slice((*byte)(p), max)}
}

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

func (m *mmapMemory) Free() {
	if m.buf != nil {
		_ = unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(m.buf)), uintptr(len(m.buf)))
		m.buf = nil
	}
}
