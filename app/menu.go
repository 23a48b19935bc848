package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/icons"
	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
)

// This file turns a snapshot of the hub into what the tray shows (icon,
// tooltip, menu), with pure functions: the tray rebuilds its whole menu from
// their result, and the tests check them as tables. notes.go does the same
// for notifications.

// snapshot is everything the tray shows, read at one moment.
type snapshot struct {
	Servers          []hub.ServerStatus
	Endpoint         string
	SettingsPath     string
	SettingsErrors   []string // why the file on disk is not in effect, one by one
	SettingsWarnings []string
	Secrets          *keychain.Status
	StartAtLogin     bool
	Version          string
	// Browser: this instance opens the browser for sign-ins (it has a
	// display, and no --no-browser).
	Browser bool
	// Clients are the AI clients and whether each is connected, as
	// `mcptray connect` lists them.
	Clients []hub.ClientStatus
}

// actionKind is what a menu item does.
type actionKind int

const (
	actNone actionKind = iota
	actCopyEndpoint
	actDashboard
	actConnectClient
	actDisconnectClient
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

// action is a menu item's action, on a server (or, to connect one, a
// client's id) when it has one.
type action struct {
	kind   actionKind
	server string
}

// menuItem is one line of the menu. Label is the text a person reads; the
// tray escapes it for the platform's menus (escapeLabel).
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

// labelWidth is about where tray hosts cut a menu label: longer texts are
// wrapped over several lines of a submenu instead.
const labelWidth = 60

func separator() menuItem { return menuItem{Separator: true} }

// info is a line of text in a menu: disabled, it does nothing.
func info(text string) menuItem { return menuItem{Label: text, Disabled: true} }

// lines is text wrapped into menu lines.
func lines(text string) []menuItem {
	var out []menuItem
	for _, l := range wrap(text, labelWidth) {
		out = append(out, info(l))
	}
	return out
}

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
		info("mcptray: "+summary),
		menuItem{Label: s.Endpoint, Tooltip: "Connect your MCP clients here", Disabled: true},
		menuItem{Label: "Copy endpoint URL", Tooltip: "Copy " + s.Endpoint + " to the clipboard", Action: action{kind: actCopyEndpoint}},
		menuItem{Label: "Open dashboard", Tooltip: "The servers, their tools and sign-ins, and the AI clients, in your browser", Action: action{kind: actDashboard}},
		clientsItem(s.Clients),
		separator(),
	)
	for _, st := range s.Servers {
		m.Items = append(m.Items, serverItem(st))
	}
	if len(s.Servers) > 0 {
		m.Items = append(m.Items, separator())
	}
	if len(s.SettingsErrors) > 0 {
		m.Items = append(m.Items, settingsItem(s.SettingsErrors, "The file is not in effect: mcptray keeps the last good version until it is fixed.", "Fix: correct the file; it is read again when saved."))
	}
	if len(s.SettingsWarnings) > 0 {
		m.Items = append(m.Items, settingsItem(s.SettingsWarnings, "", "Fix: correct the file; it is read again when saved."))
	}
	if s.Secrets != nil && s.Secrets.Kind == keychain.KindFile {
		m.Items = append(m.Items, menuItem{Label: "Secrets are stored in a file", Tooltip: s.Secrets.Message, Children: lines(s.Secrets.Message)})
	} else if s.Secrets != nil && s.Secrets.Message != "" {
		m.Items = append(m.Items, menuItem{Label: "Keychain problem: " + short(s.Secrets.Message, labelWidth-18), Tooltip: s.Secrets.Message, Children: lines(s.Secrets.Message)})
	}
	m.Items = append(m.Items,
		menuItem{Label: "Open settings file", Action: action{kind: actOpenSettings}},
		menuItem{Label: "Open log folder", Action: action{kind: actOpenLogs}},
		menuItem{Label: "Start at login", Checkable: true, Checked: s.StartAtLogin, Action: action{kind: actStartAtLogin}},
		separator(),
		info("About mcptray "+s.Version),
		menuItem{Label: "Quit", Tooltip: "Stop mcptray and every server it started", Action: action{kind: actQuit}},
	)
	return m
}

