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
	err := Write(path, []byte("ours"), Options{Unchanged: func([]byte, bool) bool { return false }})
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

// unchangedFrom is the Unchanged of a change made to base ("" for none).
func unchangedFrom(base string, existed bool) func([]byte, bool) bool {
	return func(cur []byte, exists bool) bool { return exists == existed && string(cur) == base }
}

// withHooks sets the test hooks for one test.
func withHooks(t *testing.T, before, after func()) {
	TestHookBeforeReplace, TestHookAfterSwap = before, after
	t.Cleanup(func() { TestHookBeforeReplace, TestHookAfterSwap = nil, nil })
}

// renameIn writes data to path as editors do: a new file renamed over it.
func renameIn(t *testing.T, path, data string) {
	tmp := path + ".editor"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestWriteNeverOverwritesAChange forces another writer's change into the
// window between Write's last check and its replacing the file, written
// in place and by rename, into a missing file, and during the swap back:
// the other change stays and Write says ErrChanged (issue 11).
func TestWriteNeverOverwritesAChange(t *testing.T) {
	for _, c := range []struct {
		name          string
		base          string // "" for a missing file
		before, after func(t *testing.T, path string)
		want          string
	}{
		{"written in place before the swap", "mine", func(t *testing.T, p string) { os.WriteFile(p, []byte("theirs"), 0o644) }, nil, "theirs"},
		{"renamed over before the swap", "mine", func(t *testing.T, p string) { renameIn(t, p, "theirs") }, nil, "theirs"},
		{"made while it was missing", "", func(t *testing.T, p string) { os.WriteFile(p, []byte("theirs"), 0o644) }, nil, "theirs"},
		{"removed before the swap", "mine", func(t *testing.T, p string) { os.Remove(p) }, nil, ""},
		{"another change during the swap back", "mine",
			func(t *testing.T, p string) { renameIn(t, p, "theirs") },
			func(t *testing.T, p string) { renameIn(t, p, "theirs, later") }, "theirs, later"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if c.base != "" {
				os.WriteFile(path, []byte(c.base), 0o600)
			}
			var after func()
			if c.after != nil {
				after = func() { c.after(t, path) }
			}
			withHooks(t, func() { c.before(t, path) }, after)
			err := Write(path, []byte("ours"), Options{Unchanged: unchangedFrom(c.base, c.base != "")})
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("err = %v, want ErrChanged", err)
			}
			got, rerr := os.ReadFile(path)
			if c.want == "" {
				if !errors.Is(rerr, os.ErrNotExist) {
					t.Fatalf("file = %q, want it removed, as the other writer left it", got)
				}
			} else if string(got) != c.want {
				t.Fatalf("file = %q, want %q", got, c.want)
			}
			if left := tempFiles(t, dir); len(left) != 0 {
				t.Fatalf("files left: %v", left)
			}
		})
	}
}

// TestWriteSwapsWhenUnchanged: with nothing in the way, the new version is
// in place and nothing else is left.
func TestWriteSwapsWhenUnchanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	os.WriteFile(path, []byte("mine"), 0o644)
	if err := Write(path, []byte("ours"), Options{Unchanged: unchangedFrom("mine", true)}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if got, _ := os.ReadFile(path); string(got) != "ours" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %q mode %v", got, fi.Mode().Perm())
	}
	if err := Write(filepath.Join(dir, "new.json"), []byte("x"), Options{Unchanged: unchangedFrom("", false)}); err != nil {
		t.Fatal(err)
	}
	if left := tempFiles(t, dir); !slices.Equal(left, []string{"new.json"}) {
		t.Fatalf("files: %v", left)
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
