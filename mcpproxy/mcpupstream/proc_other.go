//go:build !unix

package mcpupstream

import (
	"errors"
	"syscall"
)

func stdioSupported() error {
	return errors.New("stdio MCP servers are only supported on Unix-like systems")
}

func processAttr() *syscall.SysProcAttr { return nil }

func signalGroup(int, bool) {}

func groupAlive(int) bool { return false }
