//go:build !(linux || darwin || freebsd)

package sandbox

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is wazero's default on systems without mmap.
func memoryAllocator() experimental.MemoryAllocator { return nil }

// newLinearMemory returns a Go slice that grows as needed.
func newLinearMemory(max uint64) experimental.LinearMemory { return &sliceMemory{max: max} }
