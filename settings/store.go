package settings

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mcptray/mcptray/internal/atomicfile"
	"github.com/mcptray/mcptray/internal/broadcast"
)

// ErrFileInvalid is wrapped by Modify's error when the file on disk does not
// parse: the change is refused rather than written over the user's work.
var ErrFileInvalid = errors.New("the settings file has an error")

// DefaultPath returns os.UserConfigDir()/mcptray/mcp_settings.json.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config folder: %w", err)
	}
	return filepath.Join(dir, "mcptray", "mcp_settings.json"), nil
}

// Store owns the settings file: it keeps the last good settings, watches
// the file, and makes every change.
type Store struct {
	path  string // the real file, symbolic links followed
	owned bool   // its folder is mcptray's (made by it, or the default): kept 0700
	log   *slog.Logger

	// state is read without a lock: every request the hub serves reads the
	// settings, and must not wait while Modify writes and syncs the file.
	state atomic.Pointer[state]

	changes broadcast.Signal // the settings in effect, or the file's error, changed

	// mu guards raw, and serializes the writers of state (Modify and
	// reload) so that a change is always based on what is on disk. Modify
	// holds it across reading and writing the file: that is what orders two
	// changes made at once.
	mu  sync.Mutex
	raw []byte // the bytes the settings in effect were read from or written as
	// reported are the servers' problems and the warnings of the settings
	// in effect, as logged: each is logged once, when it appears.
	reported map[string]bool
}

// state is what a Store has in effect, replaced whole on every change.
type state struct {
	cur     *Settings
	fileErr error // why the file on disk is not in effect, or nil
}

// Open reads the settings file at path, creating it (and its folder, 0700)
// with no servers when it does not exist. A file that does not parse is not
// an error here: the store starts with no servers, Err reports the problem,
// and the file is read again when it changes.
func Open(path string, logger *slog.Logger) (*Store, error) {
	if path == "" {
		return nil, errors.New("settings: empty path")
	}
	if logger == nil {
		logger = slog.Default()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("settings path: %w", err)
	}
	// Follow a symbolic link (a settings file kept with dotfiles, say) so that
	// a save replaces the file it points to, not the link.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	s := &Store{path: abs, log: logger}
	dir := filepath.Dir(abs)
	_, statErr := os.Stat(dir)
	// The folder is mcptray's when mcptray makes it, or when it is the
	// default one: it holds secrets.json too, so it is kept 0700. A folder
	// the user chose for their own files keeps its mode.
	if def, err := DefaultPath(); errors.Is(statErr, fs.ErrNotExist) || err == nil && filepath.Dir(def) == dir {
		was, err := atomicfile.PrivateDir(dir)
		if err != nil {
			return nil, fmt.Errorf("settings folder: %w", err)
		}
		if was != 0 {
			logger.Warn("the settings folder could be read by other users; made it private (0700)", "path", dir, "mode", was.String())
		}
		s.owned = true
	}
	if removed, err := atomicfile.CleanTemp(abs); err != nil {
		logger.Warn("cannot remove temporary files an interrupted save left", "err", err)
	} else if len(removed) > 0 {
		logger.Info("removed temporary files an interrupted save left", "files", strings.Join(removed, ", "))
	}
	data, err := os.ReadFile(abs)
	if errors.Is(err, fs.ErrNotExist) {
		data = []byte(Empty)
		if err := atomicfile.Write(abs, data, atomicfile.Options{}); err != nil {
			return nil, fmt.Errorf("create settings file: %w", err)
		}
		logger.Info("created settings file", "path", abs)
	} else if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	if fi, err := os.Stat(abs); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("settings file can be read by other users; mcptray writes it 0600 on its next save", "path", abs, "mode", fi.Mode().Perm().String())
	}
	cur, err := Parse(abs, data)
	if err != nil {
		logger.Error("settings file has an error; serving no servers until it is fixed", "err", err)
		s.state.Store(&state{cur: &Settings{Servers: map[string]*Server{}}, fileErr: err})
		return s, nil
	}
	s.raw = data
	s.state.Store(&state{cur: cur})
	s.reportLocked(cur)
	return s, nil
}

// Path returns the settings file's path.
func (s *Store) Path() string { return s.path }

// OwnsFolder reports whether the settings file's folder is mcptray's (the
// default folder, or one it made), which it keeps private (0700); a folder
// the user chose keeps its mode, and holds no secret.
func (s *Store) OwnsFolder() bool { return s.owned }

// Current returns the settings in effect: the last good version of the file.
// Callers must not modify it; use Modify.
func (s *Store) Current() *Settings { return s.state.Load().cur }

// Err returns why the file on disk is not in effect (it does not parse, or
// was removed), or nil.
func (s *Store) Err() error { return s.state.Load().fileErr }

// Changes returns a channel that is closed at the next change of the
// settings in effect or of the file's error state; Current and Err tell what
// they are then. Changes made while nobody looks coalesce.
func (s *Store) Changes() <-chan struct{} { return s.changes.C() }

// setLocked puts st in effect and tells whoever waits on Changes. s.mu must
// be held.
func (s *Store) setLocked(st *state) {
	s.state.Store(st)
	s.reportLocked(st.cur)
	s.changes.Notify()
}

