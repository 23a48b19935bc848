package hub

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mcptray/mcptray/internal/apijson"
	"github.com/mcptray/mcptray/settings"
)

// maxRequestBody bounds one POSTed message from a client.
const maxRequestBody = 32 << 20

// AlreadyRunningError says another mcptray holds the listen address.
type AlreadyRunningError struct {
	Addr    string
	PID     int
	Version string
}

func (e *AlreadyRunningError) Error() string {
	return fmt.Sprintf("mcptray is already running at http://%s (pid %d); use it, or quit it first", e.Addr, e.PID)
}

// Listen binds the listen address. On 127.0.0.1 or localhost it binds
// [::1] on the same port too, where the system has IPv6, since clients may
// resolve localhost to either. A non-loopback address is refused unless
// bearer keys are configured: the hub would otherwise hand the user's MCP
// servers to anyone on the network.
func (h *Hub) Listen() error {
	h.mu.Lock()
	listening := len(h.listeners) > 0
	h.mu.Unlock()
	if listening {
		return nil
	}
	host, port, _ := net.SplitHostPort(h.listen)
	if !isLoopbackHost(host) && len(h.store.Current().ActiveBearerKeys()) == 0 {
		return fmt.Errorf("refusing to listen on %s without bearer keys: anyone who can reach it could use your MCP servers; add bearerKeys to %s, or listen on 127.0.0.1", h.listen, h.store.Path())
	}
	first := h.listen
	if host == "localhost" {
		first = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := net.Listen("tcp", first)
	if err != nil {
		// Whatever the system calls it (EADDRINUSE, WSAEADDRINUSE), ask the
		// holder whether it is mcptray.
		if running := probeRunning(first); running != nil {
			return running
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s is in use by another program; choose another address with --listen", first)
		}
		return fmt.Errorf("listen on %s: %w", first, err)
	}
	lns := []net.Listener{ln}
	if host == "127.0.0.1" || host == "localhost" {
		_, actual, _ := net.SplitHostPort(ln.Addr().String())
		if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", actual)); err == nil {
			lns = append(lns, ln6)
		} else {
			h.log.Debug("not listening on [::1]", "err", err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.listeners) > 0 { // another Listen won meanwhile
		for _, l := range lns {
			l.Close()
		}
		return nil
	}
	h.listeners = lns
	return nil
}

// probeRunning asks whoever holds addr whether it is mcptray.
func probeRunning(addr string) *AlreadyRunningError {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/api/health")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var health struct {
		App     string `json:"app"`
		PID     int    `json:"pid"`
		Version string `json:"version"`
	}
	if json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 4096)).Decode(&health) != nil || health.App != "mcptray" {
		return nil
	}
	return &AlreadyRunningError{Addr: addr, PID: health.PID, Version: health.Version}
}

// Addr returns the address the hub listens on (the first, for IPv4), or the
// configured one before Listen.
func (h *Hub) Addr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.listeners) > 0 {
		return h.listeners[0].Addr().String()
	}
	return h.listen
}

// BaseURL is systemConfig.install.baseUrl, or http://localhost:PORT: the
// address clients and the OAuth redirect use.
func (h *Hub) BaseURL() string {
	if b := h.store.Current().BaseURL(); b != "" {
		return b
	}
	host, port, _ := net.SplitHostPort(h.Addr())
	if isLoopbackHost(host) || host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Endpoint is the streamable HTTP URL of every server together.
func (h *Hub) Endpoint() string { return h.BaseURL() + "/mcp" }

// Handler returns the hub's HTTP handler: the MCP endpoints and the control
// API, behind the checks of protect, and the dashboard, behind admit's and
// its sessions' (dashboard.go).
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp", h.serveStreamable)
	mux.HandleFunc("/mcp/{name}", h.serveStreamable)
	mux.HandleFunc("/sse", h.serveSSE)
	mux.HandleFunc("/sse/{name}", h.serveSSE)
	mux.HandleFunc("/messages", h.serveMessages)
	mux.HandleFunc("/sse/{name}/messages", h.serveMessages)
	h.apiRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint; MCP clients connect to "+h.Endpoint())
	})
	api, pages := h.protect(mux), h.pageRoutes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPagePath(r.URL.Path) {
			pages.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// viewFor returns the view a request's {name} addresses, or nil.
func (h *Hub) viewFor(r *http.Request) *view {
	t := h.routes.Load()
	name := r.PathValue("name")
	if name == "" {
		return t.global
	}
	return t.byName[name]
}

func (h *Hub) notFound(w http.ResponseWriter, r *http.Request) {
	if name := r.PathValue("name"); name != "" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no server or group named %q", name))
		return
	}
	writeError(w, http.StatusNotFound, "the global route is turned off (systemConfig.routing.enableGlobalRoute); use /mcp/{server or group}")
}

