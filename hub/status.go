package hub

import (
	"strings"
	"time"

	"github.com/mcptray/mcptray/internal/ring"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// State is where a server's connection stands.
type State string

// The states of a server.
const (
	StateDisabled           State = "disabled"
	StateConnecting         State = "connecting"
	StateConnected          State = "connected"
	StateNeedsAuthorization State = "needs_authorization"
	StateError              State = "error"
)

// ServerStatus is what the hub knows of one configured server. It never
// holds a secret.
type ServerStatus struct {
	Name              string    `json:"name"`
	Type              string    `json:"type"`
	State             State     `json:"state"`
	Error             string    `json:"error,omitempty"`
	Tools             int       `json:"tools"`
	Prompts           int       `json:"prompts"`
	Resources         int       `json:"resources"`
	ResourceTemplates int       `json:"resourceTemplates"`
	Attempt           int       `json:"attempt,omitempty"` // failed connection attempts in a row
	RetryAt           time.Time `json:"retryAt,omitzero"`  // when the next attempt starts
	ConnectedAt       time.Time `json:"connectedAt,omitzero"`
	// ConnectTook is how long the last connection took to be ready: the
	// start of the process (stdio) or the first request, the handshake and
	// the lists.
	ConnectTook     time.Duration `json:"connectTookNs,omitempty"`
	ServerName      string        `json:"serverName,omitempty"`    // from the server's initialize answer
	ServerVersion   string        `json:"serverVersion,omitempty"` // likewise
	ProtocolVersion string        `json:"protocolVersion,omitempty"`
	PID             int           `json:"pid,omitempty"` // a stdio server's process
	// OAuth is the server's authorization, when it uses OAuth.
	OAuth *oauthflow.Summary `json:"oauth,omitempty"`
	// Hidden are items of this server that another one offers under the
	// same name or URI in some view (the first in the settings wins
	// there); /mcp/{server} serves them.
	Hidden []string `json:"hidden,omitempty"`
	// Problem is what is wrong with the server's entry in the settings
	// file, with its line ("mcp_settings.json line 5: unknown type ..."),
	// if anything (settings.Server.Problem). Such a server is not
	// connected: its state is error, the other servers run.
	Problem string `json:"problem,omitempty"`
}

// Event is one entry of a server's recent history, shown in its details.
type Event struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // info, warn or error
	Message string    `json:"message"`
}

// ServerDetails is a server's status with its recent events.
type ServerDetails struct {
	ServerStatus
	Events []Event `json:"events"`
	// Stderr is the last lines a stdio server wrote to its stderr, oldest
	// first: the cause, usually, of a server that exits at start.
	Stderr []string `json:"stderr,omitempty"`
}

// problemText is the problem of a server's entry in the settings, for its
// status: each of its problems with the file's line, without the server's
// name, which the status has.
func problemText(cur *settings.Settings, name string) string {
	return serverProblem(cur.Servers[name])
}

// serverProblem is problemText of one entry.
func serverProblem(srv *settings.Server) string {
	if srv == nil {
		return ""
	}
	var parts []string
	for _, e := range settings.List(srv.Problem) {
		p := *e
		p.Server = ""
		parts = append(parts, p.Brief())
	}
	return strings.Join(parts, "; ")
}

// withProblem fills in a status's Problem from the settings in effect. A
// server with one is in error with it, unless it is disabled.
func withProblem(st ServerStatus, cur *settings.Settings) ServerStatus {
	p := problemText(cur, st.Name)
	if p == "" {
		return st
	}
	st.Problem = p
	if st.Type == "" { // an entry that could not be read has no transport (Kind)
		st.Type = cur.Servers[st.Name].Type
	}
	if st.State != StateDisabled {
		st.State, st.Error, st.Attempt, st.RetryAt = StateError, p, 0, time.Time{}
	}
	return st
}

// maxEvents is how many events a server keeps.
const maxEvents = 100

// eventLog is a server's last maxEvents events.
type eventLog = ring.Ring[Event]

func newEventLog() *eventLog { return &eventLog{Size: maxEvents} }
