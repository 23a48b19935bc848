package settings

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFatalErrors: what leaves nothing to act on fails the whole file,
// with the line and column of the problem.
func TestFatalErrors(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string
	}{
		{"bad JSON", "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\",}\n  }\n}\n", []string{":3:", "invalid JSON"}},
		{"not an object", "[]", []string{":1:1", "must be a JSON object"}},
		{"bad separator", "{\"mcpServers\": {}, \"systemConfig\": {\"nameSeparator\": \"::\"}}", []string{":1:54", "nameSeparator", "invalid MCP tool names"}},
		{"mcpServers not an object", "{\n  \"mcpServers\": [\"a\"]\n}", []string{":2:17", "mcpServers: got JSON array, want an object"}},
		{"systemConfig of the wrong type", "{\"mcpServers\": {},\n \"systemConfig\": {\"routing\": {\"enableGlobalRoute\": \"yes\"}}}", []string{":2:", "enableGlobalRoute", "want true or false"}},
		{"bad secret store", "{\"mcpServers\": {}, \"systemConfig\": {\"secretStore\": \"vault\"}}", []string{"secretStore \"vault\"", "want auto, keychain or file"}},
		{"group without a name", "{\"mcpServers\": {}, \"groups\": [{\"servers\": []}]}", []string{"group 1 needs an id or a name"}},
		{"group named as a server", "{\"mcpServers\": {\"shared\": {\"command\": \"x\"}}, \"groups\": [{\"id\": \"g1\", \"name\": \"shared\"}]}", []string{`server "shared" and group 1 ("shared") share the name "shared"`, "rename one of them"}},
		{"group id of a server's name", "{\"mcpServers\": {\"shared\": {\"command\": \"x\"}}, \"groups\": [{\"id\": \"shared\", \"name\": \"team\"}]}", []string{`server "shared" and group 1 ("team") share the name "shared"`}},
		{"two groups of one name", "{\"mcpServers\": {}, \"groups\": [{\"id\": \"a\", \"name\": \"team\"}, {\"id\": \"b\", \"name\": \"team\"}]}", []string{`group 1 ("team") and group 2 ("team") share the name "team"`}},
		{"a group id another's name", "{\"mcpServers\": {}, \"groups\": [{\"id\": \"a\", \"name\": \"team\"}, {\"id\": \"team\", \"name\": \"other\"}]}", []string{`group 1 ("team") and group 2 ("other") share the name "team"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("mcp_settings.json", []byte(c.file))
			if err == nil {
				t.Fatal("no error")
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("error is %T, want *Error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestEveryErrorAtOnce: a file with several mistakes reports them all, each
// with its line and column, in the order of the file.
func TestEveryErrorAtOnce(t *testing.T) {
	file := `{
  "mcpServers": {
    "ok": {"command": "x"},
    "bad": {"type": "grpc", "url": "http://x"}
  },
  "systemConfig": {
    "nameSeparator": "::",
    "secretStore": "vault"
  }
}
`
	_, err := Parse("/home/me/mcp_settings.json", []byte(file))
	list := List(err)
	if len(list) != 3 {
		t.Fatalf("%d errors, want 3: %v", len(list), err)
	}
	want := []struct {
		line int
		text string
	}{{4, `unknown type "grpc"`}, {7, "nameSeparator"}, {8, "secretStore"}}
	for i, w := range want {
		if list[i].Line != w.line || list[i].Col == 0 || !strings.Contains(list[i].Error(), w.text) {
			t.Errorf("error %d: %d:%d %q, want line %d with %q", i, list[i].Line, list[i].Col, list[i].Error(), w.line, w.text)
		}
	}
	if got := list[0].Brief(); got != `mcp_settings.json line 4: server "bad": unknown type "grpc" (want stdio, sse or streamable-http)` {
		t.Errorf("Brief %q", got)
	}
	if !strings.Contains(err.Error(), "/home/me/mcp_settings.json:7:22: nameSeparator") {
		t.Errorf("Error() %q lacks the editor's path:line:col form", err)
	}
}

// TestServerProblems: a mistake in one server's entry is that server's
// problem, with its position; the file takes effect, and the other server
// has none.
func TestServerProblems(t *testing.T) {
	cases := []struct {
		name, server string // server: the entry of "bad"
		want         []string
	}{
		{"unknown type", "{\n      \"type\": \"grpc\",\n      \"url\": \"http://x\"\n    }", []string{"line 5", `unknown type "grpc" (want stdio, sse or streamable-http)`}},
		{"misspelt type", `{"type": "streamableHttp", "url": "http://x"}`, []string{"line 4", `did you mean "streamable-http"?`}},
		{"stdio without command", `{"type": "stdio"}`, []string{"line 4", "stdio server needs a command"}},
		{"neither command nor url", `{"args": ["x"]}`, []string{"needs a command (stdio) or a url"}},
		{"wrong field type", "{\n      \"command\": \"y\",\n      \"args\": \"--flag\"\n    }", []string{"line 6", "args: got JSON string, want an array"}},
		{"nested wrong type", `{"url": "http://x", "oauth": {"scopes": "repo"}}`, []string{"oauth.scopes: got JSON string, want an array"}},
		{"url without scheme", `{"type": "sse", "url": "localhost:3000/sse"}`, []string{"line 4", "want an absolute http or https URL"}},
		{"not an object", `"npx server"`, []string{"line 4", "server must be an object"}},
		{"null", `null`, []string{"server must be an object"}},
		{"negative timeout", `{"command": "x", "options": {"timeout": -1}}`, []string{"must not be negative"}},
		{"two problems", `{"type": "grpc", "enabled": "yes"}`, []string{`unknown type "grpc"`, "enabled: got JSON string, want true or false"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := "{\n  \"mcpServers\": {\n    \"ok\": {\"command\": \"x\"},\n    \"bad\": " + c.server + "\n  }\n}\n"
			st, err := Parse("/x/mcp_settings.json", []byte(file))
			if err != nil {
				t.Fatalf("the file failed: %v", err)
			}
			if p := st.Servers["ok"].Problem; p != nil {
				t.Errorf("the good server has a problem: %v", p)
			}
			bad := st.Servers["bad"]
			if bad == nil || bad.Problem == nil {
				t.Fatal("the bad server has no problem")
			}
			var text []string
			for _, e := range List(bad.Problem) {
				if e.Server != "bad" || e.Line == 0 {
					t.Errorf("problem %q: server %q at line %d", e.Error(), e.Server, e.Line)
				}
				text = append(text, e.Brief())
			}
			all := strings.Join(text, "\n")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems %q lack %q", all, w)
				}
			}
			if got := st.Problems(); len(got) != len(List(bad.Problem)) {
				t.Errorf("Problems() %v", got)
			}
			if n := len(List(bad.Problem)); n != len(c.want)-countLines(c.want) {
				t.Errorf("%d problems, want %d: %q", n, len(c.want)-countLines(c.want), all)
			}
		})
	}
}

// TestBadNames: a name that cannot prefix tool names is a problem of that
// server.
func TestBadNames(t *testing.T) {
	st, err := Parse("mcp_settings.json", []byte(`{"mcpServers": {"my server": {"command": "x"}, "fine_one": {"command": "y"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Servers["my server"].Problem; p == nil || !strings.Contains(p.Error(), "cannot prefix MCP tool names") {
		t.Errorf("problem %v", p)
	}
	if st.Servers["fine_one"].Problem != nil {
		t.Error("an underscore is a good name")
	}
}

// TestWarnings: duplicate names and keys in the wrong place are reported,
// with where they are, and stop nothing.
func TestWarnings(t *testing.T) {
	cases := []struct {
		name, file string
		want       string // in a warning's Brief
		line       int
	}{
		{"server defined twice", "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"},\n    \"a\": {\"command\": \"y\"}\n  }\n}", `server "a" is defined more than once (also on line 3); only the last one is used`, 4},
		{"field given twice", "{\"mcpServers\": {\"a\": {\"command\": \"x\",\n \"command\": \"y\"}}}", `server "a": "command" is given more than once (also on line 1)`, 2},
		{"mcpServers twice", "{\"mcpServers\": {\"a\": {\"command\": \"x\"}},\n \"mcpServers\": {}}", `"mcpServers" is given more than once`, 2},
		{"VS Code's servers", "{\n  \"servers\": {\"a\": {\"command\": \"x\"}}\n}", `"servers" is not read: did you mean "mcpServers"?`, 2},
		{"VS Code's user settings", `{"mcp": {"servers": {"a": {"command": "x"}}}}`, `did you mean "mcpServers"?`, 1},
		{"Zed's context_servers", `{"context_servers": {}}`, `did you mean "mcpServers"?`, 1},
		{"wrong case", `{"MCPServers": {}}`, `"MCPServers" is not read: did you mean "mcpServers"?`, 1},
		{"nested mcpServers", "{\"mcpServers\": {\n\"mcpServers\": {\"a\": {\"command\": \"x\"}}}}", `"mcpServers" inside "mcpServers" is read as one server: move the servers in it up one level`, 2},
		{"a server at the top level", `{"mcpServers": {}, "notes": {"url": "http://x"}}`, `"notes" looks like a server but is not read: move it into "mcpServers"`, 1},
		{"systemConfig key at the top level", `{"mcpServers": {}, "nameSeparator": "_"}`, `did you mean systemConfig.nameSeparator?`, 1},
		{"Windsurf's serverUrl", "{\"mcpServers\": {\"w\": {\n\"url\": \"http://x\", \"serverUrl\": \"http://y\"}}}", `server "w": "serverUrl" is not read: did you mean "url"?`, 2},
		{"Claude's disabled", `{"mcpServers": {"c": {"command": "x", "disabled": true}}}`, `"disabled" is not read: write "enabled": false to turn the server off`, 1},
		{"upper-case URL", `{"mcpServers": {"u": {"URL": "http://x", "url": "http://x"}}}`, `"URL" is not read: did you mean "url"? (names are case-sensitive)`, 1},
		{"Cline's transportType", `{"mcpServers": {"u": {"url": "http://x", "transportType": "sse"}}}`, `did you mean "type"?`, 1},
		{"a timeout outside options", `{"mcpServers": {"u": {"url": "http://x", "timeout": 5000}}}`, `did you mean "options": {"timeout": MILLISECONDS}?`, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := Parse("/x/mcp_settings.json", []byte(c.file))
			if err != nil {
				t.Fatalf("a warning failed the file: %v", err)
			}
			var got []string
			found := false
			for _, w := range st.Warnings {
				got = append(got, w.Brief())
				if strings.Contains(w.Brief(), c.want) {
					found = true
					if w.Line != c.line || w.Col == 0 {
						t.Errorf("%q at %d:%d, want line %d", w.Brief(), w.Line, w.Col, c.line)
					}
				}
			}
			if !found {
				t.Errorf("warnings %q lack %q", got, c.want)
			}
		})
	}
}

// TestMCPHubFileHasNothingToReport: the keys MCPHub and its users keep
// (owner, startOnDemand, keepAliveInterval, users, …) are no mistake; its
// one problem is a name MCP does not allow in tool names.
func TestMCPHubFileHasNothingToReport(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mcphub_settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := Parse("mcp_settings.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Problems(); len(st.Warnings) != 0 || len(p) != 1 || p[0].Server != "notes-日本" || !strings.Contains(p[0].Error(), "cannot prefix MCP tool names") {
		t.Errorf("warnings %v, problems %v", st.Warnings, p)
	}
}

// TestBadEntriesSurviveSaves: a change to another server, or to a bad one,
// keeps what the user wrote in the bad entries byte for byte.
func TestBadEntriesSurviveSaves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp_settings.json")
	orig := `{
  "mcpServers": {
    "typo": {"command": "x", "args": "--flag", "enabled": "yes"},
    "str": "npx something",
    "nil": null,
    "grpc": {"type": "grpc", "url": "http://x"}
  }
}
`
	os.WriteFile(path, []byte(orig), 0o600)
	s := openStore(t, path)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if err := s.Modify(func(st *Settings) error {
		st.Servers["new"] = &Server{Command: "true"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(orig, `"url": "http://x"}`, "\"url\": \"http://x\"},\n    \"new\": {\n      \"command\": \"true\"\n    }", 1)
	if string(got) != want {
		t.Fatalf("the save changed more than the addition:\n%s", lineDiff(want, string(got)))
	}
	// Turning the bad server off writes its enabled and keeps its args.
	if err := s.Modify(func(st *Settings) error {
		off := false
		st.Servers["typo"].Enabled = &off
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(path)
	if !strings.Contains(string(got), `"args": "--flag"`) || !strings.Contains(string(got), `"enabled": false`) {
		t.Errorf("after disabling the bad server:\n%s", got)
	}
	if p := s.Current().Servers["typo"].Problem; p == nil || !strings.Contains(p.Error(), "args") {
		t.Errorf("the problem of its args is gone: %v", p)
	}
}

// TestModifyRefusesNewMistakes: a change that would write a bad server is
// refused, and the file stays; the mistakes already in the file do not stop
// other changes.
func TestModifyRefusesNewMistakes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp_settings.json")
	orig := "{\"mcpServers\": {\"grpc\": {\"type\": \"grpc\", \"url\": \"http://x\"}}}\n"
	os.WriteFile(path, []byte(orig), 0o600)
	s := openStore(t, path)
	err := s.Modify(func(st *Settings) error {
		st.Servers["u"] = &Server{Type: TypeSSE, URL: "localhost:3000/sse"}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "absolute http or https URL") {
		t.Fatalf("Modify with a bad URL: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != orig {
		t.Errorf("the refused change was written:\n%s", got)
	}
	if err := s.Modify(func(st *Settings) error {
		st.Servers["ok"] = &Server{URL: "http://127.0.0.1:1/mcp"}
		return nil
	}); err != nil {
		t.Errorf("an existing mistake stopped another change: %v", err)
	}
	if err := s.Modify(func(st *Settings) error {
		delete(st.Servers, "grpc")
		return nil
	}); err != nil {
		t.Errorf("removing the bad server: %v", err)
	}
	if st := s.Current(); st.Servers["grpc"] != nil || len(st.Problems()) != 0 {
		t.Errorf("after the removal: %v", st.Problems())
	}
}

// TestServerWithAProblemHasNoTransport: what of a bad entry could be read
// is not what the user meant ("enabled": "no" reads as enabled, a command
// without its args): nothing connects it.
func TestServerWithAProblemHasNoTransport(t *testing.T) {
	st, err := Parse("mcp_settings.json", []byte(`{"mcpServers": {"a": {"command": "rm", "args": "-rf /tmp/x", "enabled": "no"}, "b": {"command": "x"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if k := st.Servers["a"].Kind(); k != "" {
		t.Errorf("the bad server's kind is %q", k)
	}
	if k := st.Servers["b"].Kind(); k != TypeStdio {
		t.Errorf("the good server's kind is %q", k)
	}
}

// countLines counts the wants that name a line, not a problem.
func countLines(want []string) int {
	n := 0
	for _, w := range want {
		if strings.HasPrefix(w, "line ") {
			n++
		}
	}
	return n
}

// TestRouteNamesDistinct: a group may use one word as its id and its name,
// and servers and groups of different names load.
func TestRouteNamesDistinct(t *testing.T) {
	file := `{"mcpServers": {"a": {"command": "x"}, "b": {"command": "y"}},
	 "groups": [{"id": "team", "name": "team", "servers": ["a"]}, {"id": "g2", "name": "other", "servers": ["a", "b"]}]}`
	s, err := Parse("mcp_settings.json", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Groups) != 2 {
		t.Fatalf("groups %d, want 2", len(s.Groups))
	}
}
