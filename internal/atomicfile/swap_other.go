//go:build !linux && !darwin

package atomicfile

// Elsewhere (Windows, the BSDs) there is no atomic swap: Write checks the
// file and renames over it, which leaves a window of microseconds between
// the two.

func exchange(a, b string) error        { return errNoSwap }
func renameNoReplace(a, b string) error { return errNoSwap }
