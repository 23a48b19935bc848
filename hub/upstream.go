package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

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
	tools     []mcp.Tool
	prompts   []mcp.Prompt
	resources []mcp.Resource
	templates []mcp.ResourceTemplate
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
	// statusChanged tells the hub that the server's status changed.
	statusChanged func()
	// listsChanged tells it that the server's lists changed; listsShown
	// asks for the views to be rebuilt and returns a channel closed once
	// they show the lists.
	listsChanged func()
	listsShown   func() <-chan struct{}
	events       *eventLog // the server's; it outlives its connections
}

// upstream is one configured server and its connection, kept up by run.
type upstream struct {
	name string
	upstreamEnv
	cfg atomic.Pointer[settings.Server] // as in the settings, placeholders kept

	sess  atomic.Pointer[session] // nil while not connected
	lists atomic.Pointer[lists]

	// authState is the authorization state the hub last acted on; only
	// the hub's managing goroutine uses it.
	authState string

	mu     sync.Mutex // guards status
	status ServerStatus

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
	st.Tools, st.Prompts, st.Resources, st.ResourceTemplates = len(l.tools), len(l.prompts), len(l.resources), len(l.templates)
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

// serve watches a connected session until it is lost, a reconnect is
// asked for, or ctx ends; meanwhile it fetches lists the server says
// changed.
func (u *upstream) serve(ctx context.Context, sess *session) error {
	var health <-chan time.Time
	if _, ok := sess.tr.(*transport.StreamableHTTP); ok {
		t := time.NewTicker(healthInterval)
		defer t.Stop()
		health = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sess.lost:
			if st, ok := sess.tr.(*stdio.Transport); ok && st.Err() != nil {
				return st.Err()
			}
			return errors.New("the connection closed")
		case <-u.reconnect:
			return errReconnectRequested
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

// connect starts a transport, initializes it, and fetches the lists. stop
// closes what was started; it is not nil when something was.
func (u *upstream) connect(ctx context.Context) (sess *session, stop func(), err error) {
	cfg := u.cfg.Load()
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
	tr, lost, err := u.newTransport(resolved)
	if err != nil {
		return nil, nil, err
	}
	stop = func() { _ = tr.Close() }
	sess = &session{tr: tr, lost: lost}
	tr.SetNotificationHandler(func(n mcp.JSONRPCNotification) { u.onNotification(sess, n) })
	if b, ok := tr.(transport.BidirectionalInterface); ok {
		b.SetRequestHandler(answerServerRequest)
	}
	// The SSE and streamable HTTP transports keep their event streams open
	// for as long as the context given to Start lives: that must be the
	// upstream's, not the connection attempt's.
	if err := tr.Start(ctx); err != nil {
		return nil, stop, fmt.Errorf("start: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, max(connectTimeout, callTimeout(cfg, 0)))
	defer cancel()
	if err := sess.initialize(cctx, u.version); err != nil {
		return nil, stop, err
	}
	if err := u.fetchLists(cctx, sess, listAll); err != nil {
		return nil, stop, err
	}
	u.sess.Store(sess)
	// Connected means that clients see the server's tools: wait for the
	// views to include them.
	select {
	case <-u.listsShown():
	case <-ctx.Done():
		return nil, stop, ctx.Err()
	}
	pid := 0
	if st, ok := tr.(*stdio.Transport); ok {
		pid = st.PID()
	}
	l := u.lists.Load()
	u.event(slog.LevelInfo, "connected", "serverName", sess.info.Name, "tools", len(l.tools), "prompts", len(l.prompts), "resources", len(l.resources))
	u.setStatus(func(s *ServerStatus) {
		s.State, s.Error, s.Attempt, s.RetryAt = StateConnected, "", 0, time.Time{}
		s.ConnectedAt = time.Now()
		s.ConnectTook = s.ConnectedAt.Sub(began)
		s.ServerName, s.ServerVersion, s.ProtocolVersion = sess.info.Name, sess.info.Version, sess.protocolVersion
		s.PID = pid
	})
	return sess, stop, nil
}

// newTransport makes the transport for a resolved server, and a channel
// closed when its connection is lost.
func (u *upstream) newTransport(cfg *settings.Server) (transport.Interface, <-chan struct{}, error) {
	switch cfg.Kind() {
	case settings.TypeStdio:
		t, err := stdio.New(stdio.Config{
			Command: cfg.Command,
			Args:    cfg.Args,
			Env:     cfg.Env,
			Dir:     cfg.Cwd,
			Stderr:  func(line string) { u.log.Info("stderr", "line", line) },
			Warn:    func(msg string) { u.event(slog.LevelWarn, msg) },
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errPermanent, err)
		}
		return t, t.Done(), nil
	case settings.TypeSSE:
		lost := make(chan struct{})
		var once sync.Once
		t, err := transport.NewSSE(cfg.URL,
			transport.WithHeaders(cfg.Headers),
			transport.WithHTTPClient(u.httpClient()),
			transport.WithSSELogger(u.log),
		)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errPermanent, err)
		}
		t.SetConnectionLostHandler(func(error) { once.Do(func() { close(lost) }) })
		return t, lost, nil
	case settings.TypeStreamableHTTP:
		t, err := transport.NewStreamableHTTP(cfg.URL,
			transport.WithHTTPHeaders(cfg.Headers),
			transport.WithHTTPBasicClient(u.httpClient()),
			transport.WithContinuousListening(),
			transport.WithHTTPLogger(u.log),
		)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errPermanent, err)
		}
		// There is no connection to watch; serve pings the server instead.
		return t, make(chan struct{}), nil
	}
	return nil, nil, fmt.Errorf("%w: unknown server type %q", errPermanent, cfg.Type)
}

// onNotification handles a notification from the server. It runs on the
// transport's reading goroutine and must not block.
func (u *upstream) onNotification(sess *session, n mcp.JSONRPCNotification) {
	switch n.Method {
	case string(mcp.MethodNotificationProgress):
		sess.forwardProgress(n)
	case string(mcp.MethodNotificationToolsListChanged):
		u.markStale(listTools)
	case string(mcp.MethodNotificationPromptsListChanged):
		u.markStale(listPrompts)
	case string(mcp.MethodNotificationResourcesListChanged):
		u.markStale(listResources)
	case "notifications/message":
		u.log.Debug("server log message", "params", n.Params.AdditionalFields)
	}
}

func (u *upstream) markStale(kind uint32) {
	u.stale.Or(kind)
	select {
	case u.refresh <- struct{}{}:
	default:
	}
}

// answerServerRequest answers what an upstream server may ask of its client.
// mcptray offers no sampling, elicitation or roots, so it answers ping and
// an empty roots list, and refuses the rest.
func answerServerRequest(_ context.Context, r transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	var result any
	switch r.Method {
	case string(mcp.MethodPing):
		result = map[string]any{}
	case string(mcp.MethodListRoots):
		result = map[string]any{"roots": []any{}}
	default:
		return &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: r.ID, Error: &mcp.JSONRPCErrorDetails{Code: mcp.METHOD_NOT_FOUND, Message: "mcptray does not offer " + r.Method + " to upstream servers"}}, nil
	}
	raw, _ := json.Marshal(result)
	return &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: r.ID, Result: raw}, nil
}

