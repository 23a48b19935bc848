package hub

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/mcptray/mcptray/oauthflow"
)

// This file says what a person reads of a server's state: its state in a
// few words, the whole problem, and the fix. The tray's menu, `mcptray
// status` and the dashboard all show it, so each of them says the same;
// a new diagnosis is one more line of the failures table.

// Diagnosis is a server's state for a person.
type Diagnosis struct {
	// Words is the state in a few words, never an emoji alone, so that
	// screen readers say it right: "connected (24 tools)", "needs sign-in",
	// "can't connect", "disabled".
	Words string
	// Problem is what is wrong, whole ("" when all is well).
	Problem string
	// Fix is what to do about it, a sentence without a "Fix:" label; ""
	// when there is nothing to do.
	Fix string
}

// Diagnose says what a server's status means for a person.
func Diagnose(st ServerStatus) Diagnosis {
	d := Diagnosis{Words: stateWords(st)}
	switch st.State {
	case StateError:
		d.Problem, d.Fix = st.Error, failureOf(st).fix
	case StateNeedsAuthorization:
		d.Problem = "It asks you to sign in."
		if st.OAuth != nil && st.OAuth.Reason != "" {
			d.Problem = "It asks you to sign in: " + st.OAuth.Reason + "."
		} else if st.Error != "" {
			d.Problem = "It asks you to sign in: " + st.Error + "."
		}
		d.Fix = "choose Authorize… to sign in in your browser."
		if si := waitingSignIn(st); si != nil && si.Flow == oauthflow.FlowDevice {
			d.Problem = "A sign-in is waiting for the code " + si.UserCode + " at " + si.VerificationURI + "."
			d.Fix = "enter the code there, on any device, or choose Authorize… to start again."
			break
		}
		if st.OAuth != nil && st.OAuth.AuthorizationURL != "" {
			d.Problem = "A sign-in is waiting at " + hostOf(st.OAuth.AuthorizationURL) + "."
			d.Fix = "finish it in your browser, or choose Authorize… to open it again."
		}
	case StateDisabled:
		if st.Problem != "" {
			d.Problem, d.Fix = st.Problem, "correct its entry in the settings file."
		}
	}
	return d
}

// waitingSignIn is the server's sign-in waiting for the user, or nil.
func waitingSignIn(st ServerStatus) *oauthflow.SignIn {
	if st.OAuth == nil || st.OAuth.SignIn == nil || st.OAuth.SignIn.Status != oauthflow.SignInWaiting {
		return nil
	}
	return st.OAuth.SignIn
}

// stateWords is Diagnosis.Words.
func stateWords(st ServerStatus) string {
	switch st.State {
	case StateConnected:
		return fmt.Sprintf("connected (%d %s)", st.Tools, plural(st.Tools, "tool", "tools"))
	case StateNeedsAuthorization:
		if st.OAuth != nil && st.OAuth.AuthorizationURL != "" {
			return "sign-in waiting"
		}
		return "needs sign-in"
	case StateError:
		return failureOf(st).short
	case StateDisabled:
		if st.Problem != "" {
			return "disabled (settings error)"
		}
		return "disabled"
	}
	return "connecting…"
}

// failure is one way a server fails: how it matches a status, the state in
// a few words, and the fix.
type failure struct {
	match func(st ServerStatus, err string) bool
	short string
	fix   string
}

// contains matches an error that has any of these (lower-case) texts.
func contains(texts ...string) func(ServerStatus, string) bool {
	return func(_ ServerStatus, err string) bool {
		for _, t := range texts {
			if strings.Contains(err, t) {
				return true
			}
		}
		return false
	}
}

// failures are checked in order; the last matches everything. The fixes
// name the actions as the tray and the dashboard both call them (Open
// settings file, Show details, Reconnect).
var failures = []failure{
	{func(st ServerStatus, _ string) bool { return st.Problem != "" }, "settings error",
		"correct its entry in the settings file (Open settings file); the other servers run meanwhile."},
	{contains("environment variable"), "variable not set",
		"set it in the environment mcptray starts in (or write the value in the settings file), then restart mcptray."},
	{contains("cannot prefix mcp tool names"), "bad name",
		"rename it in the settings file, with letters, digits, _, - and . only."},
	{contains("openapi"), "not supported",
		"mcptray does not run MCPHub's openapi servers: disable or remove it."},
	{contains("(404)", " 404", "404 not found"), "not found (404)",
		"check the path of its URL in the settings file (often /mcp, or /sse for an SSE server)."},
	{contains("command \"", "executable file not found", "no such file or directory"), "won't start",
		"install the command it runs, or give its full path (and its script's) in the settings file."},
	{contains("server exited", "exit status", "signal: "), "exited",
		"its last lines of stderr, in Show details, say why; correct its command or args, then Reconnect."},
	{contains("cannot reach", "connection refused", "no such host", "network is unreachable"), "can't connect",
		"start the server, or correct its URL in the settings file; mcptray keeps trying."},
	{contains("x509", "certificate", "tls:"), "TLS error",
		"the server's certificate is not trusted here: check its URL, or install its CA certificate."},
	{contains("deadline exceeded", "timeout", "timed out"), "timed out",
		"the server did not answer in time: check that it runs, then Reconnect."},
	{contains(" 401", " 403", "unauthorized", "forbidden"), "refused",
		"check the credentials in its headers or env in the settings file."},
	{contains("speaks mcp"), "protocol mismatch",
		"update the server, or mcptray."},
	{func(ServerStatus, string) bool { return true }, "error",
		"Show details has its recent events; Reconnect tries again now."},
}

// failureOf finds how a server in error fails.
func failureOf(st ServerStatus) failure {
	err := strings.ToLower(st.Error)
	for _, f := range failures {
		if f.match(st, err) {
			return f
		}
	}
	return failures[len(failures)-1]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// hostOf is the host of a URL, or the URL when it has none.
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}
