package main

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/icons"
	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
)

var signedIn = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func servers(list ...hub.ServerStatus) snapshot {
	return snapshot{Servers: list, Endpoint: "http://localhost:3000/mcp", Version: "1.2.3"}
}

func failing(name, err string) hub.ServerStatus {
	return hub.ServerStatus{Name: name, Type: "streamable-http", State: hub.StateError, Error: err}
}

// TestServerLabels: a server's line is its name and its state in a few
// words, whatever the error; the whole error is in the submenu.
func TestServerLabels(t *testing.T) {
	long := "cannot reach http://127.0.0.1:9000/mcp: dial tcp 127.0.0.1:9000: connect: connection refused, and a great deal more"
	for _, c := range []struct {
		st   hub.ServerStatus
		want string
	}{
		{hub.ServerStatus{Name: "linear", State: hub.StateConnected, Tools: 24}, "linear: connected (24 tools)"},
		{hub.ServerStatus{Name: "one", State: hub.StateConnected, Tools: 1}, "one: connected (1 tool)"},
		{hub.ServerStatus{Name: "github_work", State: hub.StateConnected, Tools: 3}, "github_work: connected (3 tools)"},
		{hub.ServerStatus{Name: "notion", State: hub.StateNeedsAuthorization}, "notion: needs sign-in"},
		{hub.ServerStatus{Name: "notion", State: hub.StateNeedsAuthorization, OAuth: &oauthflow.Summary{AuthorizationURL: "https://auth.example/authorize?x"}}, "notion: sign-in waiting"},
		{hub.ServerStatus{Name: "files", State: hub.StateDisabled}, "files: disabled"},
		{hub.ServerStatus{Name: "files", State: hub.StateDisabled, Problem: "mcp_settings.json line 3: unknown type"}, "files: disabled (settings error)"},
		{hub.ServerStatus{Name: "slow", State: hub.StateConnecting}, "slow: connecting…"},
		{failing("notes", long), "notes: can't connect"},
		{failing("bad", "mcp_settings.json line 5: unknown type \"grpc\""), "bad: error"},
		{hub.ServerStatus{Name: "bad", State: hub.StateError, Error: "mcp_settings.json line 5: unknown type \"grpc\"", Problem: "mcp_settings.json line 5: unknown type \"grpc\""}, "bad: settings error"},
		{failing("keyed", "environment variable SEARCH_API_KEY is not set"), "keyed: variable not set"},
		{failing("my server", `server name "my server" cannot prefix MCP tool names`), "my server: bad name"},
		{failing("petstore", "permanent: mcptray does not run MCPHub's openapi servers"), "petstore: not supported"},
		{failing("wrongpath", "nothing at this URL (404): check the path"), "wrongpath: not found (404)"},
		{failing("npx", `start: command "nopx" not found: exec: "nopx": executable file not found in $PATH`), "npx: won't start"},
		{failing("script", "initialize: server exited: exit status 1"), "script: exited"},
		{failing("tls", "tls: failed to verify certificate: x509: certificate signed by unknown authority"), "tls: TLS error"},
		{failing("slow", "initialize: context deadline exceeded"), "slow: timed out"},
		{failing("keyed", "initialize: 403 Forbidden"), "keyed: refused"},
		{failing("old", `initialize: the server speaks MCP "2023-01-01", which mcptray does not`), "old: protocol mismatch"},
		{failing("odd", "something nobody foresaw"), "odd: error"},
	} {
		if got := serverLabel(c.st); got != c.want {
			t.Errorf("label %q, want %q", got, c.want)
		}
		if n := utf8.RuneCountInString(serverLabel(c.st)); n > labelWidth {
			t.Errorf("label %q is %d long", serverLabel(c.st), n)
		}
	}
}

