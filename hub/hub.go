// Package hub is mcptray's local MCP hub: it keeps a connection to every
// MCP server in the settings (stdio, SSE, streamable HTTP), and serves all of
// their tools, prompts and resources from one local endpoint, with a control
// API beside it.
//
// A [Hub] is made by [New] from a settings store and runs until its context
// ends ([Hub.Run]). Its state is read with [Hub.Snapshot] and watched with
// [Hub.Changes]; the tray and the control API change it through the same
// methods.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcptray/mcptray/internal/broadcast"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// DefaultListen is where the hub listens unless told otherwise.
const DefaultListen = "127.0.0.1:3000"

// DefaultCallTimeout bounds one call to an upstream server unless the
// server's options.timeout says otherwise.
const DefaultCallTimeout = 60 * time.Second

// DefaultBodyTimeout bounds how long a client may take to send a request's
// body; DefaultIdleTimeout closes a keep-alive connection that carries no
// request for that long. Neither cuts a response: event streams and long
// calls run as long as they need (issue 11).
const (
	DefaultBodyTimeout = 30 * time.Second
	DefaultIdleTimeout = 2 * time.Minute
)

// Config is what a Hub is made from.
type Config struct {
	Settings    *settings.Store // required
	Listen      string          // host:port; DefaultListen when empty
	Logger      *slog.Logger    // slog.Default() when nil
	Version     string          // reported to clients and servers
	CallTimeout time.Duration   // DefaultCallTimeout when 0
	BodyTimeout time.Duration   // DefaultBodyTimeout when 0
	IdleTimeout time.Duration   // DefaultIdleTimeout when 0
	// LookupEnv expands ${VAR} in the settings; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
	// Auth runs OAuth for HTTP servers; without it, a server that asks
	// for a sign-in stays in needs_authorization.
	Auth Auth
	// Secrets tells where secrets are kept, for the control API.
	Secrets SecretStore
	// Clients are the AI clients the dashboard's Clients page connects;
	// without them, the page has none.
	Clients Clients
}

// Hub is the local MCP hub.
type Hub struct {
	store       *settings.Store
	listen      string
	log         *slog.Logger
	version     string
	callTimeout time.Duration
	bodyTimeout time.Duration
	idleTimeout time.Duration
	lookupEnv   func(string) (string, bool)
	auth        Auth
	secrets     SecretStore
	clients     Clients
	pages       *pageSessions // the dashboard's sessions

	// mu guards upstreams, order, views, events, configured, listeners and
	// waiters: the hub's shape. It is never held across I/O.
	mu         sync.Mutex
	upstreams  map[string]*upstream
	order      []string // server names in the settings' order
	views      map[string]*view
	events     map[string]*eventLog // by server; they outlive its connections
	configured map[string]bool      // servers OAuth was told of
	listeners  []net.Listener
	waiters    []chan struct{} // closed after the next rebuild of the views

	routes atomic.Pointer[routeTable] // what the HTTP handler serves
	sep    atomic.Pointer[string]

	runCtx  context.Context // for the upstreams apply starts
	wg      sync.WaitGroup  // upstream goroutines and their stops
	started atomic.Bool     // Run has started managing
	stopped chan struct{}   // closed when it stopped

	sessions    sessionTable    // the clients' 2025 sessions
	modernCalls modernCallTable // 2026-07-28 requests in flight, for a cancellation
	holds       *holdTable      // calls waiting for a 2026-07-28 client's retry
	tasks       taskTable       // which server made each task
	stopping    atomic.Bool     // Run is shutting down

	changed      broadcast.Signal   // a server's status changed
	catalogDirty chan struct{}      // the views must be rebuilt
	applyNow     chan chan struct{} // apply the settings in effect now, then close the channel
	largeDone    chan struct{}      // a large message passed: give its memory back soon
	lastProblems string             // only the managing goroutine uses it

	httpTransport *http.Transport // shared by HTTP upstreams
}

// routeTable maps the {name} of /mcp/{name} to its view.
type routeTable struct {
	global *view // nil when systemConfig.routing.enableGlobalRoute is false
	byName map[string]*view
}

