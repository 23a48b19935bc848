package keychain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcptray/mcptray/internal/atomicfile"
)

// fileStore is secrets.json: the fallback where no keychain answers, mode
// 0600 in a 0700 folder, replaced atomically on every change. It is read
// again when it changes on disk.
type fileStore struct {
	path string

	// mu guards data, mtime and size, and is held across a save of the
	// file: that is what keeps two saves from undoing each other.
	mu    sync.Mutex
	data  map[string]string
	mtime time.Time
	size  int64
}

// secretsFile is the format of secrets.json.
type secretsFile struct {
	Version int               `json:"version"`
	Secrets map[string]string `json:"secrets"`
}

// loadLocked reads the file if it changed since the last read. f.mu must be
// held.
func (f *fileStore) loadLocked() error {
	fi, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		f.data, f.mtime, f.size = map[string]string{}, time.Time{}, 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("secrets file: %w", err)
	}
	if f.data != nil && fi.ModTime().Equal(f.mtime) && fi.Size() == f.size {
		return nil
	}
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("secrets file: %w", err)
	}
	var sf secretsFile
	if err := json.Unmarshal(raw, &sf); err != nil {
		// Never print the contents: they are secrets.
		return fmt.Errorf("secrets file %s is not valid JSON", f.path)
	}
	if sf.Secrets == nil {
		sf.Secrets = map[string]string{}
	}
	f.data, f.mtime, f.size = sf.Secrets, fi.ModTime(), fi.Size()
	return nil
}

func (f *fileStore) get(key string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.loadLocked(); err != nil {
		return nil, false, err
	}
	v, ok := f.data[key]
	if !ok {
		return nil, false, nil
	}
	return []byte(v), true, nil
}

func (f *fileStore) set(key string, value []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.loadLocked(); err != nil {
		return err
	}
	f.data[key] = string(value)
	return f.saveLocked()
}

func (f *fileStore) delete(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.loadLocked(); err != nil {
		return err
	}
	if _, ok := f.data[key]; !ok {
		return nil
	}
	delete(f.data, key)
	return f.saveLocked()
}

func (f *fileStore) saveLocked() error {
	raw, err := json.MarshalIndent(secretsFile{Version: 1, Secrets: f.data}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("secrets folder: %w", err)
	}
	if err := atomicfile.Write(f.path, append(raw, '\n'), atomicfile.Options{}); err != nil {
		return fmt.Errorf("save secrets file: %w", err)
	}
	if fi, err := os.Stat(f.path); err == nil {
		f.mtime, f.size = fi.ModTime(), fi.Size()
	}
	return nil
}
