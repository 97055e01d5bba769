package sandbox

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

// security.md H6: nothing a script does reaches the gateway's own stdout or
// stderr, including what QuickJS's C code prints, such as an unhandled
// rejection dumped by its job loop.
func TestNothingReachesTheProcessStdoutOrStderr(t *testing.T) {
	e := engine(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := [2]int{}
	for i, fd := range []int{1, 2} {
		if saved[i], err = syscall.Dup(fd); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Dup3(int(w.Fd()), fd, 0); err != nil {
			t.Fatal(err)
		}
	}
	restore := func() {
		for i, fd := range []int{1, 2} {
			_ = syscall.Dup3(saved[i], fd, 0)
			syscall.Close(saved[i])
		}
	}
	for _, code := range []string{
		`console.log("MARKER-log"); console.error("MARKER-error"); return 1`,
		`Promise.reject(new Error("MARKER-unhandled")); return 1`,
		`new Promise((_, reject) => reject("MARKER-job")); await 0; return 1`,
		`throw new Error("MARKER-thrown")`,
		`function f() { return f() } f()`,
	} {
		e.Run(context.Background(), Request{Code: code})
	}
	restore()
	w.Close()
	out, _ := io.ReadAll(r)
	if strings.Contains(string(out), "MARKER") || strings.Contains(string(out), "Error") {
		t.Fatalf("the process printed:\n%s", out)
	}
}
