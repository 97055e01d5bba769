//go:build unix

package main

import (
	"os/exec"
	"syscall"
	"time"
)

// groupCommand starts cmd in a process group of its own, so that stopping
// it also stops whatever it started (go build's compilers, a gateway's
// stdio children), and so that a terminal's Ctrl-C reaches only the
// harness, which then cleans up in order.
func groupCommand(cmd *exec.Cmd) {
	cmd.SysProcAttr = sysProcAttr()
	if cmd.Cancel != nil { // made by CommandContext
		cmd.Cancel = func() error { return signalGroup(cmd, true) }
		cmd.WaitDelay = 5 * time.Second
	}
}

// signalGroup sends SIGTERM (or SIGKILL) to cmd's process group.
func signalGroup(cmd *exec.Cmd, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}
