package hub

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// This file is the dashboard, http://localhost:3000/: the servers and
// their state, a server's page (its sign-in trace, tools, last stderr
// lines and actions), adding a server, the AI clients, the settings
// file's errors. Its pages are Go templates and a little plain JavaScript
// (live updates from /ui/events), embedded in the binary: nothing to
// build. Every change goes through the hub's methods, and so through
// settings.Store.Modify. Its requests pass admit (the hub's own origin
// only) and carry a session (session.go), and its forms a CSRF token.

//go:embed web
var webFS embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"since":      func(t time.Time) string { return t.Local().Format(time.DateTime) },
	"clock":      func(t time.Time) string { return t.Local().Format(time.TimeOnly) },
	"join":       strings.Join,
	"pathEscape": url.PathEscape,
	"lines": func(m map[string]string, sep string) string {
		var out []string
		for _, k := range slices.Sorted(mapsKeys(m)) {
			out = append(out, k+sep+m[k])
		}
		return strings.Join(out, "\n")
	},
}).ParseFS(webFS, "web/*.html"))

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// isPagePath reports whether p is the dashboard's: / itself, a server's
// page, the clients, and /ui/ (its forms, events, assets and login).
func isPagePath(p string) bool {
	return p == "/" || p == "/clients" || strings.HasPrefix(p, "/servers/") || strings.HasPrefix(p, "/ui/")
}

// pageRoutes is the dashboard's handler, behind admit.
func (h *Hub) pageRoutes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web/static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ui/login", h.login)
	mux.HandleFunc("GET /{$}", h.page(h.overviewPage))
	mux.HandleFunc("GET /servers/{name}", h.page(h.serverPage))
	mux.HandleFunc("GET /clients", h.page(h.clientsPage))
	mux.HandleFunc("GET /ui/events", h.page(h.liveEvents))
	mux.HandleFunc("POST /ui/servers", h.form(h.addForm))
	mux.HandleFunc("POST /ui/servers/{name}/{action}", h.form(h.serverForm))
	mux.HandleFunc("POST /ui/clients/{id}/{action}", h.form(h.clientForm))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.admit(w, r, h.store.Current()) {
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		}
		mux.ServeHTTP(w, r)
	})
}

// loginNeeded reports whether a browser needs a one-time link for a
// session: with bearer keys, or on an address beyond loopback.
func (h *Hub) loginNeeded() bool {
	host, _, _ := net.SplitHostPort(h.listen)
	return len(h.store.Current().ActiveBearerKeys()) > 0 || !isLoopbackHost(host)
}

// DashboardURL is the address of a dashboard page (path, "/" for the
// overview) for the user's browser: a one-time link that gives the browser
// a session when one is needed (bearer keys), else the page itself.
func (h *Hub) DashboardURL(path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if !h.loginNeeded() {
		return h.BaseURL() + path
	}
	return h.BaseURL() + "/ui/login?t=" + h.pages.link(path, time.Now())
}

// session returns the request's session, or "".
func (h *Hub) session(r *http.Request) string {
	c, err := r.Cookie(cookieName(h.Addr()))
	if err != nil || !h.pages.valid(c.Value, time.Now()) {
		return ""
	}
	return c.Value
}

// page serves a page to a browser with a session, which it gets here when
// none is needed; with bearer keys, a browser without one is told how to
// open the dashboard.
func (h *Hub) page(fn func(w http.ResponseWriter, r *http.Request, sess string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := h.session(r)
		if sess == "" {
			if h.loginNeeded() {
				h.render(w, http.StatusUnauthorized, "message", pageData{Title: "Open the dashboard from mcptray", Message: "With bearer keys in the settings, the dashboard opens only through a link that mcptray makes for you: choose Open dashboard in mcptray's tray menu, or run `mcptray dashboard`."})
				return
			}
			sess = h.pages.start(time.Now())
			http.SetCookie(w, sessionCookie(cookieName(h.Addr()), sess))
		}
		fn(w, r, sess)
	}
}

