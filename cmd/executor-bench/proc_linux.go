package main

import (
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr also asks the kernel to kill the child if the harness dies
// without cleaning up (kill -9).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// renice sets the scheduling priority of every thread of the process group
// pgid (the gateway), or of this process when pgid is 0: Linux keeps nice
// values per thread, and new threads inherit their creator's.
func renice(pgid, nice int) error {
	if pgid != 0 {
		return syscall.Setpriority(syscall.PRIO_PGRP, pgid, nice)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
			return err
		}
	}
	return nil
}