// TestSubmenuStartsWithTheErrorAndFix: the whole error, wrapped, then a
// Fix: line, then the actions; for each kind of failure.
func TestSubmenuStartsWithTheErrorAndFix(t *testing.T) {
	long := "cannot reach http://127.0.0.1:9000/mcp: dial tcp 127.0.0.1:9000: connect: connection refused; the server at this address did not answer at all"
	for _, c := range []struct {
		st  hub.ServerStatus
		fix string
	}{
		{failing("notes", long), "Fix: start the server, or correct its URL"},
		{hub.ServerStatus{Name: "bad", State: hub.StateError, Error: "mcp_settings.json line 5: unknown type", Problem: "mcp_settings.json line 5: unknown type"}, "Fix: correct its entry in the settings file"},
		{failing("keyed", "environment variable SEARCH_API_KEY is not set"), "Fix: set it in the environment"},
		{failing("wrongpath", "nothing at this URL (404): check the path"), "Fix: check the path of its URL"},
		{failing("script", "initialize: server exited: exit status 1"), "Fix: its last lines of stderr, in Show details"},
		{hub.ServerStatus{Name: "notion", State: hub.StateNeedsAuthorization, OAuth: &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization, Reason: "the server asks for a sign-in"}}, "Fix: choose Authorize…"},
		{hub.ServerStatus{Name: "notion", State: hub.StateNeedsAuthorization, OAuth: &oauthflow.Summary{AuthorizationURL: "https://auth.example/authorize?x"}}, "Fix: finish it in your browser"},
		{hub.ServerStatus{Name: "notion", State: hub.StateNeedsAuthorization, OAuth: &oauthflow.Summary{AuthorizationURL: "https://auth.example/device", SignIn: &oauthflow.SignIn{Status: oauthflow.SignInWaiting, Flow: oauthflow.FlowDevice, UserCode: "WXYZ-1234", VerificationURI: "https://auth.example/device"}}}, "waiting for the code WXYZ-1234 at https://auth.example/device"},
	} {
		it := serverItem(c.st)
		var text []string
		i := 0
		for ; i < len(it.Children) && !it.Children[i].Separator; i++ {
			ch := it.Children[i]
			if !ch.Disabled || ch.Action.kind != actNone {
				t.Errorf("%s: line %q of the diagnosis acts", c.st.Name, ch.Label)
			}
			if n := utf8.RuneCountInString(ch.Label); n > labelWidth {
				t.Errorf("%s: line %q is %d long", c.st.Name, ch.Label, n)
			}
			text = append(text, ch.Label)
		}
		all := strings.Join(text, " ")
		if c.st.State == hub.StateError && !strings.HasPrefix(all, c.st.Error) {
			t.Errorf("%s: the submenu starts %q, not with the whole error %q", c.st.Name, all, c.st.Error)
		}
		if !strings.Contains(all, c.fix) {
			t.Errorf("%s: the submenu %q lacks %q", c.st.Name, all, c.fix)
		}
		if i == len(it.Children) || find(it.Children[i:], "Reconnect") == nil {
			t.Errorf("%s: no actions after the diagnosis: %q", c.st.Name, labels(it.Children))
		}
	}
	if ok := serverItem(hub.ServerStatus{Name: "fine", State: hub.StateConnected}); ok.Children[0].Label != "Reconnect" {
		t.Errorf("a connected server's submenu starts with %q", ok.Children[0].Label)
	}
}

