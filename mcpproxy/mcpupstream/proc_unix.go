//go:build unix

package mcpupstream

import "syscall"

func stdioSupported() error { return nil }

// processAttr puts the child in a process group of its own, so that the
// group — the child and whatever it spawned — can be signalled as one, and
// so that a terminal's signals meant for the gateway do not reach it.
//
// There is no Pdeathsig: Linux sends it when the forking OS thread exits,
// which the Go runtime may do at any time. If the gateway dies without
// Close, the child sees EOF on stdin, which ends a well-behaved server.
func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends SIGTERM, or SIGKILL, to the process group led by pid.
func signalGroup(pid int, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-pid, sig)
}
