//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/testpeers"
)

// cli runs a command line as a user types it, and returns its exit code,
// stdout and stderr.
func cli(args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	code := run(args, &out, &errs)
	return code, out.String(), errs.String()
}

// TestUsage: the usage text lists the commands with examples and exits 0,
// however help is asked for; mistakes exit 2 and point at it.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"--settings", "x.json", "--help"}} {
		code, out, errs := cli(args...)
		if code != 0 || errs != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
		for _, want := range []string{"Usage:", "Commands:", "status", "add NAME URL", "add NAME -- COMMAND ARGS…", "remove NAME", "logs NAME", "authorize NAME", "signout NAME", "version", "help [COMMAND]", "--settings FILE", "--listen HOST:PORT", "Examples:", "mcptray add everything -- npx -y @modelcontextprotocol/server-everything"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: the usage lacks %q:\n%s", args, want, out)
			}
		}
	}
	for _, args := range [][]string{{"help", "add"}, {"add", "--help"}, {"add", "x", "-h"}} {
		code, out, _ := cli(args...)
		if code != 0 || !strings.Contains(out, "Usage: mcptray add NAME URL") || !strings.Contains(out, "--header 'NAME: VALUE'") {
			t.Errorf("%v: exit %d:\n%s", args, code, out)
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}, {"status", "--version"}} {
		if code, out, _ := cli(args...); code != 0 || strings.TrimSpace(out) != "mcptray "+version {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--frobnicate"}, "flag provided but not defined: -frobnicate"},
		{[]string{"signout"}, "signout: want one server name; usage: mcptray signout NAME"},
		{[]string{"add", "x"}, "want a name and a URL, or a name and a command after --"},
		{[]string{"add", "x", "http://h/mcp", "--", "cmd"}, "give a URL, or a command after --, not both"},
		{[]string{"add", "x", "--", "cmd", "--header", "A: b"}, ""}, // after --, it is the command's
		{[]string{"status", "--header", "A: b"}, "are flags of `mcptray add`"},
		{[]string{"status", "--paste"}, "are flags of `mcptray authorize`"},
		{[]string{"authorize", "x", "--paste", "--device"}, "exclude each other"},
		{[]string{"status", "--", "x"}, "`--` is for `mcptray add NAME -- COMMAND ARGS…`"},
		{[]string{"help", "frobnicate"}, `no command "frobnicate"`},
	} {
		code, _, errs := cli(c.args...)
		if c.want == "" {
			continue
		}
		if code != 2 || !strings.Contains(errs, c.want) || !strings.Contains(errs, "Run `mcptray help` for usage.") {
			t.Errorf("%v: exit %d, %q; want 2 with %q", c.args, code, errs, c.want)
		}
	}
	// Flags come before or after the command and its arguments.
	cmd, o, c, _, err := parseCommandLine([]string{"--settings", "a.json", "signout", "x", "--listen", "127.0.0.1:9", "--no-browser"})
	if err != nil || cmd != "signout" || strings.Join(c.pos, ",") != "x" || o.settings != "a.json" || o.listen != "127.0.0.1:9" || !o.listenSet || !o.noBrowser {
		t.Errorf("parse: %q %+v %+v %v", cmd, o, c, err)
	}
	_, _, c, _, _ = parseCommandLine([]string{"add", "x", "--env", "A=1", "--", "npx", "-y", "--listen", "pkg"})
	if strings.Join(c.after, " ") != "npx -y --listen pkg" || strings.Join(c.add.env, ",") != "A=1" {
		t.Errorf("add's command: %+v", c)
	}
}