// protect guards every route: admit's checks (DNS rebinding, origins,
// CORS), then bearer keys when configured.
func (h *Hub) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := h.store.Current()
		if !h.admit(w, r, st) {
			return
		}
		if !h.bearerAllowed(r, st) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcptray"`)
			writeError(w, http.StatusUnauthorized, "a bearer key from the settings' bearerKeys is required")
			return
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			h.setBodyDeadline(w)
			r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		}
		next.ServeHTTP(w, r)
	})
}

// setBodyDeadline gives a request's body h.bodyTimeout to arrive: a
// client sending a byte now and then cannot hold a connection (and a
// handler) for ever; reading it then fails with os.ErrDeadlineExceeded.
// The deadline ends with the body: net/http clears it when it starts its
// background read of the connection, at the body's end
// (connReader.startBackgroundRead), so the answer, however long it
// streams, runs under none (TestTimeoutsSpareStreams).
func (h *Hub) setBodyDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.bodyTimeout)) // unsupported by a test's recorder
}

// admit makes the checks every request passes first, and answers the
// request itself (a refusal, a CORS preflight) when it goes no further:
//
//   - Host must be a loopback name or the base URL's host (DNS rebinding
//     protection, as the MCP streamable HTTP transport requires:
//     basic/transports "Security Warning").
//   - On the MCP endpoints, a page of a loopback origin (any port: the
//     MCP Inspector's web UI is http://localhost:6274) or of the base URL's
//     origin may connect, with CORS; other origins are refused.
//   - Everything else (the control API, the dashboard, the OAuth callback)
//     answers only mcptray's own pages: an Origin must be the request's own
//     (scheme, host and port exactly: a page served by another program on
//     another port of this machine is another origin, RFC 6454 §5) or the
//     base URL's, and gets no CORS headers, so that no other page can
//     change anything (browsers send Origin with every POST and DELETE,
//     no-cors ones included: Fetch, "origin header") nor read an answer.
//     A state-changing request without Origin that a browser marks as
//     cross-site or same-site (Sec-Fetch-Site) is refused too.
func (h *Hub) admit(w http.ResponseWriter, r *http.Request, st *settings.Settings) bool {
	if !h.hostAllowed(r.Host, st) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("Host %q is not allowed: mcptray answers only to localhost (DNS rebinding protection)", r.Host))
		return false
	}
	origin := r.Header.Get("Origin")
	if !isMCPPath(r.URL.Path) {
		switch {
		case origin != "" && !ownOrigin(origin, r, st):
			writeError(w, http.StatusForbidden, fmt.Sprintf("Origin %q is not allowed: only mcptray's own pages may use its control API and dashboard", origin))
			return false
		case origin == "" && changesState(r.Method) && crossSite(r.Header.Get("Sec-Fetch-Site")):
			writeError(w, http.StatusForbidden, "a request from another site is not allowed: only mcptray's own pages may use its control API and dashboard")
			return false
		}
		return true
	}
	if origin == "" {
		return true
	}
	if !h.originAllowed(origin, st) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("Origin %q is not allowed: only pages served from localhost may use mcptray", origin))
		return false
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Add("Vary", "Origin")
	hdr.Set("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate")
	if r.Method == http.MethodOptions {
		hdr.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-Id, Mcp-Method, Mcp-Name")
		hdr.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	return true
}

// isMCPPath reports whether p is one of the MCP endpoints: /mcp, /sse,
// /messages and the routes of one server or group under them.
func isMCPPath(p string) bool {
	for _, root := range []string{"/mcp", "/sse", "/messages"} {
		if p == root || strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return false
}

// ownOrigin reports whether origin is the request's own (the origin of
// the URL it was sent to: scheme, host and port) or the base URL's.
func ownOrigin(origin string, r *http.Request, st *settings.Settings) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" {
		return false // "null" among others
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	b, err := url.Parse(st.BaseURL())
	return err == nil && b.Host != "" && strings.EqualFold(b.Scheme, u.Scheme) && strings.EqualFold(b.Host, u.Host)
}

