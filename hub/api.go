package hub

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mcptray/mcptray/keychain"
)

// ServerList is the answer of GET /api/servers.
type ServerList struct {
	Servers       []ServerStatus   `json:"servers"`
	Endpoint      string           `json:"endpoint"`
	SettingsPath  string           `json:"settingsPath"`
	SettingsError string           `json:"settingsError,omitempty"`
	Secrets       *keychain.Status `json:"secrets,omitempty"` // where secrets are kept
}

// apiRoutes adds the control API: the same operations the tray offers. The
// sign-in actions (authorize, signout) and the redirect URI are OAuth's own
// handler's.
func (h *Hub) apiRoutes(mux *http.ServeMux) {
	if h.auth != nil {
		mux.Handle("GET /oauth/callback", h.auth)
		mux.Handle("POST /api/servers/{name}/authorize", h.auth)
		mux.Handle("POST /api/servers/{name}/signout", h.auth)
	}
	mux.HandleFunc("GET /api/health", h.health)
	mux.HandleFunc("GET /api/servers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.List())
	})
	mux.HandleFunc("GET /api/servers/{name}", func(w http.ResponseWriter, r *http.Request) {
		d, ok := h.Details(r.PathValue("name"))
		if !ok {
			writeError(w, http.StatusNotFound, "no server named "+r.PathValue("name"))
			return
		}
		if r.URL.Query().Get("format") == "text" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			writeDetailsText(w, d)
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("POST /api/servers/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		var err error
		switch r.PathValue("action") {
		case "reconnect":
			err = h.Reconnect(name)
		case "enable":
			err = h.SetEnabled(name, true)
		case "disable":
			err = h.SetEnabled(name, false)
		case "authorize", "signout":
			// Served by OAuth's handler, when this process has OAuth.
			err = errors.New("OAuth is not available in this process")
		default:
			writeError(w, http.StatusNotFound, "unknown action "+r.PathValue("action"))
			return
		}
		switch {
		case errors.Is(err, ErrUnknownServer):
			writeError(w, http.StatusNotFound, err.Error())
		case err != nil:
			writeError(w, http.StatusConflict, err.Error())
		default:
			d, _ := h.Details(name)
			writeJSON(w, http.StatusOK, d.ServerStatus)
		}
	})
}

// List returns what GET /api/servers answers.
func (h *Hub) List() ServerList {
	l := ServerList{Servers: h.Snapshot(), Endpoint: h.Endpoint(), SettingsPath: h.SettingsPath()}
	if err := h.SettingsError(); err != nil {
		l.SettingsError = err.Error()
	}
	if h.secrets != nil {
		st := h.secrets.Status()
		l.Secrets = &st
	}
	return l
}

// writeDetailsText writes a server's details for a person to read: the
// tray's "Show details" opens it in the browser.
func writeDetailsText(w io.Writer, d ServerDetails) {
	fmt.Fprintf(w, "%s (%s): %s\n", d.Name, d.Type, d.State)
	if d.Error != "" {
		fmt.Fprintf(w, "error: %s\n", d.Error)
	}
	if !d.RetryAt.IsZero() {
		fmt.Fprintf(w, "next attempt: %s (attempt %d)\n", d.RetryAt.Local().Format(time.DateTime), d.Attempt+1)
	}
	if !d.ConnectedAt.IsZero() {
		fmt.Fprintf(w, "connected since %s to %s %s (MCP %s), in %v\n", d.ConnectedAt.Local().Format(time.DateTime), d.ServerName, d.ServerVersion, d.ProtocolVersion, d.ConnectTook.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "tools %d, prompts %d, resources %d, resource templates %d\n", d.Tools, d.Prompts, d.Resources, d.ResourceTemplates)
	if o := d.OAuth; o != nil {
		fmt.Fprintf(w, "\nOAuth: %s", o.State)
		if o.Reason != "" {
			fmt.Fprintf(w, " (%s)", o.Reason)
		}
		fmt.Fprintln(w)
		for _, kv := range [][2]string{{"issuer", o.Issuer}, {"client", o.ClientID}, {"registration", o.Registration}, {"scopes", strings.Join(o.Scopes, " ")}, {"token store", o.TokenStore}} {
			if kv[1] != "" {
				fmt.Fprintf(w, "  %s: %s\n", kv[0], kv[1])
			}
		}
		if !o.ExpiresAt.IsZero() {
			fmt.Fprintf(w, "  access token expires: %s\n", o.ExpiresAt.Local().Format(time.DateTime))
		}
		if !o.AuthorizedAt.IsZero() {
			fmt.Fprintf(w, "  signed in: %s\n", o.AuthorizedAt.Local().Format(time.DateTime))
		}
		if o.AuthorizationURL != "" {
			fmt.Fprintf(w, "  sign-in waiting at: %s\n", o.AuthorizationURL)
		}
	}
	fmt.Fprintf(w, "\nrecent events (oldest first):\n")
	for _, e := range d.Events {
		fmt.Fprintf(w, "%s  %-5s  %s\n", e.Time.Local().Format(time.DateTime), e.Level, e.Message)
	}
}
