package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
	"github.com/mcptray/mcptray/hub/internal/stdio"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// Timing of upstream connections.
const (
	connectTimeout = 60 * time.Second // start, initialize and first lists
	listTimeout    = 30 * time.Second
	healthInterval = 30 * time.Second // ping of HTTP servers, which have no connection to watch
	healthTimeout  = 10 * time.Second
	backoffMax     = 60 * time.Second
	stableAfter    = 30 * time.Second // a connection that lasted this long resets the backoff
)

// errPermanent marks a connection error that retrying cannot fix (an unset
// environment variable, say): the server waits for its settings to change
// or for a reconnect request.
var errPermanent = errors.New("permanent")

// lists is what an upstream server offers. It is replaced whole, never
// changed, so readers need no lock.
type lists struct {
	items [numKinds][]rawItem
	hints [numKinds]cacheHint
}

// Kinds of lists, as bits, for refreshes.
const (
	listTools uint32 = 1 << iota
	listPrompts
	listResources
	listAll = listTools | listPrompts | listResources
)

// upstreamEnv is what an upstream needs of the hub, handed to it when it is
// made: the upstream never reaches into the hub itself.
type upstreamEnv struct {
	log         *slog.Logger // with the server's name
	version     string       // mcptray's, for the handshake
	callTimeout time.Duration
	lookupEnv   func(string) (string, bool)
	separator   func() string       // the settings' nameSeparator now
	httpClient  func() *http.Client // for an HTTP transport: the size bound, and OAuth
	summary     func() *oauthflow.Summary
	// What the server sends outside any call: its requests, resource
	// updates and log messages, for the hub to pass to its clients.
	serverRequest   func(*upstream, *upSession, *message)
	resourceUpdated func(u *upstream, params []byte)
	logMessage      func(u *upstream, params []byte)
	// statusChanged tells the hub that the server's status changed.
	statusChanged func()
	// listsChanged tells it that the server's lists changed; listsShown
	// asks for the views to be rebuilt and returns a channel closed once
	// they show the lists.
	listsChanged func()
	listsShown   func() <-chan struct{}
	events       *eventLog // the server's; it outlives its connections
	// largePassed tells that a large message passed (large.go).
	largePassed func()
}

// upstream is one configured server and its connection, kept up by run.
type upstream struct {
	name string
	upstreamEnv
	cfg atomic.Pointer[settings.Server] // as in the settings, placeholders kept

	sess  atomic.Pointer[upSession] // nil while not connected
	lists atomic.Pointer[lists]

	// authState is the authorization state the hub last acted on; only
	// the hub's managing goroutine uses it.
	authState string

	// mu guards status, subs, level, shadowed and stderr.
	mu       sync.Mutex
	status   ServerStatus
	subs     map[string]int // resource URI → how many clients subscribed
	level    string         // the log level set at a legacy server
	shadowed []string       // items another server offers under the same name
	stderr   []string       // a stdio server's last stderr lines

	relisten chan struct{} // a modern server's subscriptions changed

	reconnect chan struct{} // a request to reconnect now
	refresh   chan struct{} // lists changed upstream: see stale
	stale     atomic.Uint32 // which lists to fetch again

	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned
}

