//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The user's own config files, one per client, as the clients write them:
// other servers, other settings, comments and trailing commas where the
// client allows them, tabs, one-line JSON, no file at all.
var clientFixtures = map[string]string{
	"claude-desktop": `{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
    }
  },
  "globalShortcut": "Ctrl+Space"
}
`,
	"claude-code": `{
  "numStartups": 42,
  "theme": "dark",
  "projects": {
    "/home/me/src/app": {
      "allowedTools": [],
      "mcpServers": {}
    }
  },
  "mcpServers": {
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"}
    }
  },
  "hasCompletedOnboarding": true
}
`,
	"cursor":   `{"mcpServers":{"notion":{"url":"https://mcp.notion.com/mcp"}}}`,
	"vscode":   "{\n\t// My servers\n\t\"servers\": {\n\t\t\"memory\": {\n\t\t\t\"command\": \"npx\",\n\t\t\t\"args\": [\"-y\", \"@modelcontextprotocol/server-memory\"], // remembers things\n\t\t},\n\t},\n\t\"inputs\": [],\n}\n",
	"windsurf": "", // no file yet: Windsurf made only its folder
	"zed": `// Zed settings
//
// For information on how to configure Zed, see the Zed
// documentation: https://zed.dev/docs/configuring-zed
{
  "ui_font_size": 16,
  "buffer_font_size": 16,
  "theme": {
    "mode": "system",
    "light": "One Light",
    "dark": "One Dark"
  }
}
`,
	"gemini-cli": `{
  "theme": "Dracula",
  "selectedAuthType": "gemini-api-key",
  /* added by hand */
  "mcpServers": {}
}
`,
	"codex": `# Codex settings
model = "gpt-5-codex"
approval_policy = "on-request"

[projects."/home/me/src"]
trust_level = "trusted"

[mcp_servers.context7]
command = "npx"
args = ["-y", "@upstash/context7-mcp"]
`,
}

// testLayouts are the three platforms' layouts, each in a folder of its own.
func testLayouts(t *testing.T) []layout {
	root := t.TempDir()
	win := filepath.Join(root, "windows", "Users", "me")
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	return []layout{
		{goos: "linux", home: filepath.Join(root, "linux", "home", "me"), env: env(nil)},
		{goos: "linux", home: filepath.Join(root, "linux-xdg", "home", "me"), env: env(map[string]string{"XDG_CONFIG_HOME": filepath.Join(root, "linux-xdg", "xdg")})},
		{goos: "darwin", home: filepath.Join(root, "darwin", "Users", "me"), env: env(nil)},
		{goos: "windows", home: win, env: env(map[string]string{"APPDATA": filepath.Join(win, "AppData", "Roaming")})},
	}
}

// wantPaths are the config files each client reads, relative to the home
// folder (or, for the XDG layout, to the folder it names), per platform.
var wantPaths = map[string]map[string]string{
	"linux": {
		"claude-desktop": ".config/Claude/claude_desktop_config.json", "claude-code": ".claude.json", "cursor": ".cursor/mcp.json",
		"vscode": ".config/Code/User/mcp.json", "windsurf": ".codeium/windsurf/mcp_config.json", "zed": ".config/zed/settings.json",
		"gemini-cli": ".gemini/settings.json", "codex": ".codex/config.toml",
	},
	"linux-xdg": {
		"claude-desktop": "../../xdg/Claude/claude_desktop_config.json", "claude-code": ".claude.json", "cursor": ".cursor/mcp.json",
		"vscode": "../../xdg/Code/User/mcp.json", "windsurf": ".codeium/windsurf/mcp_config.json", "zed": "../../xdg/zed/settings.json",
		"gemini-cli": ".gemini/settings.json", "codex": ".codex/config.toml",
	},
	"darwin": {
		"claude-desktop": "Library/Application Support/Claude/claude_desktop_config.json", "claude-code": ".claude.json", "cursor": ".cursor/mcp.json",
		"vscode": "Library/Application Support/Code/User/mcp.json", "windsurf": ".codeium/windsurf/mcp_config.json", "zed": ".config/zed/settings.json",
		"gemini-cli": ".gemini/settings.json", "codex": ".codex/config.toml",
	},
	"windows": {
		"claude-desktop": "AppData/Roaming/Claude/claude_desktop_config.json", "claude-code": ".claude.json", "cursor": ".cursor/mcp.json",
		"vscode": "AppData/Roaming/Code/User/mcp.json", "windsurf": ".codeium/windsurf/mcp_config.json", "zed": "AppData/Roaming/Zed/settings.json",
		"gemini-cli": ".gemini/settings.json", "codex": ".codex/config.toml",
	},
}

