//go:build !unix

package main

import (
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