func newUpstream(env upstreamEnv, name string, cfg *settings.Server) *upstream {
	u := &upstream{
		name:        name,
		upstreamEnv: env,
		reconnect:   make(chan struct{}, 1),
		refresh:     make(chan struct{}, 1),
		relisten:    make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	u.cfg.Store(cfg)
	u.lists.Store(&lists{})
	u.status = ServerStatus{Name: name, Type: cfg.Kind(), State: StateConnecting}
	if !cfg.IsEnabled() {
		u.status.State = StateDisabled
	}
	return u
}

// Status returns the server's status.
func (u *upstream) Status() ServerStatus {
	u.mu.Lock()
	st := u.status
	u.mu.Unlock()
	l := u.lists.Load()
	st.Tools, st.Prompts, st.Resources, st.ResourceTemplates = len(l.items[kindTools]), len(l.items[kindPrompts]), len(l.items[kindResources]), len(l.items[kindTemplates])
	if u.summary != nil {
		st.OAuth = u.summary()
	}
	return st
}

// setStatus changes the status under the lock and tells the hub.
func (u *upstream) setStatus(f func(*ServerStatus)) {
	u.mu.Lock()
	f(&u.status)
	u.mu.Unlock()
	u.statusChanged()
}

func (u *upstream) event(level slog.Level, msg string, args ...any) {
	u.log.Log(context.Background(), level, msg, args...)
	text := msg
	for i := 0; i+1 < len(args); i += 2 {
		text += fmt.Sprintf(" %v=%v", args[i], args[i+1])
	}
	u.events.Add(Event{Time: time.Now(), Level: levelName(level), Message: text})
}

func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warn"
	}
	return "info"
}

// requestReconnect asks run to drop the connection (if any) and connect
// again now.
func (u *upstream) requestReconnect() {
	select {
	case u.reconnect <- struct{}{}:
	default:
	}
}

// run keeps the server connected until ctx ends.
func (u *upstream) run(ctx context.Context) {
	defer close(u.done)
	attempt := 0
	for {
		u.setStatus(func(s *ServerStatus) {
			s.State, s.RetryAt = StateConnecting, time.Time{}
		})
		sess, stop, err := u.connect(ctx)
		if ctx.Err() != nil {
			if stop != nil {
				stop()
			}
			return
		}
		if err == nil {
			start := time.Now()
			err = u.serve(ctx, sess)
			u.setStatus(func(s *ServerStatus) {
				s.State, s.Error, s.ConnectedAt, s.PID = StateConnecting, errorText(err), time.Time{}, 0
			})
			u.sess.Store(nil)
			u.lists.Store(&lists{})
			u.listsChanged()
			stop()
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) >= stableAfter || errors.Is(err, errReconnectRequested) {
				attempt = 0
			}
			if errors.Is(err, errReconnectRequested) {
				u.event(slog.LevelInfo, "reconnecting on request")
				continue
			}
			u.event(slog.LevelWarn, "connection lost", "err", errorText(err))
		} else if stop != nil {
			stop()
		}
		var wait time.Duration
		if errors.Is(err, oauthflow.ErrAuthorizationRequired) {
			// Nothing to retry until the user signs in; oauthflow says
			// when, and the hub reconnects then.
			var ae *oauthflow.AuthorizationError
			reason := err.Error()
			if errors.As(err, &ae) {
				reason = ae.Reason
			}
			u.event(slog.LevelWarn, "needs authorization", "reason", reason)
			u.setStatus(func(s *ServerStatus) {
				s.State, s.Error, s.Attempt, s.RetryAt, s.ConnectedAt, s.PID = StateNeedsAuthorization, reason, 0, time.Time{}, time.Time{}, 0
			})
			if ok, _ := u.wait(ctx, 0); !ok {
				return
			}
			attempt = 0
			continue
		}
		if errors.Is(err, errPermanent) {
			u.event(slog.LevelError, "cannot connect", "err", errorText(err))
		} else {
			wait = backoff(attempt)
			attempt++
			u.event(slog.LevelWarn, "cannot connect; retrying", "err", errorText(err), "in", wait.Round(100*time.Millisecond))
		}
		u.setStatus(func(s *ServerStatus) {
			s.State, s.Error, s.Attempt = StateError, errorText(err), attempt
			s.ConnectedAt, s.PID = time.Time{}, 0
			if wait > 0 {
				s.RetryAt = time.Now().Add(wait)
			} else {
				s.RetryAt = time.Time{}
			}
		})
		ok, asked := u.wait(ctx, wait)
		if !ok {
			return
		}
		if asked {
			attempt = 0
		}
	}
}