var testTarget = clientTarget{URL: "http://localhost:3999/mcp", Token: "key-for-the-test", Exe: "/opt/mcptray/bin/mcptray", Args: []string{"stdio", "--listen", "127.0.0.1:3999"}}

// wantEntries are the entries connect writes for testTarget, as JSON.
var wantEntries = map[string]string{
	"claude-desktop": `{"command":"/opt/mcptray/bin/mcptray","args":["stdio","--listen","127.0.0.1:3999"]}`,
	"claude-code":    `{"type":"http","url":"http://localhost:3999/mcp","headers":{"Authorization":"Bearer key-for-the-test"}}`,
	"cursor":         `{"url":"http://localhost:3999/mcp","headers":{"Authorization":"Bearer key-for-the-test"}}`,
	"vscode":         `{"type":"http","url":"http://localhost:3999/mcp","headers":{"Authorization":"Bearer key-for-the-test"}}`,
	"windsurf":       `{"serverUrl":"http://localhost:3999/mcp","headers":{"Authorization":"Bearer key-for-the-test"}}`,
	"zed":            `{"url":"http://localhost:3999/mcp","headers":{"Authorization":"Bearer key-for-the-test"}}`,
	"gemini-cli":     `{"httpUrl":"http://localhost:3999/mcp","headers":{"Authorization":"Bearer key-for-the-test"}}`,
	"codex":          `{"url":"http://localhost:3999/mcp","http_headers":{"Authorization":"Bearer key-for-the-test"}}`,
}

// TestConnectEveryClient connects and disconnects every client on each
// platform's layout, against files with the user's own content: the entry
// lands where and as the client reads it, everything else stays as it was
// (every line, in its order), the first change keeps a copy, a second
// connect changes nothing, and disconnect takes the entry out.
func TestConnectEveryClient(t *testing.T) {
	for _, l := range testLayouts(t) {
		name := l.goos
		if l.getenv("XDG_CONFIG_HOME") != "" {
			name = "linux-xdg"
		}
		for i := range clients {
			def := &clients[i]
			t.Run(name+"/"+def.ID, func(t *testing.T) {
				file, markers := def.paths(l)
				if want := filepath.Join(l.home, filepath.FromSlash(wantPaths[name][def.ID])); file != want {
					t.Fatalf("config file %s, want %s", file, want)
				}
				if st := stateOf(def, l, testTarget); st.Installed {
					t.Fatalf("installed before its folder exists: %+v", st)
				}
				if _, err := connectClient(def, l, testTarget); err == nil || !strings.Contains(err.Error(), "not installed") {
					t.Errorf("connect with the client not installed: %v", err)
				}
				os.MkdirAll(markers[0], 0o700)
				if filepath.Dir(file) != markers[0] {
					os.MkdirAll(filepath.Dir(file), 0o700)
				}
				orig := clientFixtures[def.ID]
				if orig != "" {
					os.WriteFile(file, []byte(orig), 0o640)
				}
				if st := stateOf(def, l, testTarget); !st.Installed || st.Connected || st.Problem != "" {
					t.Fatalf("before connect: %+v", st)
				}

				msg, err := connectClient(def, l, testTarget)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(msg, "Connected "+def.Name) || !strings.Contains(msg, file) {
					t.Errorf("connect said %q", msg)
				}
				after := readFile(t, file)
				f, err := readConfig(def, file)
				if err != nil {
					t.Fatalf("the file after connect: %v\n%s", err, after)
				}
				got, ok := f.entry()
				if !ok || !sameJSON(got, []byte(wantEntries[def.ID])) {
					t.Errorf("the entry is %s, want %s; the file:\n%s", got, wantEntries[def.ID], after)
				}
				if !insertedOnly(orig, after) {
					t.Errorf("connect changed what was there before:\n%s\nnow:\n%s", orig, after)
				}
				fi, _ := os.Stat(file)
				if orig != "" {
					if b := readFile(t, backupPath(file)); b != orig {
						t.Errorf("the copy of the file as it was is:\n%s", b)
					}
					if fi.Mode().Perm() != 0o640 {
						t.Errorf("the file's mode is %v, want it kept (0640)", fi.Mode().Perm())
					}
				} else if _, err := os.Stat(backupPath(file)); err == nil {
					t.Error("a copy of a file that was not there")
				}
				if st := stateOf(def, l, testTarget); !st.Connected {
					t.Errorf("after connect: %+v", st)
				}

				// Twice changes nothing.
				time.Sleep(10 * time.Millisecond)
				if msg, err := connectClient(def, l, testTarget); err != nil || !strings.Contains(msg, "connected already") {
					t.Errorf("connect again: %q %v", msg, err)
				}
				if fi2, _ := os.Stat(file); readFile(t, file) != after || !fi2.ModTime().Equal(fi.ModTime()) {
					t.Error("a second connect wrote the file")
				}
				// Another address counts as not connected, and connect
				// replaces the entry in place.
				moved := testTarget
				moved.URL, moved.Args = "http://localhost:4000/mcp", []string{"stdio", "--listen", "127.0.0.1:4000"}
				if st := stateOf(def, l, moved); st.Connected || !st.Other {
					t.Errorf("with another address: %+v", st)
				}
				if _, err := connectClient(def, l, moved); err != nil {
					t.Fatal(err)
				}
				if st := stateOf(def, l, moved); !st.Connected {
					t.Errorf("after connecting to another address: %+v", st)
				}
				if orig != "" && readFile(t, backupPath(file)) != orig {
					t.Error("a later change replaced the first copy")
				}

				msg, err = disconnectClient(def, l)
				if err != nil || !strings.Contains(msg, "Disconnected "+def.Name) {
					t.Fatalf("disconnect: %q %v", msg, err)
				}
				gone := readFile(t, file)
				if f, err := readConfig(def, file); err != nil {
					t.Fatalf("the file after disconnect: %v\n%s", err, gone)
				} else if _, ok := f.entry(); ok {
					t.Errorf("the entry is still there:\n%s", gone)
				}
				if !insertedOnly(orig, gone) {
					t.Errorf("disconnect changed what was there before:\n%s\nnow:\n%s", orig, gone)
				}
				if st := stateOf(def, l, testTarget); st.Connected || st.Other {
					t.Errorf("after disconnect: %+v", st)
				}
				if msg, err := disconnectClient(def, l); err != nil || !strings.Contains(msg, "no mcptray entry") {
					t.Errorf("disconnect again: %q %v", msg, err)
				}
			})
		}
	}
}

