//go:build linux || darwin || freebsd

package sandbox

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapMemory backs a runtime's linear memory with its own anonymous mapping
// of the maximum size. Nothing is committed until touched, growing never
// copies, and Free returns the pages to the system at once — instead of a
// Go slice that is reallocated (and copied) as QuickJS grows its heap,
// zeroed, and left to the garbage collector.
type mmapMemory struct{ buf []byte }

// memoryAllocator returns the allocator for runtimes, or nil to use
// wazero's default.
func memoryAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(cap, max uint64) experimental.LinearMemory {
		if max == 0 || max > 4<<30 {
			return nil
		}
		b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
		if err != nil {
			return nil
		}
		m := &mmapMemory{buf: b}
		return m
	})
}

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

func (m *mmapMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}