// wait waits d (for ever when d is 0) or until a reconnect is asked for. It
// reports false when ctx ended, and whether a reconnect was asked for.
func (u *upstream) wait(ctx context.Context, d time.Duration) (ok, asked bool) {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false, false
	case <-timer:
		return true, false
	case <-u.reconnect:
		return true, true
	}
}

var errReconnectRequested = errors.New("reconnect requested")

// session returns the server's session, nil while it is not connected.
func (u *upstream) session() *upSession { return u.sess.Load() }

// serve watches a connected session until it is lost, a reconnect is
// asked for, or ctx ends; meanwhile it fetches lists the server says
// changed, and keeps a 2026-07-28 server's subscriptions/listen open.
func (u *upstream) serve(ctx context.Context, sess *upSession) error {
	var health <-chan time.Time
	if !sess.shared {
		// There is no connection to watch over HTTP: ask now and then.
		t := time.NewTicker(healthInterval)
		defer t.Stop()
		health = t.C
	}
	var listenDone chan struct{}
	stopListen := func() {}
	startListen := func() {
		stopListen()
		if !sess.modern || !(sess.caps.toolsLC || sess.caps.promptsLC || sess.caps.resourcesLC || len(u.subscribed()) > 0) {
			return
		}
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); u.listen(lctx, sess) }()
		listenDone = done
		stopListen = func() { cancel(); <-done }
	}
	startListen()
	defer func() { stopListen() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sess.link.lost():
			return u.lostError()
		case <-sess.dead:
			return errors.New("the server ended the session; connecting again")
		case <-u.reconnect:
			return errReconnectRequested
		case <-u.relisten:
			startListen()
		case <-listenDone:
			// The server ended the subscription: listen again shortly.
			listenDone = nil
			select {
			case <-time.After(time.Second):
				startListen()
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-u.refresh:
			kinds := u.stale.Swap(0)
			lctx, cancel := context.WithTimeout(ctx, listTimeout)
			err := u.fetchLists(lctx, sess, kinds)
			cancel()
			if err != nil {
				u.event(slog.LevelWarn, "cannot fetch the changed lists", "err", err)
			}
		case <-health:
			hctx, cancel := context.WithTimeout(ctx, healthTimeout)
			err := sess.ping(hctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

// listen keeps a 2026-07-28 server's subscriptions/listen open: the list
// changes it offers and the resources clients subscribed to. Its
// notifications come to onOther; the call ends when the server ends it or
// ctx does.
func (u *upstream) listen(ctx context.Context, sess *upSession) {
	filter := []rawjson.Edit{}
	for _, f := range []struct {
		key string
		on  bool
	}{{"toolsListChanged", sess.caps.toolsLC}, {"promptsListChanged", sess.caps.promptsLC}, {"resourcesListChanged", sess.caps.resourcesLC}} {
		if f.on {
			filter = append(filter, rawjson.Edit{Key: f.key, Value: []byte("true")})
		}
	}
	if uris := u.subscribed(); len(uris) > 0 && sess.caps.subscribe {
		b, _ := json.Marshal(uris)
		filter = append(filter, rawjson.Edit{Key: "resourceSubscriptions", Value: b})
	}
	params := sess.modernParams(nil, []rawjson.Edit{{Key: "notifications", Value: rawjson.Apply(nil, filter...)}})
	_, err := sess.roundTrip(ctx, nil, "subscriptions/listen", params, "")
	if err != nil && ctx.Err() == nil {
		u.log.Debug("subscriptions/listen ended", "err", err)
	}
}

// subscribed returns the URIs clients subscribed to at this server.
func (u *upstream) subscribed() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.subs))
	for uri := range u.subs {
		out = append(out, uri)
	}
	slices.Sort(out)
	return out
}

// subscribe counts one more client subscribed to uri, and subscribes the
// hub at the server for the first.
func (u *upstream) subscribe(uri string) {
	u.mu.Lock()
	if u.subs == nil {
		u.subs = map[string]int{}
	}
	u.subs[uri]++
	first := u.subs[uri] == 1
	u.mu.Unlock()
	if first {
		u.changeSubscription(uri, "resources/subscribe")
	}
}

