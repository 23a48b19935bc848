package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
	"github.com/mcptray/mcptray/settings"
)

// This file has the changes to one server that the dashboard makes besides
// those the control API has (hub.go, api.go): its tools turned on and off,
// its entry edited. Each goes through settings.Store.Modify, so the file
// stays the source of truth, and is in effect when the method returns.

// Tool is one of a server's tools as its page shows it.
type Tool struct {
	Name        string `json:"name"` // the server's own name for it
	Description string `json:"description,omitempty"`
	// Enabled: the settings do not turn it off (its tools override).
	Enabled bool `json:"enabled"`
	// Listed: the server offers it now. A tool the settings turn off that
	// the server does not list (it is not connected) is shown all the same,
	// so that it can be turned on again.
	Listed bool `json:"listed"`
}

// Tools returns a server's tools: those it lists now, in its order, then
// those its settings mention that it does not list.
func (h *Hub) Tools(name string) ([]Tool, bool) {
	u := h.upstream(name)
	if u == nil {
		return nil, false
	}
	cfg := u.cfg.Load()
	var out []Tool
	seen := map[string]bool{}
	for _, it := range u.lists.Load().items[kindTools] {
		desc, _ := rawjson.String(it.raw, "description")
		out = append(out, Tool{Name: it.key, Description: desc, Enabled: cfg.ToolEnabled(it.key), Listed: true})
		seen[it.key] = true
	}
	var extra []string
	for tool := range cfg.Tools {
		if !seen[tool] {
			extra = append(extra, tool)
		}
	}
	slices.Sort(extra)
	for _, tool := range extra {
		out = append(out, Tool{Name: tool, Description: cfg.Tools[tool].Description, Enabled: cfg.ToolEnabled(tool)})
	}
	return out, true
}

// ErrInvalidChange is wrapped by the error of a change that makes no sense
// (a tool without a name).
var ErrInvalidChange = errors.New("invalid change")

// SetToolEnabled turns one of a server's tools on or off in the settings
// file (its entry's tools override, as MCPHub writes it) and applies the
// change at once: the views offer it, or no longer do, when it returns.
// Turning a tool on removes what turned it off, and the override itself
// when nothing else is left in it, so that the file reads as before.
func (h *Hub) SetToolEnabled(name, tool string, enabled bool) error {
	if tool == "" {
		return fmt.Errorf("%w: which tool?", ErrInvalidChange)
	}
	err := h.store.Modify(func(st *settings.Settings) error {
		srv := st.Servers[name]
		if srv == nil {
			return fmt.Errorf("%w: %q", ErrUnknownServer, name)
		}
		o := srv.Tools[tool]
		if enabled {
			if o == nil {
				return nil
			}
			o.Enabled = nil
			if o.Description == "" && len(o.Extra) == 0 {
				delete(srv.Tools, tool)
			}
			if len(srv.Tools) == 0 {
				srv.Tools = nil // no "tools": {} left behind
			}
			return nil
		}
		if srv.Tools == nil {
			srv.Tools = map[string]*settings.ItemOverride{}
		}
		if o == nil {
			o = &settings.ItemOverride{}
			srv.Tools[tool] = o
		}
		off := false
		o.Enabled = &off
		return nil
	})
	if err != nil {
		return err
	}
	return h.applied()
}

// ServerChange is an edit of a server's entry, as the dashboard's form
// makes it: the fields it shows, each replaced whole when set.
type ServerChange struct {
	Headers map[string]string // a remote server's; nil leaves them
	Env     map[string]string // a local server's; nil leaves them
	// OAuth, when set, replaces the oauth block's client and scopes (a
	// block left empty is removed); the facts mcptray mirrored there after
	// a sign-in stay.
	OAuth *OAuthChange
}

// OAuthChange is the part of an oauth block the dashboard edits.
type OAuthChange struct {
	ClientID string
	// ClientSecret replaces the secret when set. A literal one is moved
	// into the keychain as soon as the hub reads the file (it never shows
	// in the dashboard again); a ${VAR} placeholder stays.
	ClientSecret *string
	Scopes       []string
}

// UpdateServer changes a server's entry in the settings file and applies
// the change at once (a changed connection reconnects). A change that
// makes the entry invalid is refused with its *settings.Error, and the file
// stays as it was.
func (h *Hub) UpdateServer(name string, c ServerChange) error {
	err := h.store.Modify(func(st *settings.Settings) error {
		srv := st.Servers[name]
		if srv == nil {
			return fmt.Errorf("%w: %q", ErrUnknownServer, name)
		}
		if c.Headers != nil {
			srv.Headers = emptyNil(c.Headers)
		}
		if c.Env != nil {
			srv.Env = emptyNil(c.Env)
		}
		if o := c.OAuth; o != nil {
			if srv.OAuth == nil {
				srv.OAuth = &settings.OAuth{}
			}
			srv.OAuth.ClientID, srv.OAuth.Scopes = o.ClientID, o.Scopes
			if o.ClientSecret != nil {
				srv.OAuth.ClientSecret = *o.ClientSecret
			}
			if b, err := json.Marshal(srv.OAuth); err == nil && string(b) == "{}" {
				srv.OAuth = nil
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return h.applied()
}

// emptyNil is m, or nil when it is empty: an empty map is no entry.
func emptyNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
