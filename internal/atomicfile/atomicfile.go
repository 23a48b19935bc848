// Package atomicfile writes mcptray's files (the settings, the secrets
// fallback) so that a reader, or a crash, finds either the old contents or
// the new, never a mix: a temporary file in the same folder, written with
// mode 0600, synced, and renamed over the target; then the folder is synced
// so that the rename survives a power cut.
//
// A conditional write (Options.Unchanged) never overwrites a change made
// by someone else, whatever the timing: on Linux and macOS the new file is
// swapped in (renameat2 RENAME_EXCHANGE, renamex_np RENAME_SWAP) and what
// it displaced is checked; a change found there is swapped back.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrChanged is returned by Write when Options.Unchanged reported that the
// file changed on disk while the new version was being written. The file
// then holds the other change.
var ErrChanged = errors.New("the file changed while it was being saved")

// errNoSwap says the system or the filesystem cannot swap two files.
var errNoSwap = errors.New("no atomic swap here")

// Options adjust Write.
type Options struct {
	// Unchanged, when set, makes the write conditional: it reports whether
	// the file's contents (or its absence) are still those the new
	// version was made from. Write asks it before replacing the file and,
	// where it can swap files, of what the swap displaced; on false the
	// write is undone and Write returns ErrChanged.
	Unchanged func(current []byte, exists bool) bool
	// Mode is the new file's mode; 0600 when 0. A file that is not
	// mcptray's own (an AI client's config) keeps the mode it had.
	Mode fs.FileMode
}

// TestHookBeforeReplace and TestHookAfterSwap, when set, run just before
// Write replaces the file and just after it swapped the new version in:
// tests make another writer's change land there.
var TestHookBeforeReplace, TestHookAfterSwap func()

// maxSwapBacks bounds the swaps that put others' changes back: each is
// needed only for a change made within microseconds of the last.
const maxSwapBacks = 16

// tempPrefix is how Write names its temporary files: hidden, and tied to
// the file they replace, so that CleanTemp finds those a crash left.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// Write replaces path with data atomically, with mode 0600 (or
// opts.Mode).
func Write(path string, data []byte, opts Options) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	// Windows has no Unix modes: Chmod there only sets the read-only bit,
	// and the file is private to the user by its folder's ACL.
	mode := opts.Mode
	if mode == 0 {
		mode = 0o600
	}
	if err = f.Chmod(mode); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if opts.Unchanged != nil {
		err = replaceIfUnchanged(tmp, path, data, opts.Unchanged)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// readCurrent reads path, telling a missing file apart.
func readCurrent(path string) (data []byte, exists bool, err error) {
	data, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return data, err == nil, err
}

// replaceIfUnchanged puts tmp (holding data) at path if path is as
// unchanged says it must be. A check and a rename would leave a window
// between them, in which another writer's change would be lost under the
// rename (issue 11); so the new version is swapped in, and what the swap
// displaced is checked: if it is a change, it is swapped back. Should
// another change land during that (the file then holds the new version
// for microseconds), the newest is swapped back in its turn, so that path
// ends with the last change anyone made. Without a swap, the window stays.
func replaceIfUnchanged(tmp, path string, data []byte, unchanged func([]byte, bool) bool) error {
	cur, exists, err := readCurrent(path)
	if err != nil {
		return err
	}
	if !unchanged(cur, exists) {
		return ErrChanged
	}
	if TestHookBeforeReplace != nil {
		TestHookBeforeReplace()
	}
	if !exists {
		err := renameNoReplace(tmp, path)
		switch {
		case errors.Is(err, errNoSwap):
			return os.Rename(tmp, path)
		case errors.Is(err, fs.ErrExist):
			return ErrChanged // someone made it meanwhile
		}
		return err
	}
	switch err := exchange(tmp, path); {
	case errors.Is(err, errNoSwap):
		return os.Rename(tmp, path)
	case errors.Is(err, fs.ErrNotExist):
		return ErrChanged // someone removed it meanwhile
	case err != nil:
		return err
	}
	if TestHookAfterSwap != nil {
		TestHookAfterSwap()
	}
	got, err := os.ReadFile(tmp) // what the swap displaced
	if err != nil {
		return err
	}
	if unchanged(got, true) {
		return os.Remove(tmp)
	}
	// put is what path holds now, as far as Write knows; got is the change
	// to put back.
	put := data
	for range maxSwapBacks {
		if err := exchange(tmp, path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return ErrChanged // removed meanwhile: that is the last change
			}
			return err
		}
		took, err := os.ReadFile(tmp)
		if err != nil {
			return err
		}
		if bytes.Equal(took, put) {
			return ErrChanged // nothing came meanwhile: path holds got
		}
		put, got = got, took // a newer change came: put it back too
	}
	return ErrChanged
}

// syncDir makes a rename in dir durable. Windows cannot open a folder for
// syncing, and commits renames on its own.
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// CleanTemp removes the temporary files that a Write to path interrupted by
// a crash left in its folder, and returns their names. Call it at start,
// before anything writes path.
func CleanTemp(path string) ([]string, error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	prefix := tempPrefix(path)
	var removed []string
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// PrivateDir makes dir (and its parents) if it is missing, with mode 0700,
// and tightens it to 0700 when it exists with access for others. It reports
// the mode it had when it tightened it, 0 otherwise. Call it only for a
// folder mcptray owns: a folder the user chose for their own files keeps its
// mode.
func PrivateDir(dir string) (was fs.FileMode, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	if runtime.GOOS == "windows" {
		return 0, nil // no Unix modes; the profile folder's ACL keeps it private
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("%s is not a folder", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&0o700|0o700); err != nil {
			return 0, fmt.Errorf("make %s private: %w", dir, err)
		}
		return perm, nil
	}
	return 0, nil
}
