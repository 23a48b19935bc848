package main

import (
	"os"
	"path/filepath"
	"runtime"

	"github.com/mcptray/mcptray/internal/atomicfile"
)

// maxLog is the size at which the log file is set aside at start.
const maxLog = 10 << 20

// logDir is where the tray app keeps its log: ~/Library/Logs/mcptray on
// macOS, the user cache folder elsewhere (~/.cache/mcptray/logs,
// %LocalAppData%\mcptray\logs).
func logDir() (string, error) {
	if runtime.GOOS == "darwin" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, "Library", "Logs", "mcptray"), nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "mcptray", "logs"), nil
}

// openLogFile opens mcptray.log for appending, mode 0600 in a 0700 folder,
// after moving a log over maxLog to mcptray.log.1.
func openLogFile() (*os.File, error) {
	dir, err := logDir()
	if err != nil {
		return nil, err
	}
	if _, err := atomicfile.PrivateDir(dir); err != nil { // mcptray's own: kept 0700
		return nil, err
	}
	path := filepath.Join(dir, "mcptray.log")
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLog {
		_ = os.Rename(path, path+".1")
	}
	return os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
}
