//go:build unix && !linux

package main

import (
	"errors"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func renice(pgid, nice int) error { return errors.New("-nice is only supported on Linux") }
