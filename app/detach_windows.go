package main

import (
	"syscall"

	"golang.org/x/sys/windows"
)

// detached makes a child a process group of its own, without the console
// of the process that started it (CreateProcess, DETACHED_PROCESS and
// CREATE_NEW_PROCESS_GROUP): closing the client does not end it.
func detached() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.DETACHED_PROCESS | windows.CREATE_NEW_PROCESS_GROUP}
}