// TestEscapeLabel: every label shows as written in each platform's menus.
func TestEscapeLabel(t *testing.T) {
	for _, c := range []struct{ goos, in, want string }{
		{"linux", "github_work: connected (3 tools)", "github__work: connected (3 tools)"},
		{"linux", "environment variable SEARCH_API_KEY is not set", "environment variable SEARCH__API__KEY is not set"},
		{"linux", "mcp_settings.json line 5: R&D", "mcp__settings.json line 5: R&D"},
		{"windows", "R&D: connected", "R&&D: connected"},
		{"windows", "github_work", "github_work"},
		{"darwin", "github_work & R&D", "github_work & R&D"},
	} {
		if got := escapeLabel(c.goos, c.in); got != c.want {
			t.Errorf("%s %q: %q, want %q", c.goos, c.in, got, c.want)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"short", []string{"short"}},
		{"one two three four", []string{"one two", "three four"}},
		{"see https://example.com/a/very/long/path now", []string{"see", "https://ex", "ample.com/", "a/very/lon", "g/path now"}},
		{"", nil},
	} {
		if got := wrap(c.in, 10); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("wrap(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestIconChoice(t *testing.T) {
	ok := hub.ServerStatus{Name: "a", State: hub.StateConnected}
	for _, c := range []struct {
		name string
		s    snapshot
		want string
	}{
		{"nothing configured", servers(), icons.StateOK},
		{"all connected", servers(ok, hub.ServerStatus{Name: "b", State: hub.StateDisabled}), icons.StateOK},
		{"starting", servers(ok, hub.ServerStatus{Name: "b", State: hub.StateConnecting}), icons.StateStarting},
		{"sign-in waiting", servers(hub.ServerStatus{Name: "b", State: hub.StateConnecting}, hub.ServerStatus{Name: "c", State: hub.StateNeedsAuthorization}), icons.StateAttention},
		{"error beats the rest", servers(hub.ServerStatus{Name: "c", State: hub.StateNeedsAuthorization}, hub.ServerStatus{Name: "d", State: hub.StateError}), icons.StateError},
		{"settings error", snapshot{SettingsErrors: []string{"mcp_settings.json line 3: invalid JSON"}}, icons.StateError},
		{"settings warning", snapshot{SettingsWarnings: []string{`mcp_settings.json line 2: "servers" is not read`}}, icons.StateAttention},
	} {
		if got := iconState(c.s); got != c.want {
			t.Errorf("%s: icon %s, want %s", c.name, got, c.want)
		}
	}
}

// find returns the item with this label, looking into submenus.
func find(items []menuItem, label string) *menuItem {
	for i := range items {
		if items[i].Label == label {
			return &items[i]
		}
		if f := find(items[i].Children, label); f != nil {
			return f
		}
	}
	return nil
}

func labels(items []menuItem) []string {
	var out []string
	for _, it := range items {
		if it.Separator {
			out = append(out, "---")
			continue
		}
		out = append(out, it.Label)
	}
	return out
}

func TestMenu(t *testing.T) {
	s := servers(
		hub.ServerStatus{Name: "linear", Type: "streamable-http", State: hub.StateConnected, Tools: 24, OAuth: &oauthflow.Summary{State: oauthflow.StateAuthorized, AuthorizedAt: signedIn}},
		hub.ServerStatus{Name: "notion", Type: "sse", State: hub.StateNeedsAuthorization, OAuth: &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization}},
		hub.ServerStatus{Name: "files", Type: "stdio", State: hub.StateDisabled},
		hub.ServerStatus{Name: "everything", Type: "stdio", State: hub.StateConnected, Tools: 13},
	)
	s.Secrets = &keychain.Status{Kind: keychain.KindFile, Message: "secrets are stored in a file: no Secret Service"}
	s.StartAtLogin = true
	m := buildModel(s)
	if m.Tooltip != "mcptray: 2 of 3 servers connected" {
		t.Errorf("tooltip %q", m.Tooltip)
	}
	want := []string{
		"mcptray: 2 of 3 servers connected", "http://localhost:3000/mcp", "Copy endpoint URL", "Open dashboard", "Connect a client", "---",
		"linear: connected (24 tools)", "notion: needs sign-in", "files: disabled", "everything: connected (13 tools)", "---",
		"Secrets are stored in a file", "Open settings file", "Open log folder", "Start at login", "---", "About mcptray 1.2.3", "Quit",
	}
	if got := labels(m.Items); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("menu\n got %q\nwant %q", got, want)
	}
	if !m.Items[0].Disabled || !m.Items[1].Disabled || m.Items[2].Action.kind != actCopyEndpoint {
		t.Error("the header lines must be disabled and Copy endpoint URL act")
	}
	sub := func(server string) []string {
		return labels(find(m.Items, serverLabel(findStatus(s, server))).Children)
	}
	for server, want := range map[string]string{
		"linear":     "Authorize again…|Reconnect|Disable|Sign out|Show details",
		"notion":     "It asks you to sign in.|Fix: choose Authorize… to sign in in your browser.|---|Authorize…|Reconnect|Disable|Show details",
		"files":      "Reconnect|Enable|Show details",
		"everything": "Reconnect|Disable|Show details",
	} {
		if got := strings.Join(sub(server), "|"); got != want {
			t.Errorf("%s submenu %q, want %q", server, got, want)
		}
	}
	if r := find(find(m.Items, "files: disabled").Children, "Reconnect"); !r.Disabled {
		t.Error("Reconnect of a disabled server is enabled")
	}
	if a := find(m.Items, "Authorize…"); a.Action != (action{actAuthorize, "notion"}) {
		t.Errorf("Authorize… does %+v", a.Action)
	}
	if sl := find(m.Items, "Start at login"); !sl.Checkable || !sl.Checked {
		t.Error("Start at login is not a checked checkbox")
	}
	if m.Icon != icons.StateAttention {
		t.Errorf("icon %s", m.Icon)
	}
	if d := find(m.Items, "Open dashboard"); d.Action.kind != actDashboard {
		t.Errorf("Open dashboard does %+v", d.Action)
	}
}

