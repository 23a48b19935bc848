//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/testpeers"
)

// TestDashboardInABrowser drives the dashboard in a real browser (Debian's
// chromium, headless), as a person would, one browser for the whole test:
// in through the tray's one-time link (bearer keys are set); a server added
// by its command and another by its URL, which signs in through the
// dashboard with a real authorization server (oidc-provider, which
// approves by itself) and shows its trace; a tool turned off and on;
// Sign out and Authorize; a server removed; a client connected and
// disconnected; the settings file's error with its line and column; and a
// page of another port of this machine trying the no-cors POST that used
// to switch a server off.
func TestDashboardInABrowser(t *testing.T) {
	as := testpeers.StartOAuthServer(t, 60)
	dir := t.TempDir()
	settingsFile := filepath.Join(dir, "mcp_settings.json")
	const key = "dashboard-test-key"
	writeSettings := func(servers string) {
		os.WriteFile(settingsFile, []byte(`{"mcpServers": `+servers+`, "bearerKeys": [{"id": "1", "name": "test", "token": "`+key+`", "enabled": true, "accessType": "all"}], "systemConfig": {"secretStore": "file"}}`), 0o600)
	}
	writeSettings("{}")
	// The clients live in a home of the test's own.
	home := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(home, ".cursor"), 0o700)
	systemLayout = func() layout { return layout{goos: "linux", home: home, env: func(string) string { return "" }} }
	t.Cleanup(func() {
		systemLayout = func() layout {
			h, _ := os.UserHomeDir()
			return layout{goos: "linux", home: h, env: os.Getenv}
		}
	})
	logs := &testpeers.Buffer{}
	in, _ := startInstance(t, settingsFile, nil, logs)
	h := in.hub
	_, port, _ := net.SplitHostPort(h.Addr())
	base := "http://localhost:" + port
	b := testpeers.StartChromium(t)
	shot := func(name string) {
		if d := os.Getenv("MCPTRAY_SCREENSHOTS"); d != "" {
			b.Screenshot(filepath.Join(d, name+".png"))
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("mcptray's log:\n%s", logs.String())
		}
	}()

	// With bearer keys, no page without the link.
	b.Goto(base + "/")
	b.WaitText("h1", "Open the dashboard from mcptray", 5*time.Second)
	link := h.DashboardURL("/")
	if got := b.Goto(link); got != base+"/" {
		t.Fatalf("the one-time link led to %s", got)
	}
	b.WaitText("#summary", "no servers configured", 5*time.Second)
	var session *testpeers.Cookie
	for _, c := range b.Cookies() {
		if c.Name == "mcptray_session_"+port {
			session = &c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != "Strict" || session.Path != "/" || session.Domain != "localhost" {
		t.Errorf("the session cookie: %+v", session)
	}
	b.Goto(link)
	b.WaitText("h1", "This link does not open the dashboard", 5*time.Second)

	// A server by its command: its page shows it connecting, then
	// connected, without a reload.
	b.Goto(base + "/")
	node, args := testpeers.EverythingStdio(t)
	b.Fill("#add-name", "everything")
	b.Fill("#add-command", node)
	b.Fill("#add-args", strings.Join(args, "\n"))
	b.Fill("#add-env", "GREETING=hello")
	if got := b.ClickNav("#add-submit"); got != base+"/servers/everything" {
		t.Fatalf("adding a server led to %s: %s", got, b.Eval("document.body.innerText"))
	}
	b.WaitText("#flash", "Added everything", 5*time.Second)
	b.WaitSelector("body[data-live=open]", 5*time.Second)
	b.WaitText("#state", "connected (", 60*time.Second)
	shot("server")
	if srv := readSettingsServer(t, settingsFile, "everything"); srv["command"] != node || fmt.Sprint(srv["args"]) != fmt.Sprint([]any{args[0], args[1]}) || fmt.Sprint(srv["env"]) != "map[GREETING:hello]" {
		t.Errorf("the settings file has everything as %v", srv)
	}

	// A page served by another program on another port of this machine
	// tries to switch the server off, as a no-cors POST (and a form's):
	// the hub refuses, and the server stays on.
	foreign := foreignPage(t, fmt.Sprintf(`<title>waiting</title><script>
Promise.allSettled([
  fetch(%[1]q, {method: 'POST', mode: 'no-cors'}),
  fetch(%[2]q, {method: 'POST', mode: 'no-cors', body: new URLSearchParams({csrf: 'x'})}),
  fetch(%[3]q, {method: 'POST', mode: 'no-cors', body: 'tool=echo&enabled=false', headers: {'Content-Type': 'application/x-www-form-urlencoded'}}),
]).then(() => { document.title = 'done'; });
</script>`, base+"/api/servers/everything/disable", base+"/ui/servers/everything/disable", base+"/ui/servers/everything/tool"))
	b.Goto(foreign)
	b.WaitText("title", "done", 10*time.Second)
	if d, _ := h.Details("everything"); d.State != hub.StateConnected {
		t.Errorf("after another port's page POSTed: everything is %s", d.State)
	}
	if tools, _ := h.Tools("everything"); !toolEnabled(tools, "echo") {
		t.Error("another port's page turned echo off")
	}
	if srv := readSettingsServer(t, settingsFile, "everything"); srv["enabled"] != nil || srv["tools"] != nil {
		t.Errorf("another port's page changed the settings file:\n%s", readFile(t, settingsFile))
	}

	// A tool turned off: gone from /mcp, and from the file when on again.
	b.Goto(base + "/servers/everything")
	b.ClickNav(`tr[data-tool="echo"] button`)
	b.WaitText(`tr[data-tool="echo"]`, "Off: turn on", 5*time.Second)
	b.WaitText("#flash", "Turned off echo", time.Second)
	if srv := readSettingsServer(t, settingsFile, "everything"); fmt.Sprint(srv["tools"]) != "map[echo:map[enabled:false]]" {
		t.Errorf("the settings file's tools of everything: %v", srv["tools"])
	}
	if names := toolNames(t, h.Endpoint(), key); len(names) == 0 || contains(names, "everything-echo") {
		t.Errorf("/mcp offers %v with echo turned off", names)
	}
	b.ClickNav(`tr[data-tool="echo"] button`)
	b.WaitText(`tr[data-tool="echo"]`, "On: turn off", 5*time.Second)
	if names := toolNames(t, h.Endpoint(), key); !contains(names, "everything-echo") {
		t.Errorf("/mcp offers %v with echo turned on again", names)
	}
	if srv := readSettingsServer(t, settingsFile, "everything"); srv["tools"] != nil {
		t.Errorf("turning echo on left %v", srv["tools"])
	}
	// Its environment edited.
	b.Fill("#edit-env", "GREETING=hi\nTOKEN=abc")
	b.ClickNav("#edit-submit")
	b.WaitText("#flash", "Saved everything", 5*time.Second)
	if srv := readSettingsServer(t, settingsFile, "everything"); fmt.Sprint(srv["env"]) != "map[GREETING:hi TOKEN:abc]" {
		t.Errorf("the settings file's env of everything: %v", srv["env"])
	}

	// A server by its URL alone: it asks for a sign-in, which the page
	// offers; the sign-in walks the authorization server's pages and comes
	// back; the server connects, and its trace has each step.
	b.Goto(base + "/")
	b.Fill("#add-name", "secure")
	b.Fill("#add-url", as.MCPURL)
	b.ClickNav("#add-submit")
	b.WaitSelector("#continue-signin", 30*time.Second)
	b.WaitText("#state", "sign-in waiting", 5*time.Second)
	shot("signin-waiting")
	b.ClickNav("#continue-signin")
	b.WaitText("h1", "Signed in", 30*time.Second)
	if got := b.URL(); !strings.HasPrefix(got, base+"/oauth/callback?") {
		t.Errorf("the sign-in came back at %s", got)
	}
	b.Goto(base + "/servers/secure")
	b.WaitText("#state", "connected (", 30*time.Second)
	trace := b.Text("#trace")
	for _, want := range []string{"oauth: protected resource metadata from", "oauth: authorization server metadata from", "oauth: registered with " + as.Issuer, "oauth: authorization URL", "oauth: signed in"} {
		if !strings.Contains(trace, want) {
			t.Errorf("the trace lacks %q:\n%s", want, trace)
		}
	}
	shot("signed-in")

	// Sign out, then Authorize from the page.
	b.ClickNav("#signout")
	b.WaitText("#flash", "Signed out of secure", 5*time.Second)
	b.WaitText("#state", "sign", 30*time.Second)
	b.WaitSelector("#authorize", 5*time.Second)
	b.ClickNav("#authorize")
	b.WaitText("h1", "Signed in", 30*time.Second)
	b.Goto(base + "/servers/secure")
	b.WaitText("#state", "connected (", 30*time.Second)
	if !strings.Contains(b.Text("#trace"), "oauth: signed out") {
		t.Error("the trace lacks the sign-out")
	}

	// Remove, after the page asks.
	if got := b.ClickNav("#remove"); got != base+"/" {
		t.Errorf("removing led to %s", got)
	}
	b.WaitText("#flash", "Removed secure", 5*time.Second)
	if _, ok := h.Details("secure"); ok || strings.Contains(readFile(t, settingsFile), `"secure"`) {
		t.Error("secure is still configured after Remove")
	}

	// The clients: Cursor found, connected, disconnected.
	b.Goto(base + "/clients")
	b.WaitText(`tr[data-client="cursor"] .state`, "not connected", 5*time.Second)
	b.ClickNav(`tr[data-client="cursor"] button.connect`)
	b.WaitText(`tr[data-client="cursor"] .state`, "connected", 5*time.Second)
	b.WaitText("#flash", "Connected Cursor", time.Second)
	var cursor struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
	}
	json.Unmarshal([]byte(readFile(t, filepath.Join(home, ".cursor", "mcp.json"))), &cursor)
	if !sameJSON(cursor.MCPServers["mcptray"], []byte(`{"url": "`+base+`/mcp", "headers": {"Authorization": "Bearer `+key+`"}}`)) {
		t.Errorf("Cursor's entry: %s", cursor.MCPServers["mcptray"])
	}
	shot("clients")
	b.ClickNav(`tr[data-client="cursor"] button.disconnect`)
	b.WaitText(`tr[data-client="cursor"] .state`, "not connected", 5*time.Second)

	// A mistake in the settings file shows, with its line and column,
	// without a reload; and goes when fixed.
	b.Goto(base + "/")
	b.WaitSelector("body[data-live=open]", 5*time.Second)
	good := readFile(t, settingsFile)
	os.WriteFile(settingsFile, []byte("{\n  \"mcpServers\": {\n    \"everything\": {\"command\": \"x\",}\n  }\n}\n"), 0o600)
	got := b.WaitText("#live", "Settings error: mcp_settings.json line 3, column", 10*time.Second)
	if !strings.Contains(got, "The file is not in effect") {
		t.Errorf("the overview with a broken file:\n%s", got)
	}
	shot("settings-error")
	os.WriteFile(settingsFile, []byte(good), 0o600)
	b.WaitText("#summary", "1 of 1 server connected", 10*time.Second)
}

// foreignPage serves one HTML page on another port of 127.0.0.1, as
// another program of this machine could, and returns its URL.
func foreignPage(t *testing.T, html string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, html)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// readSettingsServer reads one server's entry of the settings file.
func readSettingsServer(t *testing.T, path, name string) map[string]any {
	var f struct {
		MCPServers map[string]map[string]any `json:"mcpServers"`
	}
	if err := json.Unmarshal([]byte(readFile(t, path)), &f); err != nil {
		t.Fatalf("the settings file: %v", err)
	}
	return f.MCPServers[name]
}

func toolEnabled(tools []hub.Tool, name string) bool {
	for _, tl := range tools {
		if tl.Name == name {
			return tl.Enabled
		}
	}
	return false
}

// toolNames lists the tools of /mcp, as a 2026-07-28 client asks for them
// with a bearer key.
func toolNames(t *testing.T, endpoint, key string) []string {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequest("POST", strings.Replace(endpoint, "localhost", "127.0.0.1", 1), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/list")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("tools/list: %d %v", resp.StatusCode, err)
	}
	var names []string
	for _, tl := range out.Result.Tools {
		names = append(names, tl.Name)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
