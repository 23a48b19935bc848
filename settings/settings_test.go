package settings

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/internal/atomicfile"
)

// copyFixture puts testdata/name into a fresh folder and returns its path.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mcp_settings.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTripOfMCPHubFileChangesNothing(t *testing.T) {
	path := copyFixture(t, "mcphub_settings.json")
	orig, _ := os.ReadFile(path)
	s := openStore(t, path)
	if err := s.Err(); err != nil {
		t.Fatalf("MCPHub file did not load: %v", err)
	}
	if err := s.Modify(func(*Settings) error { return nil }); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != string(orig) {
		t.Fatalf("a save without changes changed the file:\n%s", lineDiff(string(orig), string(got)))
	}
}

func TestSaveChangesOnlyWhatChanged(t *testing.T) {
	path := copyFixture(t, "mcphub_settings.json")
	orig, _ := os.ReadFile(path)
	s := openStore(t, path)
	err := s.Modify(func(st *Settings) error {
		f := false
		st.Servers["amap"].Enabled = &f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(string(orig), "      \"enabled\": true,\n      \"owner\": \"admin\"", "      \"enabled\": false,\n      \"owner\": \"admin\"", 1)
	if want == string(orig) {
		t.Fatal("test fixture changed: the replacement did not apply")
	}
	if string(got) != want {
		t.Fatalf("diff beyond the change:\n%s", lineDiff(want, string(got)))
	}
}

func TestAddedServerGoesLastAndKeepsTheRest(t *testing.T) {
	path := copyFixture(t, "mcphub_settings.json")
	orig, _ := os.ReadFile(path)
	s := openStore(t, path)
	err := s.Modify(func(st *Settings) error {
		st.Servers["everything"] = &Server{Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-everything"}, Env: map[string]string{"A": "<b>"}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	added := countChangedLines(string(orig), string(got))
	// Ten lines are inserted ("}," closing the server before, then the new
	// server's nine lines); every other line stays.
	if added != 10 {
		t.Errorf("%d lines changed, want 10:\n%s", added, lineDiff(string(orig), string(got)))
	}
	if !strings.Contains(string(got), `"A": "<b>"`) {
		t.Error("the new value was HTML-escaped; MCPHub writes < as it is")
	}
	names := s.Current().ServerNames()
	if names[len(names)-1] != "everything" {
		t.Errorf("server order %v: the new server should be last", names)
	}
	if names[0] != "amap" || names[1] != "playwright" {
		t.Errorf("server order %v does not follow the file", names)
	}
}

func TestMCPHubFieldsAreRead(t *testing.T) {
	s := openStore(t, copyFixture(t, "mcphub_settings.json"))
	st := s.Current()
	if got := st.Servers["amap"].Kind(); got != TypeStdio {
		t.Errorf("amap kind %q, want stdio (command, no type)", got)
	}
	if got := st.Servers["notes-日本"].Kind(); got != TypeStreamableHTTP {
		t.Errorf("http alias kind %q, want streamable-http", got)
	}
	if st.Servers["notes-日本"].IsEnabled() {
		t.Error("notes should be disabled")
	}
	if st.Servers["fetch"].Tools["fetch"].Description != "Fetch a URL <as markdown> & more" {
		t.Error("tool override not read")
	}
	if st.Servers["github"].Options.Timeout != 120000 {
		t.Error("options.timeout not read")
	}
	if st.Servers["linear"].OAuth.PendingAuthorization.CodeVerifier == "" {
		t.Error("oauth.pendingAuthorization not read")
	}
	if st.Separator() != "-" || st.BaseURL() != "http://localhost:3000" {
		t.Errorf("systemConfig: separator %q base %q", st.Separator(), st.BaseURL())
	}
	g := st.FindGroup("dev")
	if g == nil || len(g.Servers) != 2 || g.Servers[0].Name != "fetch" || !g.Servers[1].Tools.Allows("search_code") || g.Servers[1].Tools.Allows("create_issue") {
		t.Errorf("group dev not read right: %+v", g)
	}
	if st.FindGroup("0b7d3a5e-2f1c-4b6a-8d9e-7c4f2a1b3e55") == nil {
		t.Error("group not found by id")
	}
	if len(st.ActiveBearerKeys()) != 0 {
		t.Error("a disabled bearer key counts as active")
	}
	if st.Servers["petstore"].Kind() != TypeOpenAPI {
		t.Error("openapi server not kept as such")
	}
}

func TestFirstRunCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config", "mcptray")
	path := filepath.Join(dir, "mcp_settings.json")
	s := openStore(t, path)
	if len(s.Current().Servers) != 0 {
		t.Fatal("new settings should have no servers")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != Empty {
		t.Errorf("new file holds %q", data)
	}
	if runtime.GOOS == "windows" {
		return
	}
	checkMode(t, path, 0o600)
	checkMode(t, dir, 0o700)
}

// TestOpenTidiesItsFolder: the temporary file of a save interrupted by a
// crash is removed at the next start, and the default settings folder, which
// holds secrets.json too, is made private when it was not; a folder the user
// chose keeps its mode.
func TestOpenTidiesItsFolder(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes on Windows")
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	path, err := DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	leftover := filepath.Join(dir, ".mcp_settings.json.tmp-4242")
	os.WriteFile(leftover, []byte("{half"), 0o600)
	openStore(t, path)
	checkMode(t, dir, 0o700)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("the interrupted save's temporary file is still there (%v)", err)
	}

	own := t.TempDir()
	os.Chmod(own, 0o755)
	openStore(t, filepath.Join(own, "mcp_settings.json"))
	checkMode(t, own, 0o755)
}

func TestSaveIsAtomicAndPrivate(t *testing.T) {
	path := copyFixture(t, "mcphub_settings.json")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path)
	before, _ := os.Stat(path)
	err := s.Modify(func(st *Settings) error {
		st.Servers["x"] = &Server{URL: "http://127.0.0.1:1/mcp"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if os.SameFile(before, after) {
		t.Error("the file was written in place, not replaced by a rename")
	}
	checkMode(t, path, 0o600)
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestModifyThatChangesNothingWritesNothing(t *testing.T) {
	path := copyFixture(t, "mcphub_settings.json")
	s := openStore(t, path)
	sub := s.Changes()
	before, _ := os.Stat(path)
	err := s.Modify(func(st *Settings) error {
		for _, srv := range st.Servers {
			if srv.Enabled != nil {
				on := *srv.Enabled
				srv.Enabled = &on // the value it has
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("the file was rewritten though nothing changed")
	}
	select {
	case <-sub:
		t.Error("subscribers were told of a change that changed nothing")
	default:
	}
}

// TestModifyKeepsAnEditMadeDuringTheSave forces a user's edit into the
// window between Modify's last check of the file and its replacing it:
// the edit stays, and Modify's change is made again on top of it (issue
// 11).
func TestModifyKeepsAnEditMadeDuringTheSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(path, []byte(`{"mcpServers": {"a": {"command": "x"}}}`), 0o600)
	s := openStore(t, path)
	edited := false
	atomicfile.TestHookBeforeReplace = func() {
		if edited {
			return
		}
		edited = true
		// The user's editor saves, as editors do: a new file renamed over.
		tmp := filepath.Join(dir, "edit.tmp")
		os.WriteFile(tmp, []byte(`{"mcpServers": {"a": {"command": "x"}, "mine": {"command": "y"}}}`), 0o644)
		os.Rename(tmp, path)
	}
	t.Cleanup(func() { atomicfile.TestHookBeforeReplace = nil })
	err := s.Modify(func(st *Settings) error {
		st.Servers["added"] = &Server{Command: "z"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !edited {
		t.Fatal("the hook did not run: nothing was forced")
	}
	got, _ := os.ReadFile(path)
	st, err := Parse(path, got)
	if err != nil {
		t.Fatal(err)
	}
	if st.Servers["mine"] == nil || st.Servers["added"] == nil || st.Servers["a"] == nil {
		t.Fatalf("the file lost a change: %s", got)
	}
	if cur := s.Current(); cur.Servers["mine"] == nil || cur.Servers["added"] == nil {
		t.Errorf("the settings in effect lack a change: %v", cur.ServerNames())
	}
}

func TestSymlinkedFileStaysALink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "mcp.json")
	os.MkdirAll(filepath.Dir(real), 0o700)
	os.WriteFile(real, []byte(Empty), 0o600)
	link := filepath.Join(dir, "mcp_settings.json")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("symlinks not available:", err)
	}
	s := openStore(t, link)
	if err := s.Modify(func(st *Settings) error {
		st.Servers["a"] = &Server{Command: "true"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Lstat(link)
	if fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the save replaced the symbolic link with a file")
	}
	data, _ := os.ReadFile(real)
	if !strings.Contains(string(data), `"a"`) {
		t.Error("the linked file did not get the change")
	}
}

func TestModifyRefusesWhileTheFileIsBroken(t *testing.T) {
	path := copyFixture(t, "mcphub_settings.json")
	s := openStore(t, path)
	broken := []byte("{\"mcpServers\": {\"half\": {\"comm")
	os.WriteFile(path, broken, 0o600)
	err := s.Modify(func(st *Settings) error {
		st.Servers["y"] = &Server{Command: "true"}
		return nil
	})
	if !errors.Is(err, ErrFileInvalid) {
		t.Fatalf("Modify over a broken file: %v, want ErrFileInvalid", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != string(broken) {
		t.Error("Modify overwrote the broken file")
	}
}

func TestModifyBuildsOnTheUsersEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp_settings.json")
	s := openStore(t, path)
	// The user adds a server in an editor; the watcher has not run yet.
	os.WriteFile(path, []byte("{\n  \"mcpServers\": {\n    \"mine\": {\"command\": \"cat\"}\n  }\n}\n"), 0o600)
	if err := s.Modify(func(st *Settings) error {
		st.Servers["ours"] = &Server{Command: "true"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st := s.Current()
	if st.Servers["mine"] == nil || st.Servers["ours"] == nil {
		t.Fatalf("servers after Modify: %v", st.ServerNames())
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"mine": {"command": "cat"}`) {
		t.Errorf("the user's formatting of their server was lost:\n%s", data)
	}
}

func TestWatchAppliesEditsAndKeepsLastGoodOnErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp_settings.json")
	s := openStore(t, path)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { stop(); <-done }()
	time.Sleep(100 * time.Millisecond) // let the watch start

	os.WriteFile(path, []byte(`{"mcpServers": {"a": {"command": "x"}}}`), 0o600)
	st := waitSettings(t, s, func(st *Settings) bool { return st.Servers["a"] != nil })
	if s.Err() != nil {
		t.Fatalf("Err after a good edit: %v", s.Err())
	}

	os.WriteFile(path, []byte(`{"mcpServers": {"a": {"command": "x"}, "b": {"comm`), 0o600)
	waitFor(t, func() bool { return s.Err() != nil })
	if !strings.Contains(s.Err().Error(), "invalid JSON") {
		t.Errorf("error %v", s.Err())
	}
	if s.Current() != st {
		t.Error("a broken edit replaced the settings in effect")
	}

	// A mistake in one server is that server's problem: the file takes
	// effect for the others.
	os.WriteFile(path, []byte(`{"mcpServers": {"a": {"command": "x"}, "c": {"type": "nope", "url": "http://x"}}}`), 0o600)
	st = waitSettings(t, s, func(st *Settings) bool { return st.Servers["c"] != nil })
	if s.Err() != nil || st.Servers["a"].Problem != nil || st.Servers["c"].Problem == nil {
		t.Errorf("Err %v, problems %v / %v", s.Err(), st.Servers["a"].Problem, st.Servers["c"].Problem)
	}

	os.WriteFile(path, []byte(`{"mcpServers": {"b": {"url": "http://127.0.0.1:1/mcp"}}}`), 0o600)
	waitSettings(t, s, func(st *Settings) bool { return st.Servers["b"] != nil })
	if s.Err() != nil {
		t.Errorf("Err after the fix: %v", s.Err())
	}
}

// waitSettings waits for the settings in effect to satisfy ok, as a
// subscriber does: on each change, it reads them.
func waitSettings(t *testing.T, s *Store, ok func(*Settings) bool) *Settings {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		ch := s.Changes()
		if st := s.Current(); ok(st) {
			return st
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("the edit did not take effect within 2 s")
		}
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 2 s")
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

func countChangedLines(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	// Lines in b that are not at the same place in a, with a common prefix and
	// suffix removed.
	i := 0
	for i < len(al) && i < len(bl) && al[i] == bl[i] {
		i++
	}
	j := 0
	for j < len(al)-i && j < len(bl)-i && al[len(al)-1-j] == bl[len(bl)-1-j] {
		j++
	}
	return max(len(al)-i-j, len(bl)-i-j)
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out.WriteString("- " + x + "\n+ " + y + "\n")
		}
	}
	return out.String()
}