// TestConnectAClientMenu: "Connect a client" lists the clients found,
// checked when connected; a click connects or disconnects one; a broken
// config file says so; the others are named on a line.
func TestConnectAClientMenu(t *testing.T) {
	s := servers()
	s.Clients = []hub.ClientStatus{
		{ID: "claude-desktop", Name: "Claude Desktop", Installed: true, Connected: true, File: "/c/claude_desktop_config.json"},
		{ID: "cursor", Name: "Cursor", Installed: true, File: "/c/mcp.json"},
		{ID: "vscode", Name: "VS Code", Installed: true, Other: true},
		{ID: "zed", Name: "Zed", Installed: true, Problem: "/c/settings.json is not valid JSON"},
		{ID: "windsurf", Name: "Windsurf"},
		{ID: "codex", Name: "Codex CLI"},
	}
	c := find(buildModel(s).Items, "Connect a client")
	if c == nil {
		t.Fatal("no Connect a client")
	}
	want := "Claude Desktop|Cursor|VS Code (connected elsewhere)|Zed (config file problem)|---|Not installed here: Windsurf, Codex CLI"
	if got := strings.Join(labels(c.Children), "|"); got != want {
		t.Errorf("Connect a client: %q, want %q", got, want)
	}
	for label, want := range map[string]action{
		"Claude Desktop":                {actDisconnectClient, "claude-desktop"},
		"Cursor":                        {actConnectClient, "cursor"},
		"VS Code (connected elsewhere)": {actConnectClient, "vscode"},
	} {
		it := find(c.Children, label)
		if it.Action != want || !it.Checkable || it.Checked != (label == "Claude Desktop") {
			t.Errorf("%s: %+v", label, it)
		}
	}
	if z := find(c.Children, "Zed (config file problem)"); z.Tooltip != "/c/settings.json is not valid JSON" {
		t.Errorf("Zed's tooltip %q", z.Tooltip)
	}
	if got := labels(find(buildModel(servers()).Items, "Connect a client").Children); strings.Join(got, "|") != "No AI client found here" {
		t.Errorf("with no client: %q", got)
	}
}

