package hub

// Clients are the AI clients on this machine, as the dashboard's Clients
// page shows them, and the connecting of each to this hub. The app gives
// the hub its own (`mcptray connect`'s); without it the page says that it
// has none.
type Clients interface {
	List() []ClientStatus
	// Connect adds the hub's entry to a client's config file, and
	// Disconnect removes it; each says what it did, for a person.
	Connect(id string) (string, error)
	Disconnect(id string) (string, error)
}

// ClientStatus is where an AI client stands with the hub.
type ClientStatus struct {
	ID        string `json:"id"`   // claude-desktop, cursor, ...
	Name      string `json:"name"` // Claude Desktop, Cursor, ...
	File      string `json:"file"` // the config file the client reads its MCP servers from
	Installed bool   `json:"installed"`
	// Connected: the file has the hub's entry. Other: it has an entry of
	// that name that reaches somewhere else (another address or key).
	Connected bool `json:"connected"`
	Other     bool `json:"other,omitempty"`
	// Problem is why the file cannot be read or changed, naming it.
	Problem string `json:"problem,omitempty"`
}