// New checks cfg and makes a hub. Nothing runs until Run.
func New(cfg Config) (*Hub, error) {
	if cfg.Settings == nil {
		return nil, errors.New("hub: no settings store")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("hub: listen address %q: %w", cfg.Listen, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = os.LookupEnv
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	h := &Hub{
		store:         cfg.Settings,
		listen:        cfg.Listen,
		log:           cfg.Logger,
		version:       cfg.Version,
		callTimeout:   cfg.CallTimeout,
		bodyTimeout:   cfg.BodyTimeout,
		idleTimeout:   cfg.IdleTimeout,
		lookupEnv:     cfg.LookupEnv,
		upstreams:     map[string]*upstream{},
		views:         map[string]*view{},
		events:        map[string]*eventLog{},
		configured:    map[string]bool{},
		catalogDirty:  make(chan struct{}, 1),
		largeDone:     make(chan struct{}, 1),
		applyNow:      make(chan chan struct{}),
		stopped:       make(chan struct{}),
		holds:         newHoldTable(),
		httpTransport: newHTTPTransport(),
		auth:          cfg.Auth,
		secrets:       cfg.Secrets,
		clients:       cfg.Clients,
		pages:         newPageSessions(),
	}
	sep := settings.DefaultSeparator
	h.sep.Store(&sep)
	h.routes.Store(&routeTable{byName: map[string]*view{}})
	return h, nil
}

func (h *Hub) separator() string { return *h.sep.Load() }

// Run serves until ctx ends, then stops every server and waits for them. It
// listens first if Listen was not called. The settings store's watch
// (settings.Store.Run) is the caller's to run.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.Listen(); err != nil {
		return err
	}
	h.runCtx = ctx
	srv := &http.Server{
		Handler:           h.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout or WriteTimeout: they would cut event streams and
		// long calls. protect bounds each request's body instead.
		IdleTimeout: h.idleTimeout,
		ErrorLog:    slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	// Streams (SSE, the streamable GET) end with this context, so that a
	// shutdown does not wait for clients to hang up.
	serveCtx, stopServing := context.WithCancel(context.Background())
	srv.BaseContext = func(net.Listener) context.Context { return serveCtx }

	var wg sync.WaitGroup
	h.mu.Lock()
	listeners := slices.Clone(h.listeners)
	h.mu.Unlock()
	for _, ln := range listeners {
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.log.Error("serving stopped", "addr", ln.Addr().String(), "err", err)
			}
		})
	}
	h.log.Info("hub ready", "endpoint", h.Endpoint(), "settings", h.store.Path())

	h.started.Store(true)
	h.manage(ctx)
	close(h.stopped)

	h.stopping.Store(true)
	for _, s := range h.sessions.all() {
		s.close()
	}
	stopServing()
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	cancel()
	wg.Wait()
	h.wg.Wait()
	return nil
}

// serveCtx is the context of what the hub runs for its clients beyond one
// HTTP request (a 2025 client's call, which its disconnection does not
// cancel): the hub's run.
func (h *Hub) serveCtx() context.Context {
	if h.runCtx != nil {
		return h.runCtx
	}
	return context.Background()
}

func (h *Hub) shuttingDown() bool { return h.stopping.Load() }

// manage applies settings changes, acts on authorization changes and
// rebuilds the views until ctx ends, then stops every upstream. It is the
// only goroutine that changes the hub's shape.
func (h *Hub) manage(ctx context.Context) {
	settingsChanged := h.store.Changes()
	h.configureAuth(ctx, h.store.Current())
	h.apply(h.store.Current())
	var authChanged <-chan struct{}
	if h.auth != nil {
		authChanged = h.auth.Changes()
		h.authChanged()
	}
	const batch = 20 * time.Millisecond // many servers connecting at once make one list change
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	giveBack := time.NewTimer(time.Hour)
	giveBack.Stop()
	defer giveBack.Stop()
	for {
		select {
		case <-h.largeDone:
			giveBack.Reset(giveBackAfter)
		case <-giveBack.C:
			// The garbage of a large message would otherwise stay in the
			// heap, and in RSS, until the runtime's scavenger returns it
			// bit by bit (issue 11: 3 minutes after a 50 MB result, RSS was
			// still 100 MB over idle).
			debug.FreeOSMemory()
		case <-sweep.C:
			for _, s := range h.sessions.idle(time.Now().Add(-sessionIdle)) {
				s.close()
			}
		case <-ctx.Done():
			h.mu.Lock()
			ups := slices.Collect(maps.Values(h.upstreams))
			h.mu.Unlock()
			for _, u := range ups {
				h.stopUpstream(u)
			}
			return
		case <-settingsChanged:
			settingsChanged = h.store.Changes()
			st := h.store.Current()
			h.configureAuth(ctx, st)
			h.apply(st)
		case done := <-h.applyNow:
			st := h.store.Current()
			h.configureAuth(ctx, st)
			h.apply(st)
			close(done)
		case <-authChanged:
			authChanged = h.auth.Changes()
			h.authChanged()
		case <-h.catalogDirty:
			timer.Reset(batch)
		case <-timer.C:
			h.mu.Lock()
			done := h.waiters
			h.waiters = nil
			h.mu.Unlock()
			h.rebuildViews()
			for _, ch := range done {
				close(ch)
			}
		}
	}
}

