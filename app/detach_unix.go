//go:build unix

package main

import "syscall"

// detached makes a child a session of its own: no signal of the terminal
// or the client that started this process reaches it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
