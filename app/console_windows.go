package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// attachConsole sends the output of a command to the console it was typed
// in. mcptray.exe is a GUI program (no console window opens when it starts
// from the desktop), and Windows gives such a program no standard handles
// even when a console starts it; it can attach to its parent's console
// (AttachConsole(ATTACH_PARENT_PROCESS)). Handles that already work (output
// redirected to a file or a pipe) are kept.
func attachConsole() {
	out, errOut := stdHandle(windows.STD_OUTPUT_HANDLE), stdHandle(windows.STD_ERROR_HANDLE)
	if out && errOut {
		return
	}
	const attachParentProcess = ^uintptr(0) // (DWORD)-1
	if r, _, _ := windows.NewLazySystemDLL("kernel32.dll").NewProc("AttachConsole").Call(attachParentProcess); r == 0 {
		return // started from the desktop: no console to write to
	}
	con, err := windows.CreateFile(windows.StringToUTF16Ptr("CONOUT$"), windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return
	}
	if !out {
		_ = windows.SetStdHandle(windows.STD_OUTPUT_HANDLE, con)
		os.Stdout = os.NewFile(uintptr(con), "/dev/stdout")
	}
	if !errOut {
		_ = windows.SetStdHandle(windows.STD_ERROR_HANDLE, con)
		os.Stderr = os.NewFile(uintptr(con), "/dev/stderr")
	}
}

// stdHandle reports whether a standard handle is one to write to.
func stdHandle(which uint32) bool {
	h, err := windows.GetStdHandle(which)
	if err != nil || h == 0 || h == windows.InvalidHandle {
		return false
	}
	t, err := windows.GetFileType(h)
	return err == nil && t != windows.FILE_TYPE_UNKNOWN
}