// TestSettingsRows: the settings file's errors and warnings show as
// "mcp_settings.json line 5: …", each whole in the submenu, with the fix and
// Open settings file.
func TestSettingsRows(t *testing.T) {
	long := `mcp_settings.json line 5: server "notes": url "localhost:3000/sse": want an absolute http or https URL`
	s := servers()
	s.SettingsErrors = []string{"mcp_settings.json line 3: invalid JSON: invalid character '}' looking for beginning of object key string", long}
	s.SettingsWarnings = []string{`mcp_settings.json line 2: "servers" is not read: did you mean "mcpServers"?`}
	m := buildModel(s)
	// The header: the summary, the endpoint, Copy endpoint URL, Open
	// dashboard, Connect a client, a separator; then the rows.
	errRow := m.Items[6]
	if !strings.HasPrefix(errRow.Label, "mcp_settings.json line 3: ") || !strings.HasSuffix(errRow.Label, "(+1 more)") || utf8.RuneCountInString(errRow.Label) > labelWidth {
		t.Errorf("error row %q", errRow.Label)
	}
	text := strings.Join(labels(errRow.Children), " ")
	for _, want := range []string{"invalid character '}' looking for beginning of object key string", "want an absolute http or https URL", "keeps the last good version", "Fix: correct the file"} {
		if !strings.Contains(text, want) {
			t.Errorf("the error row's submenu %q lacks %q", text, want)
		}
	}
	if o := find(errRow.Children, "Open settings file"); o == nil || o.Action.kind != actOpenSettings {
		t.Error("the error row has no Open settings file")
	}
	warnRow := m.Items[7]
	if warnRow.Label != short(s.SettingsWarnings[0], labelWidth) || !strings.HasPrefix(warnRow.Label, `mcp_settings.json line 2: "servers"`) {
		t.Errorf("warning row %q", warnRow.Label)
	}
	if text := strings.Join(labels(warnRow.Children), " "); !strings.Contains(text, `did you mean "mcpServers"?`) {
		t.Errorf("warning row's submenu %q", text)
	}
}

func findStatus(s snapshot, name string) hub.ServerStatus {
	for _, st := range s.Servers {
		if st.Name == name {
			return st
		}
	}
	return hub.ServerStatus{}
}