// unsubscribe counts one client fewer, and unsubscribes the hub after the
// last.
func (u *upstream) unsubscribe(uri string) {
	u.mu.Lock()
	u.subs[uri]--
	last := u.subs[uri] <= 0
	if last {
		delete(u.subs, uri)
	}
	u.mu.Unlock()
	if last {
		u.changeSubscription(uri, "resources/unsubscribe")
	}
}

// changeSubscription tells the server: resources/subscribe or unsubscribe
// in the legacy revision; a new subscriptions/listen in 2026-07-28.
func (u *upstream) changeSubscription(uri, method string) {
	sess := u.session()
	if sess == nil || !sess.caps.subscribe {
		return // subscribed again when it connects
	}
	if sess.modern {
		select {
		case u.relisten <- struct{}{}:
		default:
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	params := append(rawjson.AppendQuote([]byte(`{"uri":`), uri), '}')
	if _, err := sess.roundTrip(ctx, nil, method, params, ""); err != nil {
		u.event(slog.LevelWarn, method+" failed", "uri", uri, "err", err)
	}
}

// setLogLevel sets a legacy server's log level, when it changed.
func (u *upstream) setLogLevel(level string) {
	sess := u.session()
	u.mu.Lock()
	same := u.level == level
	u.level = level
	u.mu.Unlock()
	if sess == nil || sess.modern || !sess.caps.logging || level == "" || same {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	params := append(rawjson.AppendQuote([]byte(`{"level":`), level), '}')
	if _, err := sess.roundTrip(ctx, nil, "logging/setLevel", params, ""); err != nil {
		u.log.Debug("logging/setLevel failed", "err", err)
	}
}

// ensureLogLevel makes a legacy server's log level at least as verbose as
// level, for a 2026-07-28 client's request that asked for it. (The next
// change of the 2025 sessions' levels sets it to theirs again.)
func (u *upstream) ensureLogLevel(level string) {
	u.mu.Lock()
	cur := u.level
	u.mu.Unlock()
	if cur != "" && logLevels[cur] <= logLevels[level] {
		return
	}
	u.setLogLevel(level)
}

// restore makes a new session what the old one was for the clients: the
// resources they subscribed to, the log level they asked for.
func (u *upstream) restore(sess *upSession) {
	if sess.modern {
		return // listen carries the subscriptions
	}
	u.mu.Lock()
	level := u.level
	u.level = ""
	u.mu.Unlock()
	u.setLogLevel(level)
	if !sess.caps.subscribe {
		return
	}
	for _, uri := range u.subscribed() {
		u.changeSubscription(uri, "resources/subscribe")
	}
}

// onOther handles what the server sends outside any call.
func (u *upstream) onOther(sess *upSession) func(m *message, via []byte) {
	return func(m *message, via []byte) {
		if m.isRequest() {
			u.serverRequest(u, sess, m)
			return
		}
		switch m.method {
		case "notifications/resources/updated":
			u.resourceUpdated(u, m.params)
		case "notifications/message":
			u.logMessage(u, m.params)
		case "notifications/subscriptions/acknowledged", "notifications/cancelled", "notifications/progress":
		default:
			if kinds, ok := isListChanged(m.method); ok && kinds != 0 {
				u.markStale(kinds)
			}
		}
	}
}

// lostError says why the connection was lost.
func (u *upstream) lostError() error {
	if sess := u.session(); sess != nil {
		return u.linkLost(sess.link)
	}
	return u.linkLost(nil)
}

// linkLost says why l's connection was lost: the link's reason, and a
// stdio server's last stderr line, which usually names the cause.
func (u *upstream) linkLost(l link) error {
	u.mu.Lock()
	tail := slices.Clone(u.stderr)
	u.mu.Unlock()
	msg := "the connection closed"
	if e, ok := l.(interface{ err() error }); ok && e.err() != nil {
		msg = e.err().Error()
	} else if e, ok := l.(interface{ lostErr() error }); ok && e.lostErr() != nil {
		msg = e.lostErr().Error()
	}
	if len(tail) > 0 {
		msg += ": " + tail[len(tail)-1]
	}
	return errors.New(msg)
}

// connect starts a link, speaks the server's revision, and fetches the
// lists. stop closes what was started; it is not nil when something was.
func (u *upstream) connect(ctx context.Context) (sess *upSession, stop func(), err error) {
	cfg := u.cfg.Load()
	if cfg.Problem != nil {
		// The settings file's own report says what is wrong with it; the
		// status shows it (withProblem). Nothing to connect until it is
		// fixed.
		return nil, nil, fmt.Errorf("%w: %s", errPermanent, serverProblem(cfg))
	}
	sep := u.separator()
	if err := settings.CheckServerName(u.name, sep); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errPermanent, err)
	}
	if cfg.Kind() == settings.TypeOpenAPI {
		return nil, nil, fmt.Errorf("%w: mcptray does not run MCPHub's openapi servers", errPermanent)
	}
	resolved, err := cfg.Resolve(u.lookupEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errPermanent, err)
	}
	began := time.Now()
	u.event(slog.LevelInfo, "connecting", "type", resolved.Kind())
	kind := resolved.Kind()
	l, sess, err := u.open(ctx, resolved, kind)
	if err != nil && kind == settings.TypeStreamableHTTP && resolved.Type == "" && isNotThere(err) {
		// A URL without a type may be a 2024-11-05 HTTP+SSE server: the
		// 2025-03-26 transport's backward compatibility says to try its
		// GET next (basic/transports, "Backward Compatibility").
		if l != nil {
			l.close()
		}
		if sl, ssess, serr := u.open(ctx, resolved, settings.TypeSSE); serr == nil {
			u.event(slog.LevelInfo, "the URL serves the older HTTP+SSE transport; set \"type\": \"sse\" to skip the first try")
			l, sess, err = sl, ssess, nil
		} else if sl != nil {
			sl.close()
		}
	}
	if err != nil {
		if l != nil {
			stop = func() { _ = l.close() }
		}
		return nil, stop, u.connectError(resolved.URL, err)
	}
	stop = func() { _ = l.close() }
	if hl, ok := l.(*httpLink); ok && !sess.modern {
		hl.setVersion(sess.version)
		// The 2025 GET stream, for what the server sends outside requests;
		// a server without one answers 405, which is fine.
		if err := hl.openGET(ctx); err != nil {
			u.log.Debug("no GET stream", "err", err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, max(connectTimeout, callTimeout(cfg, 0)))
	defer cancel()
	if err := u.fetchLists(cctx, sess, listAll); err != nil {
		return nil, stop, err
	}
	u.sess.Store(sess)
	u.restore(sess)
	// Connected means that clients see the server's tools: wait for the
	// views to include them.
	select {
	case <-u.listsShown():
	case <-ctx.Done():
		return nil, stop, ctx.Err()
	}
	pid := 0
	if sl, ok := l.(*stdioLink); ok {
		pid = sl.pid()
	}
	l2 := u.lists.Load()
	name, version := sess.name()
	u.event(slog.LevelInfo, "connected", "serverName", name, "protocol", sess.version, "tools", len(l2.items[kindTools]), "prompts", len(l2.items[kindPrompts]), "resources", len(l2.items[kindResources]))
	u.setStatus(func(s *ServerStatus) {
		s.State, s.Error, s.Attempt, s.RetryAt = StateConnected, "", 0, time.Time{}
		s.ConnectedAt = time.Now()
		s.ConnectTook = s.ConnectedAt.Sub(began)
		s.ServerName, s.ServerVersion, s.ProtocolVersion = name, version, sess.version
		s.PID = pid
	})
	return sess, stop, nil
}

// open starts a link of kind to a resolved server and opens a session on
// it. The link is returned even when the session failed, to be closed.
func (u *upstream) open(ctx context.Context, cfg *settings.Server, kind string) (link, *upSession, error) {
	l, err := u.newLink(cfg, kind)
	if err != nil {
		return nil, nil, err
	}
	sess := newUpSession(l, u.log, u.version, kind == settings.TypeStdio || kind == settings.TypeSSE)
	sess.other = u.onOther(sess)
	sess.largePassed = u.largePassed
	// Links keep their streams open for as long as the context given to
	// start lives: the upstream's, not the connection attempt's.
	if err := l.start(ctx, sess); err != nil {
		return l, nil, fmt.Errorf("start: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, max(connectTimeout, callTimeout(u.cfg.Load(), 0)))
	defer cancel()
	if err := sess.open(cctx); err != nil {
		if errors.Is(err, errConnectionLost) {
			err = u.linkLost(l)
		}
		return l, nil, err
	}
	return l, sess, nil
}

// isNotThere reports whether err says there is no streamable HTTP endpoint
// at the URL: 400, 404 or 405 without a modern JSON-RPC error.
func isNotThere(err error) bool {
	var hs *httpStatusError
	if !errors.As(err, &hs) {
		return false
	}
	_, _, rpc := hs.rpcError()
	return !rpc && (hs.Status == 404 || hs.Status == 405 || hs.Status == 400)
}

// connectError says what went wrong in words that point at the fix.
func (u *upstream) connectError(serverURL string, err error) error {
	var hs *httpStatusError
	var ne net.Error
	var ae *oauthflow.AuthorizationError
	switch {
	case errors.As(err, &ae):
		return err
	case errors.As(err, &hs) && hs.Status == http.StatusNotFound:
		return fmt.Errorf("nothing at %s (404): check the path in its url", redactURL(serverURL))
	case errors.As(err, &hs) && (hs.Status == http.StatusMethodNotAllowed || hs.Status == http.StatusBadRequest):
		return fmt.Errorf("%s is not an MCP endpoint (%d %s): check its url and type", redactURL(serverURL), hs.Status, http.StatusText(hs.Status))
	case errors.As(err, &ne):
		cause := error(ne)
		for errors.Unwrap(cause) != nil {
			cause = errors.Unwrap(cause)
		}
		return fmt.Errorf("cannot reach %s: %v", redactURL(serverURL), cause)
	}
	return err
}

// redactURL is a URL without its query and user info, which may hold keys.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

// newLink makes the link of a resolved server.
func (u *upstream) newLink(cfg *settings.Server, kind string) (link, error) {
	switch kind {
	case settings.TypeStdio:
		l, err := newStdioLink(stdio.Config{
			Command: cfg.Command,
			Args:    cfg.Args,
			Env:     cfg.Env,
			Dir:     cfg.Cwd,
			Stderr:  u.stderrLine,
			Warn:    func(msg string) { u.event(slog.LevelWarn, msg) },
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errPermanent, err)
		}
		return l, nil
	case settings.TypeSSE:
		l, err := newSSELink(sseLinkConfig{URL: cfg.URL, Headers: cfg.Headers, Client: u.httpClient(), Log: u.log})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errPermanent, err)
		}
		return l, nil
	case settings.TypeStreamableHTTP:
		l, err := newHTTPLink(httpLinkConfig{URL: cfg.URL, Headers: cfg.Headers, Client: u.httpClient(), Log: u.log})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errPermanent, err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("%w: unknown server type %q", errPermanent, cfg.Type)
}

// maxStderr is how many of a stdio server's last stderr lines its details
// keep.
const maxStderr = 20

// stderrLine keeps a stdio server's stderr line for its details; the log
// gets it at debug (a server that fails at start would write the same
// lines at every retry).
func (u *upstream) stderrLine(line string) {
	u.log.Debug("stderr", "line", line)
	u.mu.Lock()
	if len(u.stderr) >= maxStderr {
		copy(u.stderr, u.stderr[1:])
		u.stderr = u.stderr[:maxStderr-1]
	}
	u.stderr = append(u.stderr, line)
	u.mu.Unlock()
}

// setHidden records what of the server another server hides in some view
// (the same name or URI), for its status.
func (u *upstream) setHidden(items []string) {
	u.mu.Lock()
	same := slices.Equal(items, u.shadowed)
	u.shadowed = items
	u.status.Hidden = items
	u.mu.Unlock()
	if !same {
		u.statusChanged()
	}
}

// Stderr returns a stdio server's last stderr lines.
func (u *upstream) Stderr() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.stderr)
}

func (u *upstream) markStale(kind uint32) {
	u.stale.Or(kind)
	select {
	case u.refresh <- struct{}{}:
	default:
	}
}

// fetchLists fetches the lists named by kinds and publishes them.
func (u *upstream) fetchLists(ctx context.Context, sess *upSession, kinds uint32) error {
	next := *u.lists.Load()
	bad := func(what string, err error) {
		u.event(slog.LevelWarn, "skipping a "+what+" the server describes badly", "err", err)
	}
	fetch := func(k int, method, key string) error {
		items, hint, err := sess.listAll(ctx, method, key)
		if err != nil {
			return err
		}
		next.items[k], next.hints[k] = decodeItems(k, items, bad), hint
		return nil
	}
	if kinds&listTools != 0 && sess.caps.tools {
		if err := fetch(kindTools, "tools/list", "tools"); err != nil {
			return err
		}
	}
	if kinds&listPrompts != 0 && sess.caps.prompts {
		if err := fetch(kindPrompts, "prompts/list", "prompts"); err != nil {
			return err
		}
	}
	if kinds&listResources != 0 && sess.caps.resources {
		if err := fetch(kindResources, "resources/list", "resources"); err != nil {
			return err
		}
		if err := fetch(kindTemplates, "resources/templates/list", "resourceTemplates"); err != nil {
			var up *upstreamError
			if !errors.As(err, &up) {
				return err
			}
			next.items[kindTemplates] = nil // resources without templates
		}
	}
	u.lists.Store(&next)
	u.listsChanged()
	u.statusChanged()
	return nil
}

// notConnected is the error of a call while the server has no connection.
func (u *upstream) notConnected() error {
	st := u.Status()
	switch st.State {
	case StateNeedsAuthorization:
		return fmt.Errorf("%w: %s needs authorization; use Authorize… in mcptray's menu, or run mcptray authorize %s", ErrNotConnected, u.name, u.name)
	case StateError:
		return fmt.Errorf("%w: %s: %s", ErrNotConnected, u.name, st.Error)
	}
	return fmt.Errorf("%w: %s is %s", ErrNotConnected, u.name, st.State)
}

// backoff returns the wait before attempt n+1: exponential from one second,
// capped at a minute, with jitter so that servers that failed together do
// not retry together.
func backoff(n int) time.Duration {
	d := time.Second << min(n, 6)
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1)
}

// errorText is how an error shows in a server's status: for an HTTP
// server that cannot be reached, the address without its query (which may
// hold a key) and the innermost cause, instead of the transport's layers of
// "failed to send request".
func errorText(err error) string {
	if err == nil {
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		cause := ue.Err
		for errors.Unwrap(cause) != nil {
			cause = errors.Unwrap(cause)
		}
		addr := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.User = "", nil
			addr = u.String()
		}
		return fmt.Sprintf("cannot reach %s: %v", addr, cause)
	}
	return strings.TrimPrefix(err.Error(), errPermanent.Error()+": ")
}

// callTimeout is the server's options.timeout, or def.
func callTimeout(cfg *settings.Server, def time.Duration) time.Duration {
	if cfg != nil && cfg.Options != nil && cfg.Options.Timeout > 0 {
		return time.Duration(cfg.Options.Timeout) * time.Millisecond
	}
	return def
}