// fetchLists fetches the lists named by kinds and publishes them.
func (u *upstream) fetchLists(ctx context.Context, sess *session, kinds uint32) error {
	next := *u.lists.Load()
	if kinds&listTools != 0 && sess.caps.Tools != nil {
		items, err := sess.listAll(ctx, string(mcp.MethodToolsList), "tools")
		if err != nil {
			return err
		}
		next.tools = next.tools[:0:0]
		for _, raw := range items {
			t, err := decodeTool(raw)
			if err != nil {
				u.event(slog.LevelWarn, "skipping a tool the server describes badly", "err", err)
				continue
			}
			next.tools = append(next.tools, t)
		}
	}
	if kinds&listPrompts != 0 && sess.caps.Prompts != nil {
		items, err := sess.listAll(ctx, string(mcp.MethodPromptsList), "prompts")
		if err != nil {
			return err
		}
		next.prompts = decodeAll[mcp.Prompt](u, items, "prompt")
	}
	if kinds&listResources != 0 && sess.caps.Resources != nil {
		items, err := sess.listAll(ctx, string(mcp.MethodResourcesList), "resources")
		if err != nil {
			return err
		}
		next.resources = decodeAll[mcp.Resource](u, items, "resource")
		items, err = sess.listAll(ctx, string(mcp.MethodResourcesTemplatesList), "resourceTemplates")
		if err != nil {
			var rpc *RPCError
			if !errors.As(err, &rpc) {
				return err
			}
			items = nil // resources without templates
		}
		next.templates = decodeAll[mcp.ResourceTemplate](u, items, "resource template")
	}
	u.lists.Store(&next)
	u.listsChanged()
	u.statusChanged()
	return nil
}

func decodeAll[T any](u *upstream, items []json.RawMessage, what string) []T {
	out := make([]T, 0, len(items))
	for _, raw := range items {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			u.event(slog.LevelWarn, "skipping a "+what+" the server describes badly", "err", err)
			continue
		}
		out = append(out, v)
	}
	return out
}

// decodeTool decodes a tool and keeps its schemas as the server wrote them:
// mcp.Tool's own schema type would drop keywords such as anyOf.
func decodeTool(raw json.RawMessage) (mcp.Tool, error) {
	var t mcp.Tool
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, err
	}
	if t.Name == "" {
		return t, errors.New("a tool without a name")
	}
	var schemas struct {
		In  json.RawMessage `json:"inputSchema"`
		Out json.RawMessage `json:"outputSchema"`
	}
	if err := json.Unmarshal(raw, &schemas); err != nil {
		return t, err
	}
	t.InputSchema, t.OutputSchema = mcp.ToolInputSchema{}, mcp.ToolOutputSchema{}
	t.RawInputSchema, t.RawOutputSchema = nil, nil
	if len(schemas.In) > 0 && string(schemas.In) != "null" {
		t.RawInputSchema = schemas.In
	} else {
		t.InputSchema.Type = "object"
	}
	if len(schemas.Out) > 0 && string(schemas.Out) != "null" {
		t.RawOutputSchema = schemas.Out
	}
	return t, nil
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
