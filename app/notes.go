package main

import (
	"errors"
	"strings"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/oauthflow"
)

// This file decides what is worth a desktop notification, with pure
// functions the tests check as tables: what changed between two snapshots
// (noteRules), and what a failed menu action says (actionNote).

// note is a desktop notification.
type note struct {
	Server    string
	Title     string
	Body      string
	Authorize bool   // clicking it starts Authorize…
	key       string // what it is about, to send it once
}

// reasonSignedOut is oauthflow's reason after a sign-out the user asked
// for: what follows it is no news.
const reasonSignedOut = "signed out"

// change is one server in two snapshots.
type change struct {
	prev, next hub.ServerStatus
	pa, na     oauthflow.Summary // their authorization; zero without OAuth
	known      bool              // the server was in the earlier snapshot
	browser    bool              // this instance opens the browser for sign-ins
}

// noteRule is a kind of change worth a notification: the first rule whose
// when matches decides; a rule without make sends nothing. A new kind (a
// new state of oauthflow.Summary) is one more line.
type noteRule struct {
	name string
	when func(c change) bool
	make func(c change) note
}

var noteRules = []noteRule{
	{"signed in",
		func(c change) bool { return c.known && c.na.AuthorizedAt.After(c.pa.AuthorizedAt) },
		func(c change) note {
			return note{Title: "Signed in to " + c.next.Name, Body: "Its tools are available to your MCP clients.", key: "signed-in " + c.na.AuthorizedAt.String()}
		}},
	// A sign-in's end is its status in oauthflow's summary, never
	// guessed from its page going away.
	{"sign-in failed",
		func(c change) bool { return signInNow(c, oauthflow.SignInFailed) },
		func(c change) note {
			body := "Show details says why. Choose Authorize… to try again."
			if e := c.na.SignIn.Error; e != "" {
				body = sentence(e) + " Choose Authorize… to try again."
			}
			return note{Title: "Signing in to " + c.next.Name + " failed", Body: body, Authorize: true, key: "failed " + c.na.SignIn.ID}
		}},
	{"sign-in expired",
		func(c change) bool { return signInNow(c, oauthflow.SignInExpired) },
		func(c change) note {
			return note{Title: "Signing in to " + c.next.Name + " did not complete", Body: "Its sign-in was not finished in time. Choose Authorize… to try again.", Authorize: true, key: "expired " + c.na.SignIn.ID}
		}},
	{"sign-in waiting",
		func(c change) bool { return signInNow(c, oauthflow.SignInWaiting) && c.na.SignIn.URL != "" },
		func(c change) note {
			si := c.na.SignIn
			key := "waiting " + si.ID
			switch {
			case si.Flow == oauthflow.FlowDevice:
				return note{Title: "Sign in to " + c.next.Name + " with a code", Body: "Open " + si.VerificationURI + " on any device and enter the code " + si.UserCode + ".", key: key}
			case si.BrowserOpened:
				return note{Title: "Sign in to " + c.next.Name + " in your browser", Body: "Its sign-in page opened in your browser (" + hostOf(si.URL) + "): finish there.", key: key}
			}
			return note{Title: "Sign in to " + c.next.Name, Body: "mcptray could not open a browser. Open this address in one: " + si.URL, key: key}
		}},
	// The user asked for it: neither the sign-out nor the server asking
	// for a sign-in after it is news.
	{"signed out", func(c change) bool { return c.na.Reason == reasonSignedOut }, nil},
	{"credentials stopped working",
		func(c change) bool {
			return c.next.State == hub.StateNeedsAuthorization && c.prev.State != hub.StateNeedsAuthorization && (c.na.AuthorizedBefore || !c.na.AuthorizedAt.IsZero())
		},
		func(c change) note {
			return note{Title: c.next.Name + " needs you to sign in again", Body: sentence(reasonOf(c.next)) + " Choose Authorize… to sign in.", Authorize: true, key: "lost " + c.next.Error}
		}},
	{"first sign-in needed",
		func(c change) bool {
			return c.next.State == hub.StateNeedsAuthorization && c.prev.State != hub.StateNeedsAuthorization
		},
		func(c change) note {
			body := "Choose Authorize…, or run `mcptray authorize " + c.next.Name + "`, to sign in."
			if c.browser {
				body = "mcptray opens your browser for it, one sign-in at a time; Authorize… opens it now."
			}
			return note{Title: c.next.Name + " needs you to sign in", Body: body, Authorize: true, key: "first"}
		}},
}

// signInNow reports whether the change brought a sign-in (a new one, or
// the same one in a new status) that is now in status.
func signInNow(c change, status string) bool {
	n, p := c.na.SignIn, c.pa.SignIn
	if n == nil || n.Status != status {
		return false
	}
	return p == nil || p.ID != n.ID || p.Status != n.Status
}