// clientsItem is "Connect a client", with a line per AI client found:
// checked when it is connected, a click connects or disconnects it; the
// others are named on a line of their own.
func clientsItem(cs []hub.ClientStatus) menuItem {
	it := menuItem{Label: "Connect a client", Tooltip: "Add mcptray to an AI client's MCP servers"}
	var missing []string
	for _, c := range cs {
		if !c.Installed {
			missing = append(missing, c.Name)
			continue
		}
		ci := menuItem{Label: c.Name, Tooltip: c.File, Checkable: true, Checked: c.Connected, Action: action{actConnectClient, c.ID}}
		switch {
		case c.Problem != "":
			ci.Label, ci.Tooltip = c.Name+" (config file problem)", c.Problem
		case c.Connected:
			ci.Action.kind = actDisconnectClient
			ci.Tooltip = "Connected: " + c.File + " has mcptray's entry. Click to remove it."
		case c.Other:
			ci.Label = c.Name + " (connected elsewhere)"
		}
		it.Children = append(it.Children, ci)
	}
	if len(it.Children) == 0 {
		it.Children = append(it.Children, info("No AI client found here"))
	}
	if len(missing) > 0 {
		it.Children = append(it.Children, separator())
		it.Children = append(it.Children, lines("Not installed here: "+strings.Join(missing, ", "))...)
	}
	return it
}

// settingsItem is the line of the settings file's errors or warnings
// ("mcp_settings.json line 5: ..."), with each of them whole in its
// submenu, what it means, the fix, and Open settings file.
func settingsItem(problems []string, means, fix string) menuItem {
	label := short(problems[0], labelWidth)
	if len(problems) > 1 {
		label = short(problems[0], labelWidth-12) + fmt.Sprintf(" (+%d more)", len(problems)-1)
	}
	it := menuItem{Label: label, Tooltip: strings.Join(problems, "\n")}
	for i, p := range problems {
		if i > 0 {
			it.Children = append(it.Children, separator())
		}
		it.Children = append(it.Children, lines(p)...)
	}
	if means != "" {
		it.Children = append(it.Children, lines(means)...)
	}
	it.Children = append(it.Children, lines(fix)...)
	it.Children = append(it.Children, separator(), menuItem{Label: "Open settings file", Action: action{kind: actOpenSettings}})
	return it
}

// serverItem is a server's line, with its submenu: what is wrong and the
// fix, when something is, then the actions.
func serverItem(st hub.ServerStatus) menuItem {
	it := menuItem{Label: serverLabel(st), Tooltip: serverTooltip(st)}
	if text, fix := diagnosis(st); text != "" || fix != "" {
		it.Children = append(it.Children, lines(text)...)
		it.Children = append(it.Children, lines(fix)...)
		if !st.RetryAt.IsZero() {
			it.Children = append(it.Children, info("Next attempt at "+st.RetryAt.Local().Format(time.TimeOnly)))
		}
		it.Children = append(it.Children, separator())
	}
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

// serverLabel is a server's line: its name and its state in a few words
// (hub.Diagnose, which the dashboard and `mcptray status` show too). The
// whole error is in the submenu.
func serverLabel(st hub.ServerStatus) string {
	return st.Name + ": " + hub.Diagnose(st).Words
}

// diagnosis is what the top of a server's submenu says: what is wrong, in
// full, and the fix ("Fix: ..."); "" when all is well.
func diagnosis(st hub.ServerStatus) (text, fix string) {
	d := hub.Diagnose(st)
	if d.Fix == "" {
		return d.Problem, ""
	}
	return d.Problem, "Fix: " + d.Fix
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
	if len(s.SettingsErrors) > 0 {
		worse(icons.StateError)
	}
	if len(s.SettingsWarnings) > 0 {
		worse(icons.StateAttention)
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

// escapeLabel makes a label show as it is in goos's menus: dbusmenu (Linux)
// takes "_" as the mark of a mnemonic, and shows "__" as one underscore
// (com.canonical.dbusmenu, the "label" property); Windows menus take "&"
// so, and show "&&" as one ampersand (MENUITEMINFO, MFT_STRING). macOS
// menus have no such mark.
func escapeLabel(goos, s string) string {
	switch goos {
	case "linux", "freebsd", "openbsd", "netbsd":
		return strings.ReplaceAll(s, "_", "__")
	case "windows":
		return strings.ReplaceAll(s, "&", "&&")
	}
	return s
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

// wrap breaks text into lines of at most width runes, at spaces; a word
// longer than a line (a URL) is cut.
func wrap(text string, width int) []string {
	var out []string
	var line []rune
	for _, word := range strings.Fields(text) {
		w := []rune(word)
		if len(line) > 0 && len(line)+1+len(w) > width {
			out = append(out, string(line))
			line = nil
		}
		for len(w) > width {
			if len(line) > 0 {
				out = append(out, string(line))
				line = nil
			}
			out = append(out, string(w[:width]))
			w = w[width:]
		}
		if len(line) > 0 {
			line = append(line, ' ')
		}
		line = append(line, w...)
	}
	if len(line) > 0 {
		out = append(out, string(line))
	}
	return out
}

// hostOf is the host of a URL, or the URL when it has none.
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}
