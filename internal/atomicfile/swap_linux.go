package atomicfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

// exchange swaps the files at a and b in one step (renameat2(2),
// RENAME_EXCHANGE, Linux 3.15; ext4, btrfs, xfs and tmpfs among others).
func exchange(a, b string) error {
	return noSwap(unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE))
}

// renameNoReplace renames a to b unless b exists (RENAME_NOREPLACE).
func renameNoReplace(a, b string) error {
	return noSwap(unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE))
}

// noSwap turns "this kernel or filesystem cannot" into errNoSwap.
func noSwap(err error) error {
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EXDEV) {
		return errNoSwap
	}
	return err
}