// reportLocked logs the servers' problems and the warnings of settings
// coming into effect that were not in effect before. The hub shows them in
// the servers' states and the control API. s.mu must be held.
func (s *Store) reportLocked(cur *Settings) {
	// By what they say, not where: a save that moves lines is no news.
	now := map[string]bool{}
	for _, e := range cur.Problems() {
		k := "problem\x00" + e.Server + "\x00" + e.Err.Error()
		now[k] = true
		if !s.reported[k] {
			s.log.Error("settings: a server has a problem; the other servers run", "server", e.Server, "err", e)
		}
	}
	for _, e := range cur.Warnings {
		k := "warning\x00" + e.Server + "\x00" + e.Err.Error()
		now[k] = true
		if !s.reported[k] {
			s.log.Warn("settings file warning: " + e.Error())
		}
	}
	s.reported = now
}

// Modify applies fn to a fresh copy of the settings as they are on disk, and
// saves the result atomically; a result the same as the file is not written. It refuses when the file on disk does not
// parse (ErrFileInvalid), and when fn or the result is invalid. If the file
// changes while the new version is being written, the change is made again
// on top of the new contents. The new settings are in effect when it
// returns.
func (s *Store) Modify(fn func(*Settings) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 5 {
		disk, err := os.ReadFile(s.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			disk = nil // recreate it from the settings in effect
		case err != nil:
			return fmt.Errorf("read settings: %w", err)
		}
		base := disk
		if base == nil {
			base = s.raw
			if base == nil {
				base = []byte(Empty)
			}
		}
		next, err := Parse(s.path, base)
		if err != nil {
			return fmt.Errorf("%w: fix it before changing settings: %w", ErrFileInvalid, err)
		}
		before := problemsByServer(next)
		if err := fn(next); err != nil {
			return err
		}
		if err := oneOrMany(next.validate(s.path, nil)); err != nil {
			return err
		}
		if err := newProblem(before, next); err != nil {
			return err
		}
		encoded, err := marshalNoEscape(next)
		if err != nil {
			return fmt.Errorf("encode settings: %w", err)
		}
		out, err := mergeJSON(base, encoded)
		if err != nil {
			return err
		}
		if disk == nil || !bytes.Equal(out, disk) { // a change that changes nothing writes nothing
			err = atomicfile.Write(s.path, out, atomicfile.Options{Unchanged: func(now []byte, exists bool) bool {
				if disk == nil {
					return !exists
				}
				return exists && bytes.Equal(now, disk)
			}})
			if errors.Is(err, atomicfile.ErrChanged) {
				continue
			}
			if err != nil {
				return fmt.Errorf("save settings: %w", err)
			}
		}
		if bytes.Equal(out, s.raw) {
			return nil // already in effect
		}
		saved, err := Parse(s.path, out)
		if err != nil {
			return fmt.Errorf("saved settings do not parse: %w", err)
		}
		s.raw = out
		s.setLocked(&state{cur: saved})
		return nil
	}
	return errors.New("save settings: the file kept changing while it was being saved")
}

// Run watches the file and reloads it when it changes, until ctx ends. A
// change takes effect within about a quarter of a second.
func (s *Store) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("cannot watch the settings file; checking it every second instead", "err", err)
		return s.poll(ctx)
	}
	defer w.Close()
	// Watch the folder, not the file: editors and Modify replace the file by
	// renaming another one over it, which a watch on the file would lose.
	if err := w.Add(filepath.Dir(s.path)); err != nil {
		s.log.Warn("cannot watch the settings folder; checking it every second instead", "err", err)
		return s.poll(ctx)
	}
	const settle = 150 * time.Millisecond // editors write in several steps
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	name := filepath.Base(s.path)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) == name {
				timer.Reset(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.log.Warn("settings watch", "err", err)
			timer.Reset(settle) // events may have been lost
		case <-timer.C:
			s.reload()
		}
	}
}

func (s *Store) poll(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.reload()
		}
	}
}

// reload reads the file and puts it in effect if it parses; otherwise it
// records the error and keeps the last good settings.
func (s *Store) reload() {
	data, err := os.ReadFile(s.path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%s was removed; keeping the last settings until it is back", s.path)
		}
		s.setErrLocked(err)
		return
	}
	if s.raw != nil && bytes.Equal(data, s.raw) {
		s.setErrLocked(nil) // back to what is in effect, or our own save
		return
	}
	next, err := Parse(s.path, data)
	if err != nil {
		s.setErrLocked(err)
		return
	}
	s.raw = data
	s.setLocked(&state{cur: next})
	s.log.Info("settings reloaded", "path", s.path)
}

func (s *Store) setErrLocked(err error) {
	cur := s.state.Load()
	if errString(err) == errString(cur.fileErr) {
		return
	}
	s.setLocked(&state{cur: cur.cur, fileErr: err})
	if err != nil {
		s.log.Error("settings file has an error; keeping the last good settings", "err", err)
	} else {
		s.log.Info("settings file is readable again", "path", s.path)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