// changesState reports whether a request of this method may change
// something (RFC 9110 §9.2.1: all but the safe methods).
func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// crossSite reports whether a Sec-Fetch-Site value says a request came
// from a page of another origin (Fetch Metadata Request Headers, §2.1:
// "same-site" is another port or subdomain of the same site).
func crossSite(v string) bool { return v == "cross-site" || v == "same-site" }

func (h *Hub) hostAllowed(hostport string, st *settings.Settings) bool {
	host := hostOnly(hostport)
	if isLoopbackHost(host) {
		return true
	}
	if b, err := url.Parse(st.BaseURL()); err == nil && b.Host != "" && strings.EqualFold(b.Hostname(), host) {
		return true
	}
	// Listening on a specific non-loopback address (with bearer keys) makes
	// that address a name of the hub too.
	lhost, _, _ := net.SplitHostPort(h.listen)
	return lhost != "" && lhost != "0.0.0.0" && lhost != "::" && strings.EqualFold(lhost, host)
}

// originAllowed is the rule of the MCP endpoints: a loopback origin on any
// port, or the base URL's origin exactly.
func (h *Hub) originAllowed(origin string, st *settings.Settings) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" among others
	}
	if isLoopbackHost(u.Hostname()) {
		return true
	}
	b, err := url.Parse(st.BaseURL())
	return err == nil && b.Host != "" && strings.EqualFold(b.Scheme, u.Scheme) && strings.EqualFold(b.Host, u.Host)
}

// bearerAllowed checks the request's bearer key against MCPHub's bearerKeys:
// a key of accessType all opens everything; groups, servers and custom open
// /mcp/{name} and /sse/{name} for the names they list. The health probe
// needs no key. With no keys configured, requests need none, unless the hub
// listens beyond loopback, where it then refuses everything.
func (h *Hub) bearerAllowed(r *http.Request, st *settings.Settings) bool {
	if r.URL.Path == "/api/health" || r.URL.Path == "/oauth/callback" {
		return true // the browser has no key; the callback's state protects it
	}
	keys := st.ActiveBearerKeys()
	if len(keys) == 0 {
		host, _, _ := net.SplitHostPort(h.listen)
		return isLoopbackHost(host)
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return false
	}
	name := pathName(r.URL.Path)
	for _, k := range keys {
		if subtle.ConstantTimeCompare([]byte(k.Token), []byte(token)) != 1 {
			continue
		}
		switch k.AccessType {
		case "", "all":
			return true
		}
		if name == "" {
			return false // the global route and the API need a key for everything
		}
		// Ask what the route serves, not what its name looks like: the name
		// is only a key into the route table, which says whether a server or
		// a group answers there (issue 11: a server key once reached a group
		// of the server's name).
		v := h.routes.Load().byName[name]
		if v == nil {
			return false
		}
		kind, id, _ := strings.Cut(v.key, "/")
		switch kind {
		case "server":
			return (k.AccessType == "servers" || k.AccessType == "custom") && slices.Contains(k.AllowedServers, id)
		case "group":
			g := groupByKey(st, id)
			return (k.AccessType == "groups" || k.AccessType == "custom") && g != nil &&
				(g.ID != "" && slices.Contains(k.AllowedGroups, g.ID) || g.Name != "" && slices.Contains(k.AllowedGroups, g.Name))
		}
		return false
	}
	return false
}

// pathName returns the {name} of /mcp/{name}, /sse/{name} and
// /sse/{name}/messages, or "".
func pathName(p string) string {
	for _, prefix := range []string{"/mcp/", "/sse/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			name, _, _ := strings.Cut(rest, "/")
			return name
		}
	}
	return ""
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

var (
	writeJSON  = apijson.Write
	writeError = apijson.Error
)

// health is what /api/health answers, so that a second start can tell that
// mcptray already runs.
func (h *Hub) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"app": "mcptray", "version": h.version, "pid": os.Getpid(), "endpoint": h.Endpoint()})
}
