package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/icons"
	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
)

// This file turns a snapshot of the hub into what the tray shows (icon,
// tooltip, menu) and what it notifies, with pure functions: the tray rebuilds
// its whole menu from their result, and the tests check them as tables.

// snapshot is everything the tray shows, read at one moment.
type snapshot struct {
	Servers       []hub.ServerStatus
	Endpoint      string
	SettingsError string
	Secrets       *keychain.Status
	StartAtLogin  bool
	Version       string
}

// actionKind is what a menu item does.
type actionKind int

const (
	actNone actionKind = iota
	actCopyEndpoint
	actAuthorize
	actReconnect
	actEnable
	actDisable
	actSignOut
	actDetails
	actOpenSettings
	actOpenLogs
	actStartAtLogin
	actQuit
)

// action is a menu item's action, on a server when it has one.
type action struct {
	kind   actionKind
	server string
}

// menuItem is one line of the menu.
type menuItem struct {
	Label     string
	Tooltip   string
	Action    action
	Disabled  bool
	Checkable bool
	Checked   bool
	Separator bool
	Children  []menuItem
}

// trayModel is what the tray shows.
type trayModel struct {
	Icon    string // an icons.State*
	Tooltip string
	Items   []menuItem
}

func separator() menuItem { return menuItem{Separator: true} }

// buildModel makes the tray's icon, tooltip and menu from a snapshot.
func buildModel(s snapshot) trayModel {
	enabled, connected := 0, 0
	for _, st := range s.Servers {
		if st.State != hub.StateDisabled {
			enabled++
		}
		if st.State == hub.StateConnected {
			connected++
		}
	}
	summary := "no servers configured"
	if len(s.Servers) > 0 {
		summary = fmt.Sprintf("%d of %d %s connected", connected, enabled, plural(enabled, "server", "servers"))
	}
	m := trayModel{Icon: iconState(s), Tooltip: "mcptray: " + summary}
	m.Items = append(m.Items,
		menuItem{Label: "mcptray: " + summary, Disabled: true},
		menuItem{Label: s.Endpoint, Tooltip: "Connect your MCP clients here", Disabled: true},
		menuItem{Label: "Copy endpoint URL", Tooltip: "Copy " + s.Endpoint + " to the clipboard", Action: action{kind: actCopyEndpoint}},
		separator(),
	)
	for _, st := range s.Servers {
		m.Items = append(m.Items, serverItem(st))
	}
	if len(s.Servers) > 0 {
		m.Items = append(m.Items, separator())
	}
	if s.SettingsError != "" {
		m.Items = append(m.Items, menuItem{Label: "The settings file has an error: " + short(s.SettingsError, 50), Tooltip: s.SettingsError, Disabled: true})
	}
	if s.Secrets != nil && s.Secrets.Kind == keychain.KindFile {
		m.Items = append(m.Items, menuItem{Label: "Secrets are stored in a file", Tooltip: s.Secrets.Message, Disabled: true})
	} else if s.Secrets != nil && s.Secrets.Message != "" {
		m.Items = append(m.Items, menuItem{Label: "Keychain problem: " + short(s.Secrets.Message, 50), Tooltip: s.Secrets.Message, Disabled: true})
	}
	m.Items = append(m.Items,
		menuItem{Label: "Open settings file", Action: action{kind: actOpenSettings}},
		menuItem{Label: "Open log folder", Action: action{kind: actOpenLogs}},
		menuItem{Label: "Start at login", Checkable: true, Checked: s.StartAtLogin, Action: action{kind: actStartAtLogin}},
		separator(),
		menuItem{Label: "About mcptray " + s.Version, Disabled: true},
		menuItem{Label: "Quit", Tooltip: "Stop mcptray and every server it started", Action: action{kind: actQuit}},
	)
	return m
}

// serverItem is a server's line, with its submenu.
func serverItem(st hub.ServerStatus) menuItem {
	it := menuItem{Label: serverLabel(st), Tooltip: serverTooltip(st)}
	usesOAuth := st.OAuth != nil || st.State == hub.StateNeedsAuthorization
	if usesOAuth {
		label := "Authorize…"
		if st.OAuth != nil && st.OAuth.State == oauthflow.StateAuthorized {
			label = "Authorize again…"
		}
		it.Children = append(it.Children, menuItem{Label: label, Tooltip: "Sign in to " + st.Name + " in your browser", Action: action{actAuthorize, st.Name}})
	}
	it.Children = append(it.Children, menuItem{Label: "Reconnect", Action: action{actReconnect, st.Name}, Disabled: st.State == hub.StateDisabled})
	if st.State == hub.StateDisabled {
		it.Children = append(it.Children, menuItem{Label: "Enable", Action: action{actEnable, st.Name}})
	} else {
		it.Children = append(it.Children, menuItem{Label: "Disable", Action: action{actDisable, st.Name}})
	}
	if usesOAuth && st.OAuth != nil && st.OAuth.State == oauthflow.StateAuthorized {
		it.Children = append(it.Children, menuItem{Label: "Sign out", Tooltip: "Revoke and delete the tokens of " + st.Name, Action: action{actSignOut, st.Name}})
	}
	it.Children = append(it.Children, menuItem{Label: "Show details", Tooltip: "The state and recent events of " + st.Name, Action: action{actDetails, st.Name}})
	return it
}

