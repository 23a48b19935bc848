//go:build unix

package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteReplacesWithAPrivateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), Options{}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(got) != "new" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("got %q mode %v, want \"new\" 0600", got, fi.Mode().Perm())
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestWriteGivesWayToAChangeMeanwhile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	os.WriteFile(path, []byte("theirs"), 0o600)
	err := Write(path, []byte("ours"), Options{Unchanged: func() bool { return false }})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("err = %v, want ErrChanged", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "theirs" {
		t.Fatalf("file = %q, want the other writer's", got)
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestCleanTempRemovesOnlyItsOwnLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp_settings.json")
	for _, n := range []string{".mcp_settings.json.tmp-123", ".mcp_settings.json.tmp-abc", ".secrets.json.tmp-9", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600)
	}
	removed, err := CleanTemp(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Fatalf("removed %v, want the two settings temp files", removed)
	}
	left := tempFiles(t, dir)
	if !slices.Equal(left, []string{".secrets.json.tmp-9", "notes.txt"}) {
		t.Fatalf("left %v", left)
	}
	if r, err := CleanTemp(filepath.Join(t.TempDir(), "missing", "f")); err != nil || r != nil {
		t.Fatalf("missing folder: %v %v", r, err)
	}
}

func TestPrivateDirTightensAndCreates(t *testing.T) {
	base := t.TempDir()
	loose := filepath.Join(base, "loose")
	os.Mkdir(loose, 0o755)
	os.Chmod(loose, 0o755)
	was, err := PrivateDir(loose)
	if err != nil || was != 0o755 {
		t.Fatalf("PrivateDir(loose) = %v, %v; want 0755, nil", was, err)
	}
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v, want 0700", fi.Mode().Perm())
	}
	if was, err := PrivateDir(loose); err != nil || was != 0 {
		t.Fatalf("second PrivateDir = %v, %v; want 0, nil", was, err)
	}
	fresh := filepath.Join(base, "a", "b")
	if _, err := PrivateDir(fresh); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Fatalf("new folder mode %v, want 0700", fi.Mode().Perm())
	}
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "f.json" && e.Name() != "mcp_settings.json" {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}
