package hub

import (
	"time"

	"github.com/mcptray/mcptray/internal/ring"
	"github.com/mcptray/mcptray/oauthflow"
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
	Events []Event  `json:"events"`
	Stderr []string `json:"stderr,omitempty"` // a stdio server's last stderr lines
}

// maxEvents is how many events a server keeps.
const maxEvents = 100

// eventLog is a server's last maxEvents events.
type eventLog = ring.Ring[Event]

func newEventLog() *eventLog { return &eventLog{Size: maxEvents} }