// notesFor says what a change between two snapshots is worth telling.
func notesFor(prev, next snapshot) []note {
	before := map[string]hub.ServerStatus{}
	for _, st := range prev.Servers {
		before[st.Name] = st
	}
	var out []note
	for _, n := range next.Servers {
		p, known := before[n.Name]
		c := change{prev: p, next: n, known: known, browser: next.Browser}
		if p.OAuth != nil {
			c.pa = *p.OAuth
		}
		if n.OAuth != nil {
			c.na = *n.OAuth
		}
		for _, r := range noteRules {
			if !r.when(c) {
				continue
			}
			if r.make != nil {
				nt := r.make(c)
				nt.Server = n.Name
				out = append(out, nt)
			}
			break
		}
	}
	return out
}

// reasonOf is why a server asks for a sign-in.
func reasonOf(st hub.ServerStatus) string {
	if st.OAuth != nil && st.OAuth.Reason != "" {
		return st.OAuth.Reason
	}
	if st.Error != "" {
		return st.Error
	}
	return "it asks for a sign-in"
}

// sentence makes a lower-case reason a sentence.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	if !strings.HasPrefix(s, "mcptray") { // a name, written in lower case
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// actionNote is what a failed menu action says: what failed, on which
// server, why, and what to do. endpoint is the hub's, for Copy endpoint
// URL without a clipboard tool.
func actionNote(a action, err error, endpoint string) note {
	why := short(sentence(err.Error()), 200)
	n := note{Server: a.server, Body: why, key: err.Error()}
	switch a.kind {
	case actCopyEndpoint:
		if errors.Is(err, errNoClipboard) {
			return note{Title: "Your MCP endpoint", Body: "Connect your MCP clients to " + endpoint + " — mcptray could not copy it: " + err.Error() + ".", key: "endpoint"}
		}
		n.Title = "Copying the endpoint URL failed"
		n.Body = why + " The endpoint is " + endpoint + "."
	case actAuthorize:
		n.Title = "Signing in to " + a.server + " failed"
		n.Body = why + " Show details has each step."
		n.Authorize = true
	case actReconnect:
		n.Title = "Reconnecting " + a.server + " failed"
	case actEnable:
		n.Title = "Enabling " + a.server + " failed"
	case actDisable:
		n.Title = "Disabling " + a.server + " failed"
	case actSignOut:
		n.Title = "Signing out of " + a.server + " failed"
	case actDetails:
		n.Title = "Showing the details of " + a.server + " failed"
	case actDashboard:
		n.Title = "Opening the dashboard failed"
	case actConnectClient:
		n.Server, n.Title = "", "Connecting "+clientName(a.server)+" failed"
	case actDisconnectClient:
		n.Server, n.Title = "", "Disconnecting "+clientName(a.server)+" failed"
	case actOpenSettings:
		n.Title = "Opening the settings file failed"
	case actOpenLogs:
		n.Title = "Opening the log folder failed"
	case actStartAtLogin:
		n.Title = "Start at login was not changed"
	default:
		n.Title = "mcptray"
	}
	return n
}

// clientNote says what connecting or disconnecting a client did.
func clientNote(a action, msg string) note {
	title := "Connected " + clientName(a.server)
	if a.kind == actDisconnectClient {
		title = "Disconnected " + clientName(a.server)
	}
	return note{Title: title, Body: short(msg, 300), key: msg}
}

// clientName is the name of a client, by its id.
func clientName(id string) string {
	if c := lookupClient(id); c != nil {
		return c.Name
	}
	return id
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

// startFailedNote is the notification of a start that failed, for a
// person who started mcptray from the desktop and reads no stderr.
func startFailedNote(err error) note {
	body := sentence(short(err.Error(), 220))
	if dir, derr := logDir(); derr == nil {
		body += " The log is in " + dir + "."
	}
	return note{Title: "mcptray could not start", Body: body, key: "start"}
}

// noTrayHostNote tells a desktop without a tray host what to do: desktop
// is XDG_CURRENT_DESKTOP.
func noTrayHostNote(desktop, endpoint string) note {
	fix := "Start a panel with a system tray (a StatusNotifier host: KDE, Xfce, Cinnamon and most panels have one)"
	if strings.Contains(strings.ToUpper(desktop), "GNOME") {
		fix = "On GNOME, install and turn on the AppIndicator extension (gnome-shell-extension-appindicator)"
	}
	return note{
		Title: "mcptray runs, but its icon cannot show",
		Body:  "Your desktop has no tray for it. " + fix + "; the icon appears as soon as it runs. Meanwhile your MCP clients connect to " + endpoint + ", and `mcptray status` shows the servers.",
		key:   "no-tray-host",
	}
}