// serverLabel is a server's line: its name and state in words, never an
// emoji alone, so that screen readers say it right.
func serverLabel(st hub.ServerStatus) string {
	switch st.State {
	case hub.StateConnected:
		return fmt.Sprintf("%s: connected (%d %s)", st.Name, st.Tools, plural(st.Tools, "tool", "tools"))
	case hub.StateNeedsAuthorization:
		return st.Name + ": needs authorization"
	case hub.StateError:
		return st.Name + ": error: " + short(st.Error, 60)
	case hub.StateDisabled:
		return st.Name + ": disabled"
	}
	return st.Name + ": connecting…"
}

func serverTooltip(st hub.ServerStatus) string {
	parts := []string{st.Type}
	if st.Error != "" {
		parts = append(parts, st.Error)
	}
	if !st.RetryAt.IsZero() {
		parts = append(parts, "retrying at "+st.RetryAt.Local().Format(time.TimeOnly))
	}
	return strings.Join(parts, "; ")
}

// iconState picks the icon of the worst state: an error, then a sign-in
// waiting, then servers starting, else all is well.
func iconState(s snapshot) string {
	state := icons.StateOK
	rank := map[string]int{icons.StateOK: 0, icons.StateStarting: 1, icons.StateAttention: 2, icons.StateError: 3}
	worse := func(st string) {
		if rank[st] > rank[state] {
			state = st
		}
	}
	if s.SettingsError != "" {
		worse(icons.StateError)
	}
	for _, st := range s.Servers {
		switch st.State {
		case hub.StateError:
			worse(icons.StateError)
		case hub.StateNeedsAuthorization:
			worse(icons.StateAttention)
		case hub.StateConnecting:
			worse(icons.StateStarting)
		}
	}
	return state
}

// note is a desktop notification.
type note struct {
	Server    string
	Title     string
	Body      string
	Authorize bool   // clicking it starts Authorize…
	key       string // what it is about, to send it once
}

// notesFor says what a change between two snapshots is worth telling: a
// first sign-in waiting, credentials that stopped working, a sign-in that
// completed, a sign-in that failed.
func notesFor(prev, next snapshot) []note {
	before := map[string]hub.ServerStatus{}
	for _, st := range prev.Servers {
		before[st.Name] = st
	}
	var out []note
	for _, n := range next.Servers {
		p, known := before[n.Name]
		var pa, na oauthflow.Summary
		if p.OAuth != nil {
			pa = *p.OAuth
		}
		if n.OAuth != nil {
			na = *n.OAuth
		}
		switch {
		case na.AuthorizedAt.After(pa.AuthorizedAt) && known:
			out = append(out, note{Server: n.Name, Title: "Signed in to " + n.Name, Body: "Its tools are available to your MCP clients.", key: "signed-in " + na.AuthorizedAt.String()})
		case n.State == hub.StateNeedsAuthorization && p.State != hub.StateNeedsAuthorization && (na.AuthorizedBefore || !na.AuthorizedAt.IsZero()):
			out = append(out, note{Server: n.Name, Title: n.Name + " needs you to sign in again", Body: reasonText(n), Authorize: true, key: "lost " + n.Error})
		case n.State == hub.StateNeedsAuthorization && p.State != hub.StateNeedsAuthorization:
			out = append(out, note{Server: n.Name, Title: n.Name + " needs you to sign in", Body: "Choose Authorize… to sign in in your browser.", Authorize: true, key: "first"})
		case n.State == hub.StateNeedsAuthorization && pa.AuthorizationURL != "" && na.AuthorizationURL == "" && na.Reason != pa.Reason && na.Reason != "":
			out = append(out, note{Server: n.Name, Title: "Signing in to " + n.Name + " failed", Body: na.Reason, Authorize: true, key: "failed " + na.Reason})
		}
	}
	return out
}

func reasonText(st hub.ServerStatus) string {
	if st.OAuth != nil && st.OAuth.Reason != "" {
		return st.OAuth.Reason
	}
	if st.Error != "" {
		return st.Error
	}
	return "Choose Authorize… to sign in in your browser."
}

// noteFilter lets through one notification per server per change: the
// same note again (a server that keeps asking while it reconnects) is held
// back until the server gets well or something else happens.
type noteFilter struct {
	last map[string]string // server → key of the last note sent
}

func (f *noteFilter) filter(next snapshot, notes []note) []note {
	if f.last == nil {
		f.last = map[string]string{}
	}
	for _, st := range next.Servers {
		if st.State == hub.StateConnected && !strings.HasPrefix(f.last[st.Name], "signed-in") {
			delete(f.last, st.Name)
		}
	}
	var out []note
	for _, n := range notes {
		if f.last[n.Server] == n.key {
			continue
		}
		f.last[n.Server] = n.key
		out = append(out, n)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// short cuts s at about n runes, at a word when there is one near, with
// an ellipsis.
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n-1])
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)-15 && i > 0 {
		cut = cut[:i]
	}
	return strings.TrimSpace(cut) + "…"
}