// insertedOnly reports whether after is before with one piece of text
// added, commas and whitespace aside (a member that became the last but
// one gets a comma; an object may go on more lines): every other byte,
// comments and order included, is as it was.
func insertedOnly(before, after string) bool {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, s)
	}
	b, a := norm(before), norm(after)
	p := 0
	for p < len(b) && p < len(a) && b[p] == a[p] {
		p++
	}
	s := 0
	for s < len(b)-p && s < len(a)-p && b[len(b)-1-s] == a[len(a)-1-s] {
		s++
	}
	return p+s == len(b)
}

// TestConnectRoundTrip: disconnect after connect gives back the file as it
// was, byte for byte, where the file had the servers' object already.
func TestConnectRoundTrip(t *testing.T) {
	l := testLayouts(t)[0]
	for _, id := range []string{"claude-desktop", "claude-code", "cursor", "vscode", "gemini-cli", "codex"} {
		def := lookupClient(id)
		file, markers := def.paths(l)
		os.MkdirAll(markers[0], 0o700)
		os.MkdirAll(filepath.Dir(file), 0o700)
		os.WriteFile(file, []byte(clientFixtures[id]), 0o600)
		if _, err := connectClient(def, l, testTarget); err != nil {
			t.Fatal(err)
		}
		if _, err := disconnectClient(def, l); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, file); got != clientFixtures[id] {
			t.Errorf("%s: after connect and disconnect:\n%s\nwant:\n%s", id, got, clientFixtures[id])
		}
	}
}

