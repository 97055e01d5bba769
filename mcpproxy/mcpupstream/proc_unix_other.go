//go:build unix && !linux

package mcpupstream

import "syscall"

// groupAlive reports whether any process is left in the group led by pgid
// (zombies included: there is no portable way to tell them apart).
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}
