package sandbox

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// memoryImage holds a snapshot of a runtime's linear memory in a sealed
// memfd. Each runtime made from it maps the file privately (copy-on-write)
// over the start of its own anonymous mapping: the pages are shared until
// the runtime writes one, which then becomes its own, and nothing a runtime
// does reaches the file or another runtime. The seals make the file
// read-only for good (and fixed in size) once written.
type memoryImage struct {
	fd   int
	size uint64
	// The pages a typical run writes and the ones it only reads (see
	// learn); prefault maps them before the runtime is handed out.
	write, read []pageRange
}

// pageRange is a range of OS pages: [first, first+n).
type pageRange struct{ first, n uint32 }

func newMemoryImage(mem []byte) (_ *memoryImage, err error) {
	fd, err := unix.MemfdCreate("qjs-snapshot", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	img := &memoryImage{fd: fd, size: uint64(len(mem))}
	defer func() {
		if err != nil {
			img.close()
		}
	}()
	if err := unix.Ftruncate(fd, int64(len(mem))); err != nil {
		return nil, fmt.Errorf("ftruncate: %w", err)
	}
	// Zero pages stay holes: the file only holds what a runtime reads.
	for _, run := range nonZeroRuns(mem) {
		for b, off := run.bytes, int64(run.offset); len(b) > 0; {
			n, err := unix.Pwrite(fd, b, off)
			if err != nil {
				return nil, fmt.Errorf("writing the snapshot: %w", err)
			}
			b, off = b[n:], off+int64(n)
		}
	}
	seals := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return nil, fmt.Errorf("sealing the snapshot: %w", err)
	}
	return img, nil
}

// allocate returns an anonymous mapping of max bytes whose first img.size
// bytes are a private mapping of the image, or nil if it cannot be made.
// Past the image the memory is anonymous (zero) pages, not the file: pages
// of the file that a runtime touches are kept in the page cache for every
// runtime, which is right for the image and would be wrong for the heap a
// script grows.
func (img *memoryImage) allocate(max uint64) experimental.LinearMemory {
	if max < img.size {
		return nil
	}
	m := mapAnonymous(max)
	if m == nil {
		return nil
	}
	_, err := unix.MmapPtr(img.fd, 0, unsafe.Pointer(unsafe.SliceData(m.buf)), uintptr(img.size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|mapNoReserve)
	if err != nil {
		m.Free()
		return nil
	}
	return m
}

// copyTo copies the image into b (for a memory allocate could not map).
func (img *memoryImage) copyTo(b []byte) error {
	if uint64(len(b)) < img.size {
		return fmt.Errorf("the memory is smaller than the snapshot")
	}
	for off := uint64(0); off < img.size; {
		n, err := unix.Pread(img.fd, b[off:img.size], int64(off))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("the snapshot file ends at %d bytes", off)
		}
		off += uint64(n)
	}
	return nil
}

func (img *memoryImage) close() { _ = unix.Close(img.fd) }

// allocated returns the bytes of memory the image's file holds, or -1.
func (img *memoryImage) allocated() int64 {
	var st unix.Stat_t
	if unix.Fstat(img.fd, &st) != nil {
		return -1
	}
	return st.Blocks * 512
}

// Bits of a /proc/self/pagemap entry.
const (
	pagemapPresent = 1 << 63
	pagemapFile    = 1 << 61 // a page of the file (or shared), not a private copy
)

// learn records which pages of the image a run made in mem (a mapping from
// allocate) wrote — those are private copies now — and which it only read:
// the pages a fresh runtime will need, which prefault maps ahead of time.
// Without /proc/self/pagemap nothing is learnt and runs fault their pages
// in as they go.
func (img *memoryImage) learn(mem []byte) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return
	}
	defer f.Close()
	pages := img.size / osPage
	entries := make([]byte, 8*pages)
	if _, err := f.ReadAt(entries, int64(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))/osPage*8)); err != nil {
		return
	}
	var write, read []pageRange
	add := func(rs []pageRange, p uint32) []pageRange {
		if n := len(rs); n > 0 && rs[n-1].first+rs[n-1].n == p {
			rs[n-1].n++
			return rs
		}
		return append(rs, pageRange{p, 1})
	}
	for p := range uint32(pages) {
		e := binary.LittleEndian.Uint64(entries[8*p:])
		switch {
		case e&pagemapPresent == 0:
		case e&pagemapFile == 0:
			write = add(write, p)
		default:
			read = add(read, p)
		}
	}
	img.write, img.read = write, read
}

// prefault maps the pages learn found into mem, a fresh mapping from
// allocate, so that the run does not take a page fault for each: the
// written ones as private copies, the read ones shared. It is an
// optimisation only (MADV_POPULATE_* needs Linux 5.14): whatever fails
// here, the run faults the pages in itself.
func (img *memoryImage) prefault(mem []byte) {
	for _, r := range img.write {
		if unix.Madvise(mem[r.first*osPage:(r.first+r.n)*osPage], unix.MADV_POPULATE_WRITE) != nil {
			return
		}
	}
	for _, r := range img.read {
		if unix.Madvise(mem[r.first*osPage:(r.first+r.n)*osPage], unix.MADV_POPULATE_READ) != nil {
			return
		}
	}
}
