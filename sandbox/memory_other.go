//go:build !(linux || darwin || freebsd)

package sandbox

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is wazero's default on systems without mmap.
func memoryAllocator() experimental.MemoryAllocator { return nil }
