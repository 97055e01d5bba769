package main

import "syscall"

func pgid() int {
	g, _ := syscall.Getpgid(0)
	return g
}