// TestNotifications: each kind of change, and what it says.
func TestNotifications(t *testing.T) {
	connected := hub.ServerStatus{Name: "linear", State: hub.StateConnected, OAuth: &oauthflow.Summary{State: oauthflow.StateAuthorized, AuthorizedAt: signedIn}}
	lost := hub.ServerStatus{Name: "linear", State: hub.StateNeedsAuthorization, Error: "refused", OAuth: &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization, Reason: "the authorization server refused to renew the token (invalid_grant)", AuthorizedAt: signedIn}}
	signedOut := hub.ServerStatus{Name: "linear", State: hub.StateConnected, OAuth: &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization, Reason: reasonSignedOut, AuthorizedBefore: true, AuthorizedAt: signedIn}}
	signedOutAsks := signedOut
	signedOutAsks.State = hub.StateNeedsAuthorization
	first := hub.ServerStatus{Name: "notion", State: hub.StateNeedsAuthorization, OAuth: &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization, Reason: "the server asks for a sign-in"}}
	withSignIn := func(si oauthflow.SignIn) hub.ServerStatus {
		st := first
		sum := *first.OAuth
		sum.SignIn = &si
		if si.Status == oauthflow.SignInWaiting {
			sum.AuthorizationURL = si.URL
		}
		if si.Status == oauthflow.SignInFailed {
			sum.State = oauthflow.StateFailed
		}
		st.OAuth = &sum
		return st
	}
	waiting := oauthflow.SignIn{ID: "s1", Status: oauthflow.SignInWaiting, Flow: oauthflow.FlowBrowser, URL: "https://auth.example/authorize?x", BrowserOpened: true}
	pending := withSignIn(waiting)
	unopened := waiting
	unopened.BrowserOpened = false
	pendingUnopened := withSignIn(unopened)
	device := withSignIn(oauthflow.SignIn{ID: "s2", Status: oauthflow.SignInWaiting, Flow: oauthflow.FlowDevice, URL: "https://auth.example/device?code=WXYZ", VerificationURI: "https://auth.example/device", UserCode: "WXYZ-1234"})
	failed := waiting
	failed.Status, failed.Error = oauthflow.SignInFailed, "the sign-in was refused: access_denied"
	declined := withSignIn(failed)
	short := waiting
	short.Status, short.Error = oauthflow.SignInFailed, "granted read; the server needs read write"
	shortOfScopes := withSignIn(short)
	expired := waiting
	expired.Status = oauthflow.SignInExpired
	lapsed := withSignIn(expired)
	again := waiting
	again.ID = "s3"
	pendingAgain := withSignIn(again)
	done := hub.ServerStatus{Name: "notion", State: hub.StateConnected, OAuth: &oauthflow.Summary{State: oauthflow.StateAuthorized, AuthorizedAt: signedIn.Add(time.Hour)}}
	connecting := hub.ServerStatus{Name: "notion", State: hub.StateConnecting, OAuth: first.OAuth}
	withBrowser := func(s snapshot) snapshot { s.Browser = true; return s }

	for _, c := range []struct {
		name       string
		prev, next snapshot
		title      string // "" for none
		body       string
		authorize  bool
	}{
		{"credentials stopped working", servers(connected), servers(lost), "linear needs you to sign in again", "The authorization server refused to renew the token (invalid_grant). Choose Authorize…", true},
		{"first sign-in, the browser opens by itself", servers(connecting), withBrowser(servers(first)), "notion needs you to sign in", "mcptray opens your browser for it", true},
		{"first sign-in, no browser", servers(connecting), servers(first), "notion needs you to sign in", "run `mcptray authorize notion`", true},
		{"sign-in waiting in the browser", servers(first), withBrowser(servers(pending)), "Sign in to notion in your browser", "opened in your browser (auth.example)", false},
		{"sign-in waiting, the browser did not open", servers(first), withBrowser(servers(pendingUnopened)), "Sign in to notion", "could not open a browser. Open this address in one: https://auth.example/authorize?x", false},
		{"sign-in with a code", servers(first), servers(device), "Sign in to notion with a code", "Open https://auth.example/device on any device and enter the code WXYZ-1234.", false},
		{"first sign-in and its page at once", servers(connecting), withBrowser(servers(pending)), "Sign in to notion in your browser", "finish there", false},
		{"the same sign-in, still waiting", servers(pending), servers(pending), "", "", false},
		{"a new sign-in after a failed one", servers(declined), servers(pendingAgain), "Sign in to notion in your browser", "finish there", false},
		{"sign-in declined", servers(pending), servers(declined), "Signing in to notion failed", "The sign-in was refused: access_denied. Choose Authorize… to try again.", true},
		{"sign-in short of scopes", servers(pending), servers(shortOfScopes), "Signing in to notion failed", "Granted read; the server needs read write.", true},
		{"sign-in expired", servers(pending), servers(lapsed), "Signing in to notion did not complete", "not finished in time", true},
		{"signed in", servers(pending), servers(done), "Signed in to notion", "Its tools are available", false},
		{"signed out as asked", servers(connected), servers(signedOut), "", "", false},
		{"the server asks after the sign-out", servers(signedOut), servers(signedOutAsks), "", "", false},
		{"nothing changed", servers(connected), servers(connected), "", "", false},
		{"first look at a signed-in server", servers(), servers(connected), "", "", false},
	} {
		notes := notesFor(c.prev, c.next)
		if c.title == "" {
			if len(notes) != 0 {
				t.Errorf("%s: %+v, want none", c.name, notes)
			}
			continue
		}
		if len(notes) != 1 {
			t.Errorf("%s: %d notes %+v, want one", c.name, len(notes), notes)
			continue
		}
		n := notes[0]
		if n.Title != c.title || !strings.Contains(n.Body, c.body) || n.Authorize != c.authorize || n.Server == "" {
			t.Errorf("%s: %+v\nwant title %q, body with %q, authorize %v", c.name, n, c.title, c.body, c.authorize)
		}
	}
}