// TestCLIAgainstARunningHub runs the commands against a running mcptray:
// add (a stdio server, an OAuth server it signs in to, a server that does
// not connect, a mistake), status, logs, remove. Every change lands in the
// settings file, through the running instance.
func TestCLIAgainstARunningHub(t *testing.T) {
	as := testpeers.StartOAuthServer(t, 60)
	dir := t.TempDir()
	settingsFile := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(settingsFile, []byte("{\n  \"mcpServers\": {}\n}\n"), 0o600)
	var logs testpeers.Buffer
	// No browser in mcptray: its sign-in page waits for the user, who
	// opens it from what add prints.
	in, _ := startInstance(t, settingsFile, nil, &logs)
	addr := in.hub.Addr()
	flags := []string{"--settings", settingsFile, "--listen", addr, "--no-browser"}
	defer func() {
		if t.Failed() {
			t.Logf("mcptray's log:\n%s", logs.String())
		}
	}()

	// A local server, with its environment.
	code, out, errs := cli(append([]string{"add", "cli_tools", "--env", "GREETING=hello"}, append(flags, "--", binaries.testserver, "stdio")...)...)
	if code != 0 || !strings.Contains(out, "Added cli_tools.") || !strings.Contains(out, "cli_tools is connected: 8 tools") {
		t.Fatalf("add a stdio server: exit %d\n%s%s", code, out, errs)
	}
	var file struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
	}
	json.Unmarshal([]byte(readFile(t, settingsFile)), &file)
	if got := string(file.MCPServers["cli_tools"]); !strings.Contains(got, `"command": "`+binaries.testserver+`"`) || !strings.Contains(got, `"args": [`) || !strings.Contains(got, `"GREETING": "hello"`) {
		t.Errorf("the settings file has cli_tools as:\n%s", got)
	}

	// An OAuth server: add notices the sign-in it asks for, shows its
	// page, and waits until it is signed in and connected.
	var addOut, addErr testpeers.Buffer
	added := make(chan int, 1)
	go func() { added <- run(append([]string{"add", "cli_notes", as.MCPURL}, flags...), &addOut, &addErr) }()
	var page string
	waitFor(t, 30*time.Second, func() bool {
		for _, f := range strings.Fields(addOut.String()) {
			if strings.HasPrefix(f, as.Issuer+"/auth?") {
				page = f
			}
		}
		return page != ""
	})
	newTestBrowser(t).open(context.Background(), page) // the user signs in
	select {
	case code = <-added:
	case <-time.After(60 * time.Second):
		t.Fatalf("add did not finish:\n%s", addOut.String())
	}
	out = addOut.String()
	if code != 0 {
		t.Fatalf("add an OAuth server: exit %d\n%s%s", code, out, addErr.String())
	}
	for _, want := range []string{"Added cli_notes.", "cli_notes asks you to sign in.", as.Issuer + "/auth?", "Signed in to cli_notes.", "cli_notes is connected:"} {
		if !strings.Contains(out, want) {
			t.Errorf("add of the OAuth server lacks %q:\n%s", want, out)
		}
	}

	// A server that does not connect: the error and the fix, exit 1.
	code, out, _ = cli(append([]string{"add", "cli_down", "http://127.0.0.1:1/mcp"}, flags...)...)
	if code != 1 || !strings.Contains(out, "cli_down does not connect: cannot reach") || !strings.Contains(out, "Fix: start the server, or correct its URL") {
		t.Errorf("add a server that does not connect: exit %d\n%s", code, out)
	}

	// Mistakes are refused, and the file stays as it was.
	before := readFile(t, settingsFile)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "cli_bad", "localhost:3000/mcp"}, "want an absolute http or https URL"},
		{[]string{"add", "cli bad", "http://127.0.0.1:1/mcp"}, "cannot prefix MCP tool names"},
		{[]string{"add", "cli_tools", "--", "true"}, "configured already"},
		{[]string{"add", "cli_h", "http://127.0.0.1:1/mcp", "--header", "no colon"}, "want 'NAME: VALUE'"},
		{[]string{"remove", "cli_nosuch"}, "no such server"},
	} {
		code, out, errs := cli(append(flags, c.args...)...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q%q; want 1 with %q", c.args, code, out, errs, c.want)
		}
	}
	if after := readFile(t, settingsFile); after != before {
		t.Errorf("a refused change was written:\n%s", after)
	}

	// status, with the flags after the command.
	code, out, errs = cli(append([]string{"status"}, flags...)...)
	if code != 0 {
		t.Fatalf("status: exit %d %s", code, errs)
	}
	for _, want := range []string{"cli_tools", "connected", "cli_notes", "cli_down", "error", "cannot reach http://127.0.0.1:1/mcp", "cli_down: can't connect: Fix: start the server"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	// logs: the server's recent events.
	code, out, errs = cli(append([]string{"logs", "cli_tools"}, flags...)...)
	if code != 0 || !strings.Contains(out, "Recent events of cli_tools (oldest first):") || !strings.Contains(out, "connected") {
		t.Errorf("logs: exit %d\n%s%s", code, out, errs)
	}

	// remove: gone from the hub and from the file.
	code, out, errs = cli(append([]string{"remove", "cli_down"}, flags...)...)
	if code != 0 || !strings.Contains(out, "Removed cli_down") {
		t.Errorf("remove: exit %d\n%s%s", code, out, errs)
	}
	if _, ok := in.hub.Details("cli_down"); ok {
		t.Error("cli_down still runs after remove")
	}
	if strings.Contains(readFile(t, settingsFile), "cli_down") {
		t.Error("cli_down is still in the settings file after remove")
	}

	// A web page may not add a server (it would run a command): not a
	// page of another origin, not even one of the hub's own.
	var list hub.ServerList
	for origin, want := range map[string]string{"http://localhost:5173": "is not allowed", "http://" + addr: "not from a web page"} {
		if err := (&apiClient{base: "http://" + addr, http: httpClientWithOrigin(origin)}).send("POST", "/api/servers", hub.NewServer{Name: "evil", Server: json.RawMessage(`{"command": "touch"}`)}, &list); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a POST with Origin %s: %v, want %q", origin, err, want)
		}
	}
}

