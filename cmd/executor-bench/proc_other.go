//go:build !unix

package main

import (
	"errors"
	"os/exec"
	"time"
)

// Without process groups, stopping a command kills the process itself.
func groupCommand(cmd *exec.Cmd) {
	if cmd.Cancel != nil {
		cmd.WaitDelay = 5 * time.Second
	}
}

func signalGroup(cmd *exec.Cmd, kill bool) error { return cmd.Process.Kill() }

func renice(pgid, nice int) error { return errors.New("-nice is only supported on Linux") }