// TestActionNotes: a failed menu action names what failed and the server.
func TestActionNotes(t *testing.T) {
	for _, c := range []struct {
		a          action
		err        error
		title      string
		body       string
		authorize  bool
		withServer bool
	}{
		{action{actAuthorize, "notion"}, errors.New("cannot find the authorization server of https://notion.example/mcp: GET https://notion.example/.well-known/oauth-protected-resource: 404"), "Signing in to notion failed", "Cannot find the authorization server", true, true},
		{action{actReconnect, "notes"}, errors.New("notes is disabled: enable it first"), "Reconnecting notes failed", "Notes is disabled", false, true},
		{action{kind: actCopyEndpoint}, errNoClipboard, "Your MCP endpoint", "Connect your MCP clients to http://localhost:3000/mcp", false, false},
		{action{kind: actStartAtLogin}, errBuildCache, "Start at login was not changed", "install it first", false, false},
	} {
		n := actionNote(c.a, c.err, "http://localhost:3000/mcp")
		if n.Title != c.title || !strings.Contains(n.Body, c.body) || n.Authorize != c.authorize || (n.Server != "") != c.withServer {
			t.Errorf("%v: %+v\nwant %q with %q", c.a, n, c.title, c.body)
		}
	}
}

func TestTrayHostAndStartNotes(t *testing.T) {
	if n := noTrayHostNote("ubuntu:GNOME", "http://localhost:3000/mcp"); !strings.Contains(n.Body, "AppIndicator extension (gnome-shell-extension-appindicator)") || !strings.Contains(n.Body, "http://localhost:3000/mcp") {
		t.Errorf("GNOME: %+v", n)
	}
	if n := noTrayHostNote("sway", "http://localhost:3000/mcp"); strings.Contains(n.Body, "GNOME") || !strings.Contains(n.Body, "StatusNotifier host") {
		t.Errorf("elsewhere: %+v", n)
	}
	if n := startFailedNote(errors.New("127.0.0.1:3000 is in use by another program; choose another address with --listen")); n.Title != "mcptray could not start" || !strings.HasPrefix(n.Body, "127.0.0.1:3000 is in use") {
		t.Errorf("start: %+v", n)
	}
}

func TestOneNotificationPerChange(t *testing.T) {
	var f noteFilter
	lost := hub.ServerStatus{Name: "linear", State: hub.StateNeedsAuthorization, Error: "refused", OAuth: &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization, AuthorizedAt: signedIn}}
	connecting := lost
	connecting.State = hub.StateConnecting
	sent := 0
	prev := servers(hub.ServerStatus{Name: "linear", State: hub.StateConnected, OAuth: &oauthflow.Summary{AuthorizedAt: signedIn}})
	// The server goes back and forth while it reconnects: one note.
	for _, next := range []snapshot{servers(lost), servers(connecting), servers(lost), servers(connecting), servers(lost)} {
		sent += len(f.filter(next, notesFor(prev, next)))
		prev = next
	}
	if sent != 1 {
		t.Errorf("%d notifications for one change", sent)
	}
}

func TestInBuildCache(t *testing.T) {
	for _, c := range []struct {
		exe, gocache string
		want         bool
	}{
		{"/tmp/go-build3418817/b001/exe/mcptray", "", true},
		{"/home/me/.cache/go-build/3f/3f1a-d/mcptray", "", true},
		{"/srv/cache/go/ab/mcptray", "/srv/cache/go", true},
		{"/usr/bin/mcptray", "/srv/cache/go", false},
		{"/home/me/go/bin/mcptray", "", false},
	} {
		if got := inBuildCache(c.exe, c.gocache); got != c.want {
			t.Errorf("inBuildCache(%q, %q) = %v", c.exe, c.gocache, got)
		}
	}
}
