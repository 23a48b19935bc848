package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/settings"
)

// ServerList is the answer of GET /api/servers.
type ServerList struct {
	Servers      []ServerStatus `json:"servers"`
	Endpoint     string         `json:"endpoint"`
	SettingsPath string         `json:"settingsPath"`
	// SettingsError is why the file on disk is not in effect (the last
	// good version is), with the path, line and column of each problem.
	SettingsError string `json:"settingsError,omitempty"`
	// SettingsErrors are the same problems one by one, for a person:
	// "mcp_settings.json line 5: ...".
	SettingsErrors []string `json:"settingsErrors,omitempty"`
	// SettingsWarnings are the mistakes of the settings in effect that stop
	// nothing by themselves: a server defined twice, "servers" where
	// "mcpServers" belongs.
	SettingsWarnings []string         `json:"settingsWarnings,omitempty"`
	Secrets          *keychain.Status `json:"secrets,omitempty"` // where secrets are kept
}

// NewServer is the body of POST /api/servers: a server's name and its
// entry, as in the settings file.
type NewServer struct {
	Name   string          `json:"name"`
	Server json.RawMessage `json:"server"`
}

// ServerLogs is the answer of GET /api/servers/{name}/logs.
type ServerLogs struct {
	Name   string   `json:"name"`
	Events []Event  `json:"events"`
	Stderr []string `json:"stderr,omitempty"`
}

// ErrServerExists is returned when a server to add has the name of one
// that is configured.
var ErrServerExists = errors.New("a server of that name is configured already")

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
	// A one-time link into the dashboard, for the commands of a user who
	// has a bearer key (`mcptray dashboard`, a second launch).
	mux.HandleFunc("POST /api/dashboard/link", func(w http.ResponseWriter, r *http.Request) {
		if fromPage(w, r) {
			return
		}
		path := r.URL.Query().Get("path")
		if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
			path = "/"
		}
		writeJSON(w, http.StatusOK, map[string]string{"url": h.DashboardURL(path)})
	})
	mux.HandleFunc("GET /api/servers", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") == "text" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			writeListText(w, h.List(), time.Now())
			return
		}
		writeJSON(w, http.StatusOK, h.List())
	})
	mux.HandleFunc("POST /api/servers", func(w http.ResponseWriter, r *http.Request) {
		if fromPage(w, r) {
			return
		}
		var body NewServer
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "the body must be {\"name\": ..., \"server\": {...}}: "+err.Error())
			return
		}
		var srv settings.Server
		if err := json.Unmarshal(body.Server, &srv); err != nil || len(body.Server) == 0 {
			writeError(w, http.StatusBadRequest, "server: want an object, as in the settings file")
			return
		}
		if err := h.AddServer(body.Name, &srv); err != nil {
			writeError(w, changeErrorCode(err), err.Error())
			return
		}
		d, _ := h.details(body.Name)
		writeJSON(w, http.StatusCreated, d.ServerStatus)
	})
	mux.HandleFunc("DELETE /api/servers/{name}", func(w http.ResponseWriter, r *http.Request) {
		if fromPage(w, r) {
			return
		}
		name := r.PathValue("name")
		if err := h.RemoveServer(name); err != nil {
			writeError(w, changeErrorCode(err), err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"removed": name})
	})
	mux.HandleFunc("GET /api/servers/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		d, ok := h.details(r.PathValue("name"))
		if !ok {
			writeError(w, http.StatusNotFound, "no server named "+r.PathValue("name"))
			return
		}
		writeJSON(w, http.StatusOK, ServerLogs{Name: d.Name, Events: d.Events, Stderr: d.Stderr})
	})
	mux.HandleFunc("GET /api/servers/{name}", func(w http.ResponseWriter, r *http.Request) {
		d, ok := h.details(r.PathValue("name"))
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
			d, _ := h.details(name)
			writeJSON(w, http.StatusOK, d.ServerStatus)
		}
	})
}

// fromPage refuses a request a web page sent (browsers send Origin with
// every POST and DELETE; the CLI sends none): adding a stdio server runs
// a command, which no page, not even one served from localhost, may ask
// for.
func fromPage(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Origin") == "" {
		return false
	}
	writeError(w, http.StatusForbidden, "servers are added and removed with the mcptray command or in the settings file, not from a web page")
	return true
}

// changeErrorCode is the status of a refused change: 404 for a server
// that is not configured, 400 for a mistake in the change, 409 for the
// rest (a broken settings file, a name in use).
func changeErrorCode(err error) int {
	var se *settings.Error
	switch {
	case errors.Is(err, ErrUnknownServer):
		return http.StatusNotFound
	case errors.Is(err, settings.ErrFileInvalid), errors.Is(err, ErrServerExists):
		return http.StatusConflict
	case errors.As(err, &se):
		return http.StatusBadRequest
	}
	return http.StatusConflict
}

