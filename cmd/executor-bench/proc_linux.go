package main

import "syscall"

// sysProcAttr also asks the kernel to kill the child if the harness dies
// without cleaning up (kill -9).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