// form serves a form's POST: it needs a session and the session's CSRF
// token. It answers with a redirect to the page to show next (POST,
// redirect, GET), the outcome kept for that page.
func (h *Hub) form(fn func(r *http.Request) (next, msg string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := h.session(r)
		if sess == "" || !h.pages.checkCSRF(sess, r.PostFormValue("csrf")) {
			writeError(w, http.StatusForbidden, "this form's token is missing or stale: reload the dashboard and try again")
			return
		}
		next, msg, err := fn(r)
		if err != nil {
			h.pages.setFlash(sess, err.Error(), true)
		} else if msg != "" {
			h.pages.setFlash(sess, msg, false)
		}
		if next == "" {
			next = "/"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// login spends a one-time link: the browser gets a session and the page
// the link was made for.
func (h *Hub) login(w http.ResponseWriter, r *http.Request) {
	next, ok := h.pages.use(r.URL.Query().Get("t"), time.Now())
	if !ok || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		h.render(w, http.StatusForbidden, "message", pageData{Title: "This link does not open the dashboard", Message: "Each link works once, for two minutes. Open the dashboard again from mcptray's tray menu, or run `mcptray dashboard`."})
		return
	}
	sess := h.pages.start(time.Now())
	http.SetCookie(w, sessionCookie(cookieName(h.Addr()), sess))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// pageData is what every page's template gets.
type pageData struct {
	Title    string
	Nav      string // the page's place in the navigation
	CSRF     string
	Flash    flash
	Endpoint string
	Message  string // the message page's
	Summary  string // "3 of 4 servers connected"
	Live     any    // the part that updates by itself
	Form     any    // the page's form
	Clients  []ClientStatus
	NoClient bool // the hub was given no Clients
}

// overview is the live part of the overview.
type overview struct {
	Servers          []serverRow
	SettingsPath     string
	SettingsErrors   []string
	SettingsWarnings []string
	Secrets          string
}

// serverRow is a server's line of the overview, and the head of its page.
type serverRow struct {
	ServerStatus
	D     Diagnosis
	Where string // its URL, or its command line
}

// serverView is the live part of a server's page.
type serverView struct {
	serverRow
	OAuthUsed bool // it signs in with OAuth, or asks to
	Authed    bool // signed in
	Tools     []Tool
	Events    []Event
	Stderr    []string
}

func (h *Hub) render(w http.ResponseWriter, code int, name string, d pageData) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	// No script, style or frame from anywhere else; no page may frame
	// this one (clickjacking); forms post here only.
	// Authorize's form is answered with a redirect to the authorization
	// server, which form-action governs too: it allows http(s) targets.
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Frame-Options", "DENY")
	// No Referer leaves for other sites; not no-referrer, with which
	// browsers send the forms' Origin as "null" (Fetch, "serializing a
	// request origin"), which admit refuses.
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if err := pageTemplates.ExecuteTemplate(w, name, d); err != nil {
		h.log.Warn("dashboard page failed", "page", name, "err", err)
	}
}

// show renders a page, or only its live part for ?fragment=live (what the
// page's script fetches on each change).
func (h *Hub) show(w http.ResponseWriter, r *http.Request, sess, name string, d pageData) {
	d.CSRF = h.pages.csrf(sess)
	d.Endpoint = h.Endpoint()
	if r.URL.Query().Get("fragment") == "live" {
		h.render(w, http.StatusOK, name+"-live", d)
		return
	}
	d.Flash = h.pages.takeFlash(sess)
	h.render(w, http.StatusOK, name, d)
}

func (h *Hub) overviewPage(w http.ResponseWriter, r *http.Request, sess string) {
	l := h.List()
	ov := overview{SettingsPath: l.SettingsPath}
	enabled, connected := 0, 0
	cur := h.store.Current()
	for _, st := range l.Servers {
		ov.Servers = append(ov.Servers, serverRow{ServerStatus: st, D: Diagnose(st), Where: where(cur.Servers[st.Name])})
		if st.State != StateDisabled {
			enabled++
		}
		if st.State == StateConnected {
			connected++
		}
	}
	if err := h.SettingsError(); err != nil {
		for _, e := range settings.List(err) {
			ov.SettingsErrors = append(ov.SettingsErrors, problemLine(e))
		}
		if len(ov.SettingsErrors) == 0 {
			ov.SettingsErrors = []string{err.Error()}
		}
	}
	for _, e := range cur.Warnings {
		ov.SettingsWarnings = append(ov.SettingsWarnings, problemLine(e))
	}
	if l.Secrets != nil && l.Secrets.Message != "" {
		ov.Secrets = l.Secrets.Message
	}
	d := pageData{Title: "mcptray", Nav: "servers", Live: ov, Summary: "no servers configured"}
	if len(l.Servers) > 0 {
		d.Summary = fmt.Sprintf("%d of %d %s connected", connected, enabled, plural(enabled, "server", "servers"))
	}
	h.show(w, r, sess, "overview", d)
}

// problemLine is a problem of the settings file for a person, with its
// line and column: "mcp_settings.json line 5, column 3: ...".
func problemLine(e *settings.Error) string {
	var b strings.Builder
	b.WriteString(filepath.Base(e.Path))
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ", column %d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Server != "" {
		fmt.Fprintf(&b, "server %q: ", e.Server)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// where is a server's URL or command line, placeholders as written.
func where(srv *settings.Server) string {
	switch {
	case srv == nil:
		return ""
	case srv.URL != "":
		return srv.URL
	}
	return strings.Join(append([]string{srv.Command}, srv.Args...), " ")
}

func (h *Hub) serverPage(w http.ResponseWriter, r *http.Request, sess string) {
	name := r.PathValue("name")
	d, ok := h.details(name)
	if !ok {
		h.render(w, http.StatusNotFound, "message", pageData{Title: "No server named " + name, Message: "It is not in the settings file (any more)."})
		return
	}
	srv := h.store.Current().Servers[name]
	v := serverView{serverRow: serverRow{ServerStatus: d.ServerStatus, D: Diagnose(d.ServerStatus), Where: where(srv)}, Events: d.Events, Stderr: d.Stderr}
	slices.Reverse(v.Events) // newest first
	v.OAuthUsed = d.OAuth != nil || d.State == StateNeedsAuthorization
	v.Authed = d.OAuth != nil && d.OAuth.State == oauthflow.StateAuthorized
	v.Tools, _ = h.Tools(name)
	page := pageData{Title: name + " · mcptray", Nav: "servers", Live: v, Form: editFormOf(srv)}
	h.show(w, r, sess, "server", page)
}

func (h *Hub) clientsPage(w http.ResponseWriter, r *http.Request, sess string) {
	d := pageData{Title: "Clients · mcptray", Nav: "clients", NoClient: h.clients == nil}
	if h.clients != nil {
		d.Clients = h.clients.List()
	}
	h.show(w, r, sess, "clients", d)
}

// liveEvents is the dashboard's live updates: an event at each change of the
// servers (their status, their sign-ins, the settings), at most one every
// quarter of a second, and a comment every 20 s to keep the stream open.
func (h *Hub) liveEvents(w http.ResponseWriter, r *http.Request, _ string) {
	// The stream lives as long as the page: no write deadline applies.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	// Each wait starts before the event that the page answers by fetching
	// its live part again: a change while it does makes another event.
	changed, authChanged, settingsChanged := h.liveChanges()
	sw := startSSE(w, nil)
	if sw.raw("retry: 2000\n\n") != nil {
		return
	}
	keep := time.NewTicker(20 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			if sw.raw(": keep-alive\n\n") != nil {
				return
			}
			continue
		case <-changed:
		case <-authChanged:
		case <-settingsChanged:
		}
		select { // a burst of changes makes one event
		case <-r.Context().Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		changed, authChanged, settingsChanged = h.liveChanges()
		if sw.raw("data: change\n\n") != nil {
			return
		}
	}
}

// liveChanges are the signals of the next change of what the dashboard
// shows: the servers' status, their sign-ins, the settings.
func (h *Hub) liveChanges() (status, auth, settings <-chan struct{}) {
	if h.auth != nil {
		auth = h.auth.Changes()
	}
	return h.Changes(), auth, h.store.Changes()
}

// newServerForm is the add form as posted.
type newServerForm struct {
	Name, URL, Type, Command, Args, Headers, Env string
	ClientID, ClientSecret, Scopes               string
}

// editForm is a server's edit form.
type editForm struct {
	Remote            bool
	Headers, Env      string
	ClientID, Scopes  string
	HasSecret         bool
	ShowOAuth, Usable bool
}

func editFormOf(srv *settings.Server) editForm {
	if srv == nil {
		return editForm{}
	}
	f := editForm{Remote: srv.URL != "", Usable: true}
	f.Headers = joinPairs(srv.Headers, ": ")
	f.Env = joinPairs(srv.Env, "=")
	if o := srv.OAuth; o != nil {
		f.ClientID, f.Scopes, f.HasSecret = o.ClientID, strings.Join(o.Scopes, " "), o.ClientSecret != ""
	}
	f.ShowOAuth = f.Remote
	return f
}

func joinPairs(m map[string]string, sep string) string {
	var out []string
	for _, k := range slices.Sorted(mapsKeys(m)) {
		out = append(out, k+sep+m[k])
	}
	return strings.Join(out, "\n")
}

// parsePairs reads "NAME: value" (or NAME=value) lines.
func parsePairs(text, sep, what string) (map[string]string, error) {
	out := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, sep)
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s %q: want NAME%sVALUE, one a line", what, line, strings.TrimSpace(sep))
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// addForm adds a server from the add form: a URL (streamable HTTP, or SSE
// for a URL ending in /sse, as `mcptray add` does), or a command with its
// arguments, one a line. The hub connects it at once; a server that asks
// for a sign-in gets one started, and its page shows where to sign in.
func (h *Hub) addForm(r *http.Request) (string, string, error) {
	f := newServerForm{Name: strings.TrimSpace(r.PostFormValue("name")), URL: strings.TrimSpace(r.PostFormValue("url")), Type: r.PostFormValue("type"),
		Command: strings.TrimSpace(r.PostFormValue("command")), Args: r.PostFormValue("args"), Headers: r.PostFormValue("headers"), Env: r.PostFormValue("env"),
		ClientID: strings.TrimSpace(r.PostFormValue("clientId")), ClientSecret: r.PostFormValue("clientSecret"), Scopes: r.PostFormValue("scopes")}
	srv := &settings.Server{}
	switch {
	case f.Name == "":
		return "/#add", "", errors.New("the server needs a name")
	case f.URL != "" && f.Command != "":
		return "/#add", "", errors.New("give a URL or a command, not both")
	case f.URL != "":
		srv.URL = f.URL
		switch f.Type {
		case "", "auto":
			if u, err := url.Parse(f.URL); err == nil && strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/sse") {
				srv.Type = settings.TypeSSE
			}
		case settings.TypeSSE, settings.TypeStreamableHTTP:
			srv.Type = f.Type
		default:
			return "/#add", "", fmt.Errorf("type %q: want sse or streamable-http", f.Type)
		}
		hdrs, err := parsePairs(f.Headers, ":", "header")
		if err != nil {
			return "/#add", "", err
		}
		srv.Headers = emptyNil(hdrs)
		if f.ClientID != "" || f.ClientSecret != "" || strings.TrimSpace(f.Scopes) != "" {
			srv.OAuth = &settings.OAuth{}
			srv.OAuth.ClientID, srv.OAuth.ClientSecret, srv.OAuth.Scopes = f.ClientID, f.ClientSecret, strings.Fields(f.Scopes)
		}
	case f.Command != "":
		srv.Command = f.Command
		for line := range strings.SplitSeq(f.Args, "\n") {
			if a := strings.TrimRight(line, "\r"); strings.TrimSpace(a) != "" {
				srv.Args = append(srv.Args, a)
			}
		}
		env, err := parsePairs(f.Env, "=", "environment variable")
		if err != nil {
			return "/#add", "", err
		}
		srv.Env = emptyNil(env)
	default:
		return "/#add", "", errors.New("give the server's URL, or the command that runs it")
	}
	if err := h.AddServer(f.Name, srv); err != nil {
		return "/#add", "", err
	}
	return "/servers/" + url.PathEscape(f.Name), "Added " + f.Name + ": mcptray connects it now.", nil
}

// serverForm carries out an action of a server's page.
func (h *Hub) serverForm(r *http.Request) (string, string, error) {
	name := r.PathValue("name")
	back := "/servers/" + url.PathEscape(name)
	if _, ok := h.Details(name); !ok {
		return "/", "", fmt.Errorf("%w: %q", ErrUnknownServer, name)
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	switch r.PathValue("action") {
	case "reconnect":
		return back, "Reconnecting " + name + ".", h.Reconnect(name)
	case "enable":
		return back, "Enabled " + name + ".", h.SetEnabled(name, true)
	case "disable":
		return back, "Disabled " + name + ".", h.SetEnabled(name, false)
	case "remove":
		if err := h.RemoveServer(name); err != nil {
			return back, "", err
		}
		return "/", "Removed " + name + ": it is stopped, and its tools are gone from your clients.", nil
	case "tool":
		tool := r.PostFormValue("tool")
		on := r.PostFormValue("enabled") == "true"
		word := "off"
		if on {
			word = "on"
		}
		return back + "#tools", "Turned " + word + " " + tool + ".", h.SetToolEnabled(name, tool, on)
	case "authorize":
		if h.auth == nil {
			return back, "", errors.New("OAuth is not available in this process")
		}
		// The user is at the browser already: the sign-in page opens in
		// this tab, and comes back to /oauth/callback.
		u, err := h.auth.Authorize(ctx, name, false)
		if err != nil {
			return back, "", err
		}
		return u, "", nil
	case "signout":
		if h.auth == nil {
			return back, "", errors.New("OAuth is not available in this process")
		}
		return back, "Signed out of " + name + ": its tokens are revoked and deleted.", h.auth.SignOut(ctx, name)
	case "edit":
		c, err := editChange(r)
		if err != nil {
			return back + "#edit", "", err
		}
		return back, "Saved " + name + ".", h.UpdateServer(name, c)
	}
	return back, "", fmt.Errorf("%w: unknown action %q", ErrInvalidChange, r.PathValue("action"))
}

// editChange reads a server's edit form.
func editChange(r *http.Request) (ServerChange, error) {
	var c ServerChange
	var err error
	if r.PostForm.Has("headers") {
		if c.Headers, err = parsePairs(r.PostFormValue("headers"), ":", "header"); err != nil {
			return c, err
		}
	}
	if r.PostForm.Has("env") {
		if c.Env, err = parsePairs(r.PostFormValue("env"), "=", "environment variable"); err != nil {
			return c, err
		}
	}
	if r.PostForm.Has("clientId") {
		o := &OAuthChange{ClientID: strings.TrimSpace(r.PostFormValue("clientId")), Scopes: strings.Fields(r.PostFormValue("scopes"))}
		if s := r.PostFormValue("clientSecret"); s != "" {
			o.ClientSecret = &s
		}
		c.OAuth = o
	}
	return c, nil
}

// clientForm connects or disconnects an AI client.
func (h *Hub) clientForm(r *http.Request) (string, string, error) {
	if h.clients == nil {
		return "/clients", "", errors.New("this mcptray connects no clients")
	}
	id := r.PathValue("id")
	switch r.PathValue("action") {
	case "connect":
		msg, err := h.clients.Connect(id)
		return "/clients", msg, err
	case "disconnect":
		msg, err := h.clients.Disconnect(id)
		return "/clients", msg, err
	}
	return "/clients", "", fmt.Errorf("%w: unknown action %q", ErrInvalidChange, r.PathValue("action"))
}
