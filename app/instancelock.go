package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// One mcptray runs per settings file, whatever its --listen: two would
// both connect every server, both write the file, and share its secrets.
// The lock is a file beside the settings file, locked by the OS (flock,
// LockFileEx) so that it is free again when its holder dies, however it
// dies; it holds what a second launch needs to find the one that runs.

// instanceInfo is what the lock file says of the instance that holds it.
type instanceInfo struct {
	PID      int    `json:"pid"`
	URL      string `json:"url,omitempty"`  // its base URL, once it listens
	Addr     string `json:"addr,omitempty"` // the address it listens on, for the commands
	Settings string `json:"settings"`
	Version  string `json:"version,omitempty"`
}

// runningError says that another mcptray runs on the same settings file.
type runningError struct{ instanceInfo }

func (e *runningError) Error() string {
	return fmt.Sprintf("mcptray is already running on %s (%s); use it, or quit it first", e.Settings, e.pidURL())
}

// where says it for a person: "It runs on FILE (pid 12, http://...)."
func (e *runningError) where() string {
	return fmt.Sprintf("It runs on %s (%s).", e.Settings, e.pidURL())
}

func (e *runningError) pidURL() string {
	s := fmt.Sprintf("pid %d", e.PID)
	if e.URL != "" {
		s += ", " + e.URL
	}
	return s
}

// lockPath is the lock file of a settings file: hidden, beside it.
func lockPath(settingsPath string) string {
	return filepath.Join(filepath.Dir(settingsPath), "."+filepath.Base(settingsPath)+".lock")
}

// readInstanceInfo reads the lock file of a settings file: who runs on it,
// or did last (the file stays when its holder dies; only the OS lock goes).
func readInstanceInfo(settingsPath string) (instanceInfo, bool) {
	var info instanceInfo
	data, err := os.ReadFile(lockPath(realPath(settingsPath)))
	if err != nil || json.Unmarshal(data, &info) != nil || info.PID == 0 {
		return instanceInfo{}, false
	}
	return info, true
}

// realPath is a settings file's absolute path, links followed: one lock
// for a file, by whatever name it is given.
func realPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// instanceLock is the lock of a settings file, held.
type instanceLock struct {
	f    *os.File
	info instanceInfo
}

// lockSettings takes the lock of a settings file, or returns a
// *runningError naming the instance that holds it.
func lockSettings(settingsPath string) (*instanceLock, error) {
	abs := realPath(settingsPath)
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("settings folder: %w", err)
	}
	f, err := os.OpenFile(lockPath(abs), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the settings file: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			info, _ := readInstanceInfo(abs)
			info.Settings = abs
			return nil, &runningError{info}
		}
		return nil, fmt.Errorf("lock the settings file: %w", err)
	}
	l := &instanceLock{f: f, info: instanceInfo{PID: os.Getpid(), Settings: abs, Version: version}}
	if err := l.write(); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// listening records where the instance listens, once it does.
func (l *instanceLock) listening(url, addr string) error {
	l.info.URL, l.info.Addr = url, addr
	return l.write()
}

func (l *instanceLock) write() error {
	data, _ := json.Marshal(l.info)
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write the lock file: %w", err)
	}
	if _, err := l.f.WriteAt(append(data, '\n'), 0); err != nil {
		return fmt.Errorf("write the lock file: %w", err)
	}
	return nil
}

// release frees the lock. The file stays: removing it would let a third
// instance lock a new file while a second still waits on the old one.
func (l *instanceLock) release() {
	_ = unlockFile(l.f)
	_ = l.f.Close()
}

// errLocked is lockFile's error when another process holds the lock.
var errLocked = errors.New("locked by another process")