// TestConnectRefusesWhatItMustNotChange: a file that is not valid in its
// client's format, is read-only, is a symbolic link, or has its servers in
// something that is not an object, is refused with a message that names
// it, and stays as it was.
func TestConnectRefusesWhatItMustNotChange(t *testing.T) {
	l := testLayouts(t)[0]
	cases := []struct {
		client, content string
		mode            os.FileMode
		link            bool
		want            string
	}{
		{client: "cursor", content: `{"mcpServers": {"a": {"url": "x"},}}`, want: "is not valid JSON as Cursor reads it (line 1, column 35: a comma before }"},
		{client: "cursor", content: "{\n  // mine\n  \"mcpServers\": {}\n}\n", want: "is not valid JSON as Cursor reads it (line 2, column 3: a comment"},
		{client: "claude-code", content: `{"mcpServers": [], "numStartups": 3}`, want: `its "mcpServers" is not an object`},
		{client: "claude-desktop", content: `["not", "an", "object"]`, want: "the file is not a JSON object"},
		{client: "vscode", content: "{\n  \"servers\": {\n    \"a\": {\"command\": \"x\"\n  }\n}\n", want: "is not valid JSON with comments as VS Code reads it (line 6, column 1: unexpected end of file"},
		{client: "zed", content: "// settings\n{\n  /* unterminated\n", want: "a comment that does not end"},
		{client: "codex", content: "model = \"gpt\"\n[mcp_servers\n", want: "is not valid TOML as Codex CLI reads it (line "},
		{client: "codex", content: "mcp_servers = \"none\"\n", want: "its mcp_servers is not a table"},
		{client: "codex", content: "[mcp_servers]\nmcptray = { url = \"http://elsewhere/mcp\" }\n", want: "written inline or with dotted keys"},
		{client: "gemini-cli", content: `{"mcpServers": {}}`, mode: 0o444, want: "is read-only"},
		{client: "windsurf", content: `{"mcpServers": {}}`, link: true, want: "is a symbolic link"},
	}
	for _, c := range cases {
		def := lookupClient(c.client)
		file, markers := def.paths(l)
		os.MkdirAll(markers[0], 0o700)
		os.MkdirAll(filepath.Dir(file), 0o700)
		os.Remove(file)
		written := file
		if c.link {
			written = filepath.Join(t.TempDir(), "dotfiles-mcp_config.json")
			if err := os.Symlink(written, file); err != nil {
				t.Fatal(err)
			}
		}
		mode := c.mode
		if mode == 0 {
			mode = 0o600
		}
		os.WriteFile(written, []byte(c.content), 0o600)
		os.Chmod(written, mode)
		_, err := connectClient(def, l, testTarget)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s with %q: %v, want %q naming %s", c.client, c.content, err, c.want, file)
		}
		if got := readFile(t, written); got != c.content {
			t.Errorf("%s: the file became:\n%s", c.client, got)
		}
		if _, err := os.Stat(backupPath(file)); err == nil {
			t.Errorf("%s: a copy was made of a file that was not changed", c.client)
		}
		if st := stateOf(def, l, testTarget); st.Problem == "" && c.client != "codex" {
			t.Errorf("%s: its state shows no problem: %+v", c.client, st)
		}
		if fi, err := os.Lstat(file); err == nil && c.link && fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: the link was replaced", c.client)
		}
		os.Chmod(written, 0o600)
	}
}

// TestConnectCommand runs connect and disconnect as a user types them, on
// this machine's layout (a private HOME), against a settings file with a
// bearer key: the list, a connect, the list again, a disconnect.
func TestConnectCommand(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	os.MkdirAll(filepath.Join(home, ".cursor"), 0o700)
	os.MkdirAll(filepath.Join(home, ".codex"), 0o700)
	settingsFile := filepath.Join(home, "mcp_settings.json")
	os.WriteFile(settingsFile, []byte(`{"mcpServers": {}, "bearerKeys": [{"id": "1", "name": "mine", "token": "cli-key", "enabled": true, "accessType": "all"}]}`), 0o600)
	flags := []string{"--settings", settingsFile, "--listen", "127.0.0.1:3998"}

	code, out, errs := cli(append([]string{"connect"}, flags...)...)
	if code != 0 {
		t.Fatalf("connect: %d %s", code, errs)
	}
	for _, want := range []string{"mcptray: http://localhost:3998/mcp", "cursor", "Cursor", "not connected", filepath.Join(home, ".cursor", "mcp.json"), "codex", "Not installed here: Claude Desktop, Claude Code, VS Code, Windsurf, Zed, Gemini CLI."} {
		if !strings.Contains(out, want) {
			t.Errorf("the list lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = cli(append([]string{"connect", "cursor"}, flags...)...)
	if code != 0 || !strings.Contains(out, "Connected Cursor") {
		t.Fatalf("connect cursor: %d %s %s", code, out, errs)
	}
	var file struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
	}
	json.Unmarshal([]byte(readFile(t, filepath.Join(home, ".cursor", "mcp.json"))), &file)
	if !sameJSON(file.MCPServers["mcptray"], []byte(`{"url": "http://localhost:3998/mcp", "headers": {"Authorization": "Bearer cli-key"}}`)) {
		t.Errorf("Cursor's entry: %s", file.MCPServers["mcptray"])
	}
	if _, out, _ := cli(append([]string{"connect"}, flags...)...); !strings.Contains(out, "\ncursor  Cursor     connected  ") {
		t.Errorf("the list after connect:\n%s", out)
	}
	code, out, errs = cli("disconnect", "cursor")
	if code != 0 || !strings.Contains(out, "Disconnected Cursor") {
		t.Errorf("disconnect cursor: %d %s %s", code, out, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"connect", "frobnicator"}, `no client "frobnicator" (the clients: claude-desktop, claude-code, cursor, vscode, windsurf, zed, gemini-cli, codex)`},
		{[]string{"disconnect"}, "want one client"},
		{[]string{"connect", "cursor", "zed"}, "want one client"},
	} {
		if code, _, errs := cli(c.args...); code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: %d %q, want 2 with %q", c.args, code, errs, c.want)
		}
	}
}