// apply makes the running hub match st: it starts added servers, stops
// removed ones, restarts changed ones and leaves the rest alone. Only the
// managing goroutine calls it.
func (h *Hub) apply(st *settings.Settings) {
	sep := st.Separator()
	h.sep.Store(&sep)
	names := st.ServerNames()

	h.mu.Lock()
	var stop []*upstream
	var start []*upstream
	next := make(map[string]*upstream, len(names))
	for _, name := range names {
		cfg := st.Servers[name]
		u := h.upstreams[name]
		switch {
		case u != nil && u.cfg.Load().ConnectionKey() == cfg.ConnectionKey():
			u.cfg.Store(cfg) // nothing the connection depends on changed
			next[name] = u
		default:
			if u != nil {
				stop = append(stop, u)
			}
			if h.events[name] == nil {
				h.events[name] = newEventLog()
			}
			nu := newUpstream(h.upstreamEnv(name), name, cfg)
			next[name] = nu
			if cfg.IsEnabled() {
				start = append(start, nu)
			}
		}
	}
	for name, u := range h.upstreams {
		if next[name] == nil {
			stop = append(stop, u)
			delete(h.events, name)
		}
	}
	h.upstreams, h.order = next, names
	h.applyViewsLocked(st)
	h.mu.Unlock()

	for _, u := range stop {
		h.log.Info("stopping server", "server", u.name)
		h.wg.Go(func() { h.stopUpstream(u) })
	}
	for _, u := range start {
		h.startUpstream(u)
	}
	h.catalogChanged()
	h.changed.Notify()
}

// upstreamEnv is what an upstream named name gets of the hub. h.mu must be
// held.
func (h *Hub) upstreamEnv(name string) upstreamEnv {
	env := upstreamEnv{
		log:           h.log.With("server", name),
		version:       h.version,
		callTimeout:   h.callTimeout,
		lookupEnv:     h.lookupEnv,
		separator:     h.separator,
		httpClient:    func() *http.Client { return h.httpClient(name) },
		statusChanged: h.changed.Notify,
		listsChanged:  h.catalogChanged,
		listsShown:    h.catalogSynced,
		events:        h.events[name],
		largePassed:   h.largePassed,
	}
	env.serverRequest, env.resourceUpdated, env.logMessage = h.serverRequest, h.resourceUpdated, h.logMessage
	if h.auth != nil {
		env.summary = func() *oauthflow.Summary { return h.auth.Summary(name) }
	}
	return env
}

func (h *Hub) startUpstream(u *upstream) {
	if h.runCtx == nil {
		return // not running yet: Run applies the settings when it starts
	}
	ctx, cancel := context.WithCancel(h.runCtx)
	u.cancel = cancel
	h.wg.Go(func() { u.run(ctx) })
}

func (h *Hub) stopUpstream(u *upstream) {
	if u.cancel == nil {
		return // never started: disabled
	}
	u.cancel()
	<-u.done
}

// applyViewsLocked makes a view for every server and group, and the route
// table for the HTTP handler. h.mu must be held.
func (h *Hub) applyViewsLocked(st *settings.Settings) {
	want := map[string]bool{"": true}
	table := &routeTable{byName: map[string]*view{}}
	for _, name := range h.order {
		want["server/"+name] = true
	}
	for _, g := range st.Groups {
		if g != nil {
			want["group/"+groupKey(g)] = true
		}
	}
	for key := range want {
		if h.views[key] == nil {
			h.views[key] = h.newView(key)
		}
	}
	for key := range h.views {
		if !want[key] {
			delete(h.views, key) // its sessions end when they next find it gone
		}
	}
	if st.GlobalRouteEnabled() {
		table.global = h.views[""]
	}
	for _, name := range h.order {
		table.byName[name] = h.views["server/"+name]
	}
	if st.GroupNameRouteEnabled() {
		for _, g := range st.Groups {
			if g != nil && g.Name != "" {
				table.byName[g.Name] = h.views["group/"+groupKey(g)]
			}
		}
	}
	for _, g := range st.Groups {
		if g != nil && g.ID != "" {
			table.byName[g.ID] = h.views["group/"+groupKey(g)]
		}
	}
	h.routes.Store(table)
}