// TestCLIWithNothingRunning: status says how to start mcptray and what the
// file configures; add and remove change the settings file with
// settings.Store.Modify.
func TestCLIWithNothingRunning(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache")) // no log file
	settingsFile := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(settingsFile, []byte("{\n  \"mcpServers\": {\"a\": {\"command\": \"x\"}},\n  \"servers\": {}\n}\n"), 0o600)
	flags := []string{"--settings", settingsFile, "--listen", freeAddr(t)}

	code, out, errs := cli(append([]string{"status"}, flags...)...)
	if code != 1 || !strings.Contains(errs, "mcptray is not running (nothing answers at http://127.0.0.1:") || !strings.Contains(errs, "start it with `mcptray` (the tray icon), `mcptray --headless` (none), or from your applications menu") {
		t.Errorf("status: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "It configures 1 server: a.") || !strings.Contains(out, `settings warning: mcp_settings.json line 3: "servers" is not read: did you mean "mcpServers"?`) {
		t.Errorf("status with nothing running said:\n%s", out)
	}

	code, out, errs = cli(append([]string{"add", "b", "http://127.0.0.1:9/sse"}, flags...)...)
	if code != 0 || !strings.Contains(out, "Added b to "+settingsFile) || !strings.Contains(out, "mcptray is not running: start it") {
		t.Errorf("add: exit %d\n%s%s", code, out, errs)
	}
	want := "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"},\n    \"b\": {\n      \"type\": \"sse\",\n      \"url\": \"http://127.0.0.1:9/sse\"\n    }\n  },\n  \"servers\": {}\n}\n"
	if got := readFile(t, settingsFile); got != want {
		t.Errorf("the file after add:\n%s\nwant:\n%s", got, want)
	}
	code, out, errs = cli(append([]string{"remove", "a"}, flags...)...)
	if code != 0 || !strings.Contains(out, "Removed a from "+settingsFile) || strings.Contains(readFile(t, settingsFile), `"a"`) {
		t.Errorf("remove: exit %d\n%s%s\n%s", code, out, errs, readFile(t, settingsFile))
	}
	code, _, errs = cli(append([]string{"logs", "b"}, flags...)...)
	if code != 1 || !strings.Contains(errs, "mcptray is not running") || !strings.Contains(errs, "there is no log file") {
		t.Errorf("logs: exit %d %q", code, errs)
	}
	// With a log file of an earlier run, logs shows its lines of the server.
	logFile := filepath.Join(dir, "cache", "mcptray", "logs", "mcptray.log")
	os.MkdirAll(filepath.Dir(logFile), 0o700)
	os.WriteFile(logFile, []byte(fmt.Sprintf("time=%s level=INFO msg=connecting server=b type=sse\ntime=%s level=INFO msg=connecting server=bb type=sse\n", time.Now().Format(time.RFC3339), time.Now().Format(time.RFC3339))), 0o600)
	code, out, _ = cli(append([]string{"logs", "b"}, flags...)...)
	if code != 0 || !strings.Contains(out, "server=b type=sse") || strings.Contains(out, "server=bb") {
		t.Errorf("logs from the log file: exit %d\n%s", code, out)
	}
}

// originTransport sends requests as a web page of an origin does.
type originTransport struct{ origin string }

func (o originTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Origin", o.origin)
	return http.DefaultTransport.RoundTrip(r)
}

func httpClientWithOrigin(origin string) *http.Client {
	return &http.Client{Transport: originTransport{origin}, Timeout: 10 * time.Second}
}
