package main

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockFile locks one byte of f far past its end without waiting. Windows
// locks are mandatory: a lock on the content would keep a second launch
// from reading who holds it.
func lockFile(f *os.File) error {
	ol := lockOverlapped()
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLocked
	}
	return err
}

func unlockFile(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockOverlapped())
}

// lockOverlapped addresses the locked byte: offset 1 GiB.
func lockOverlapped() *windows.Overlapped { return &windows.Overlapped{Offset: 1 << 30} }
