//go:build !linux

package sandbox

import (
	"errors"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryImage is a memfd on Linux; elsewhere runtimes made from a snapshot
// copy its non-zero pages into their memory (see snapshot.go).
type memoryImage struct{ size uint64 }

func newMemoryImage([]byte) (*memoryImage, error) {
	return nil, errors.New("no copy-on-write snapshots on this system")
}

func (*memoryImage) allocate(uint64) experimental.LinearMemory { return nil }
func (*memoryImage) copyTo([]byte) error                       { return errors.New("no snapshot image") }
func (*memoryImage) close()                                    {}
func (*memoryImage) learn([]byte)                              {}
func (*memoryImage) prefault([]byte)                           {}
func (*memoryImage) allocated() int64                          { return -1 }
