package hub

import (
	"errors"
	"net/http"

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

// Authorization is the answer of POST /api/servers/{name}/authorize.
type Authorization struct {
	URL string `json:"authorizationUrl"`
}

// apiRoutes adds the control API: the same operations the tray offers.
func (h *Hub) apiRoutes(mux *http.ServeMux) {
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
		case "authorize":
			// ?browser=false when the caller shows the URL itself.
			var u string
			u, err = h.Authorize(r.Context(), name, r.URL.Query().Get("browser") != "false")
			if err == nil {
				writeJSON(w, http.StatusOK, Authorization{URL: u})
				return
			}
		case "signout":
			err = h.SignOut(r.Context(), name)
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
