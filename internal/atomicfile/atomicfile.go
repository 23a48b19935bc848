// Package atomicfile writes mcptray's files (the settings, the secrets
// fallback) so that a reader, or a crash, finds either the old contents or
// the new, never a mix: a temporary file in the same folder, written with
// mode 0600, synced, and renamed over the target; then the folder is synced
// so that the rename survives a power cut.
//
// It uses the standard library only, so that the keychain package, which
// otherwise imports only go-keyring, can share it with the settings.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrChanged is returned by Write when Options.Unchanged reported that the
// file changed on disk while the new version was being written.
var ErrChanged = errors.New("the file changed while it was being saved")

// Options adjust Write.
type Options struct {
	// Unchanged, when set, is called after the new contents are synced and
	// just before the rename; if it returns false the write is abandoned
	// with ErrChanged, so that a change someone else made meanwhile is not
	// overwritten.
	Unchanged func() bool
	// Mode is the new file's mode; 0600 when 0. A file that is not
	// mcptray's own (an AI client's config) keeps the mode it had.
	Mode fs.FileMode
}

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
	if opts.Unchanged != nil && !opts.Unchanged() {
		return ErrChanged
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
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