// giveBackAfter is how long after the last large message the hub gives
// the memory it used back to the system.
const giveBackAfter = 500 * time.Millisecond

// largePassed tells the managing goroutine a large message passed.
func (h *Hub) largePassed() {
	select {
	case h.largeDone <- struct{}{}:
	default:
	}
}

// catalogSynced asks for a rebuild of the views and returns a channel that
// is closed once it is done.
func (h *Hub) catalogSynced() <-chan struct{} {
	ch := make(chan struct{})
	h.mu.Lock()
	h.waiters = append(h.waiters, ch)
	h.mu.Unlock()
	h.catalogChanged()
	return ch
}

// catalogChanged asks the managing goroutine to rebuild the views.
func (h *Hub) catalogChanged() {
	select {
	case h.catalogDirty <- struct{}{}:
	default:
	}
}

// Changes returns a channel that is closed at the next change of any
// server's status. Call it again for the change after.
func (h *Hub) Changes() <-chan struct{} { return h.changed.C() }

// Snapshot returns every server's status, in the settings' order.
func (h *Hub) Snapshot() []ServerStatus {
	h.mu.Lock()
	ups := make([]*upstream, 0, len(h.order))
	for _, n := range h.order {
		ups = append(ups, h.upstreams[n])
	}
	h.mu.Unlock()
	out := make([]ServerStatus, len(ups))
	for i, u := range ups {
		out[i] = u.Status()
	}
	return out
}

// Details returns one server's status and recent events.
func (h *Hub) Details(name string) (ServerDetails, bool) {
	u := h.upstream(name)
	if u == nil {
		return ServerDetails{}, false
	}
	events := u.events.List()
	if h.auth != nil {
		for _, st := range h.auth.Trace(name) {
			events = append(events, Event{Time: st.Time, Level: st.Level, Message: "oauth: " + st.Message})
		}
		slices.SortStableFunc(events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	}
	return ServerDetails{ServerStatus: u.Status(), Events: events, Stderr: u.Stderr()}, true
}

// ErrUnknownServer is returned for a server name that is not in the settings.
var ErrUnknownServer = errors.New("no such server")

func (h *Hub) upstream(name string) *upstream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.upstreams[name]
}

// Reconnect drops a server's connection, if any, and connects again now.
func (h *Hub) Reconnect(name string) error {
	u := h.upstream(name)
	if u == nil {
		return fmt.Errorf("%w: %q", ErrUnknownServer, name)
	}
	if !u.cfg.Load().IsEnabled() {
		return fmt.Errorf("%s is disabled: enable it first", name)
	}
	u.requestReconnect()
	return nil
}

// SetEnabled enables or disables a server in the settings file and applies
// the change at once.
func (h *Hub) SetEnabled(name string, enabled bool) error {
	err := h.store.Modify(func(st *settings.Settings) error {
		srv := st.Servers[name]
		if srv == nil {
			return fmt.Errorf("%w: %q", ErrUnknownServer, name)
		}
		srv.Enabled = &enabled
		return nil
	})
	if err != nil {
		return err
	}
	return h.applied()
}

// applied has the managing goroutine apply the settings in effect, and
// waits until it did, so that a change made through the API is in effect
// when the API answers.
func (h *Hub) applied() error {
	if !h.started.Load() {
		return nil // Run applies the settings when it starts
	}
	done := make(chan struct{})
	select {
	case h.applyNow <- done:
	case <-h.stopped:
		return nil
	}
	select {
	case <-done:
	case <-h.stopped:
	}
	return nil
}

// SettingsPath returns the settings file's path.
func (h *Hub) SettingsPath() string { return h.store.Path() }

// SettingsError returns why the settings file on disk is not in effect, or
// nil.
func (h *Hub) SettingsError() error { return h.store.Err() }
