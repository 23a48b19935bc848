package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/icons"
	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
)

var signedIn = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func servers(list ...hub.ServerStatus) snapshot {
	return snapshot{Servers: list, Endpoint: "http://localhost:3000/mcp", Version: "1.2.3"}
}

func TestServerLabels(t *testing.T) {
	for _, c := range []struct {
		st   hub.ServerStatus
		want string
	}{
		{hub.ServerStatus{Name: "linear", State: hub.StateConnected, Tools: 24}, "linear: connected (24 tools)"},
		{hub.ServerStatus{Name: "one", State: hub.StateConnected, Tools: 1}, "one: connected (1 tool)"},
		{hub.ServerStatus{Name: "notion", State: hub.StateNeedsAuthorization}, "notion: needs authorization"},
		{hub.ServerStatus{Name: "github", State: hub.StateError, Error: "403 from token endpoint"}, "github: error: 403 from token endpoint"},
		{hub.ServerStatus{Name: "files", State: hub.StateDisabled}, "files: disabled"},
		{hub.ServerStatus{Name: "slow", State: hub.StateConnecting}, "slow: connecting…"},
		{hub.ServerStatus{Name: "long", State: hub.StateError, Error: strings.Repeat("very long error ", 10)}, "long: error: very long error very long error very long error very long…"},
	} {
		if got := serverLabel(c.st); got != c.want {
			t.Errorf("label %q, want %q", got, c.want)
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
		{"settings error", snapshot{SettingsError: "line 3"}, icons.StateError},
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
		"mcptray: 2 of 3 servers connected", "http://localhost:3000/mcp", "Copy endpoint URL", "---",
		"linear: connected (24 tools)", "notion: needs authorization", "files: disabled", "everything: connected (13 tools)", "---",
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
		"notion":     "Authorize…|Reconnect|Disable|Show details",
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
}

func findStatus(s snapshot, name string) hub.ServerStatus {
	for _, st := range s.Servers {
		if st.Name == name {
			return st
		}
	}
	return hub.ServerStatus{}
}

func TestNotifications(t *testing.T) {
	connected := hub.ServerStatus{Name: "linear", State: hub.StateConnected, OAuth: &oauthflow.Summary{State: oauthflow.StateAuthorized, AuthorizedAt: signedIn}}
	lost := hub.ServerStatus{Name: "linear", State: hub.StateNeedsAuthorization, Error: "refused", OAuth: &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization, Reason: "the authorization server refused to renew the token (invalid_grant)", AuthorizedAt: signedIn}}
	first := hub.ServerStatus{Name: "notion", State: hub.StateNeedsAuthorization, OAuth: &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization}}
	pending := first
	pending.OAuth = &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization, AuthorizationURL: "https://auth.example/authorize?x"}
	failed := first
	failed.OAuth = &oauthflow.Summary{State: oauthflow.StateNeedsAuthorization, Reason: "the sign-in was refused: access_denied"}
	done := hub.ServerStatus{Name: "notion", State: hub.StateConnected, OAuth: &oauthflow.Summary{State: oauthflow.StateAuthorized, AuthorizedAt: signedIn.Add(time.Hour)}}
	connecting := hub.ServerStatus{Name: "notion", State: hub.StateConnecting, OAuth: first.OAuth}

	for _, c := range []struct {
		name       string
		prev, next snapshot
		want       string // titles, |-joined
		authorize  bool
	}{
		{"credentials stopped working", servers(connected), servers(lost), "linear needs you to sign in again", true},
		{"first sign-in waiting", servers(connecting), servers(first), "notion needs you to sign in", true},
		{"sign-in failed", servers(pending), servers(failed), "Signing in to notion failed", true},
		{"signed in", servers(pending), servers(done), "Signed in to notion", false},
		{"nothing changed", servers(connected), servers(connected), "", false},
		{"first look at a signed-in server", servers(), servers(connected), "", false},
	} {
		notes := notesFor(c.prev, c.next)
		var titles []string
		for _, n := range notes {
			titles = append(titles, n.Title)
			if n.Authorize != c.authorize {
				t.Errorf("%s: authorize %v", c.name, n.Authorize)
			}
		}
		if got := strings.Join(titles, "|"); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
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