// List returns what GET /api/servers answers.
func (h *Hub) List() ServerList {
	cur := h.store.Current()
	l := ServerList{Servers: h.Snapshot(), Endpoint: h.Endpoint(), SettingsPath: h.SettingsPath()}
	for i := range l.Servers {
		l.Servers[i] = withProblem(l.Servers[i], cur)
	}
	if err := h.SettingsError(); err != nil {
		l.SettingsError = err.Error()
		for _, e := range settings.List(err) {
			l.SettingsErrors = append(l.SettingsErrors, e.Brief())
		}
		if len(l.SettingsErrors) == 0 { // the file is gone, or unreadable
			l.SettingsErrors = []string{err.Error()}
		}
	}
	for _, w := range cur.Warnings {
		l.SettingsWarnings = append(l.SettingsWarnings, w.Brief())
	}
	if h.secrets != nil {
		st := h.secrets.Status()
		l.Secrets = &st
	}
	return l
}

// details is Details with the problem of the server's settings.
func (h *Hub) details(name string) (ServerDetails, bool) {
	d, ok := h.Details(name)
	if ok {
		d.ServerStatus = withProblem(d.ServerStatus, h.store.Current())
	}
	return d, ok
}

// AddServer adds a server to the settings file and applies the change at
// once: it is connecting when AddServer returns. A server whose entry has
// a mistake is refused with it (a *settings.Error).
func (h *Hub) AddServer(name string, srv *settings.Server) error {
	if name == "" {
		return errors.New("the server needs a name")
	}
	err := h.store.Modify(func(st *settings.Settings) error {
		if _, ok := st.Servers[name]; ok {
			return fmt.Errorf("%w: %q", ErrServerExists, name)
		}
		st.Servers[name] = srv
		return nil
	})
	if err != nil {
		return err
	}
	return h.applied()
}

// RemoveServer removes a server from the settings file and applies the
// change at once: it is stopped when RemoveServer returns.
func (h *Hub) RemoveServer(name string) error {
	err := h.store.Modify(func(st *settings.Settings) error {
		if _, ok := st.Servers[name]; !ok {
			return fmt.Errorf("%w: %q", ErrUnknownServer, name)
		}
		delete(st.Servers, name)
		return nil
	})
	if err != nil {
		return err
	}
	return h.applied()
}

// writeListText writes every server's state for a person to read: what a
// second launch of the tray app opens in the browser.
func writeListText(w io.Writer, l ServerList, now time.Time) {
	fmt.Fprintf(w, "mcptray is running.\n\nendpoint: %s\nsettings: %s\n", l.Endpoint, l.SettingsPath)
	for _, e := range l.SettingsErrors {
		fmt.Fprintf(w, "settings error: %s\n", e)
	}
	for _, e := range l.SettingsWarnings {
		fmt.Fprintf(w, "settings warning: %s\n", e)
	}
	fmt.Fprintln(w)
	if len(l.Servers) == 0 {
		fmt.Fprintln(w, "No servers are configured: add one with `mcptray add NAME URL`, or in the settings file.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATE\tTOOLS\tDETAIL")
	for _, s := range l.Servers {
		detail := s.Error
		if !s.RetryAt.IsZero() {
			detail += fmt.Sprintf(" (next attempt in %s)", s.RetryAt.Sub(now).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Name, s.Type, s.State, s.Tools, detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nEach server's details: %s/api/servers/NAME?format=text\n", strings.TrimSuffix(l.Endpoint, "/mcp"))
}

// writeDetailsText writes a server's details for a person to read: the
// tray's "Show details" opens it in the browser.
func writeDetailsText(w io.Writer, d ServerDetails) {
	fmt.Fprintf(w, "%s (%s): %s\n", d.Name, d.Type, d.State)
	if d.Error != "" {
		fmt.Fprintf(w, "error: %s\n", d.Error)
	}
	if d.Problem != "" && d.Problem != d.Error {
		fmt.Fprintf(w, "settings: %s\n", d.Problem)
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
	if len(d.Stderr) > 0 {
		fmt.Fprintf(w, "\nlast lines of its stderr:\n")
		for _, l := range d.Stderr {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	fmt.Fprintf(w, "\nrecent events (oldest first):\n")
	for _, e := range d.Events {
		fmt.Fprintf(w, "%s  %-5s  %s\n", e.Time.Local().Format(time.DateTime), e.Level, e.Message)
	}
}
