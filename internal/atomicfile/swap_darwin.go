package atomicfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

// exchange swaps the files at a and b in one step (renamex_np(2),
// RENAME_SWAP; APFS and HFS+).
func exchange(a, b string) error {
	return noSwap(unix.RenamexNp(a, b, unix.RENAME_SWAP))
}

// renameNoReplace renames a to b unless b exists (RENAME_EXCL).
func renameNoReplace(a, b string) error {
	return noSwap(unix.RenamexNp(a, b, unix.RENAME_EXCL))
}

// noSwap turns "this filesystem cannot" into errNoSwap.
func noSwap(err error) error {
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EINVAL) {
		return errNoSwap
	}
	return err
}
