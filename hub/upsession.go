package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// upSession is one MCP connection to an upstream server, of either
// revision. It sends requests with its own ids, and sorts what the server
// sends: a response goes to its call; a notification or a request that
// belongs to a call (by the response stream it came on, by the progress
// token the hub minted, or, on a shared channel, by who can answer it) goes
// to that call's queue, in order; the rest goes to other.
type upSession struct {
	link   link
	log    *slog.Logger
	shared bool   // one channel for every request (stdio, HTTP+SSE): cancellation is a notification
	hubVer string // mcptray's version, for clientInfo

	// Set by open, then read-only.
	modern       bool
	version      string // the revision spoken
	serverInfo   []byte // raw {"name":...,"version":...}
	caps         serverCaps
	instructions string
	discover     []byte // a modern server's DiscoverResult, raw

	other func(m *message, via []byte) // what belongs to no call; set before open
	// largePassed tells the hub a large message passed, so that it gives
	// the memory back; nil in tests. Set before open.
	largePassed func()

	dead     chan struct{} // closed when the server ended the session (HTTP 404)
	deadOnce sync.Once

	nextID atomic.Int64

	// mu guards calls and tokens.
	mu     sync.Mutex
	calls  map[int64]*upCall
	tokens map[int64]*upCall // progress tokens the hub minted
}

// serverCaps is what a server says it offers.
type serverCaps struct {
	raw                             []byte
	tools, prompts, resources       bool
	toolsLC, promptsLC, resourcesLC bool // listChanged
	subscribe, logging, completions bool
	tasks                           bool
}

func parseServerCaps(raw []byte) serverCaps {
	c := serverCaps{raw: raw}
	has := func(key string) ([]byte, bool) {
		v, ok := rawjson.Get(raw, key)
		return v, ok && string(v) != "null"
	}
	lc := func(v []byte) bool { x, _ := rawjson.Get(v, "listChanged"); return string(x) == "true" }
	if v, ok := has("tools"); ok {
		c.tools, c.toolsLC = true, lc(v)
	}
	if v, ok := has("prompts"); ok {
		c.prompts, c.promptsLC = true, lc(v)
	}
	if v, ok := has("resources"); ok {
		c.resources, c.resourcesLC = true, lc(v)
		x, _ := rawjson.Get(v, "subscribe")
		c.subscribe = string(x) == "true"
	}
	_, c.logging = has("logging")
	_, c.completions = has("completions")
	_, c.tasks = has("tasks")
	if v, ok := has("extensions"); ok {
		if _, t := rawjson.Get(v, "io.modelcontextprotocol/tasks"); t {
			c.tasks = true
		}
	}
	return c
}

// upCall is one request in flight to the server.
type upCall struct {
	id     int64
	idRaw  []byte
	client *caller // on whose behalf the hub asks; nil for its own requests
	token  []byte  // the client's progress token, raw; nil when none
	q      queue   // what the server sent for this request, in order
	born   time.Time
}

// itemKind is what a queue item is.
type itemKind uint8

const (
	itemNotification itemKind = iota // progress, a log message, a cancellation
	itemRequest                      // a server-to-client request (2025 era)
	itemResponse                     // the answer: the last item
	itemFailed                       // the request failed on the way; err says why
)

type item struct {
	kind itemKind
	msg  *message
	err  error
}

// queue is a call's items. Pushing never blocks the link's reader: a
// client that reads slowly holds up only its own call. Notifications beyond
// maxQueued are dropped (a server flooding one call must not fill the
// hub's memory); the answer is always kept.
type queue struct {
	mu      sync.Mutex // guards items, dropped, closed
	items   []item
	dropped int
	closed  bool          // the answer (or a failure) is in
	ready   chan struct{} // has a value when items has some
}

const maxQueued = 4096

func (q *queue) init() { q.ready = make(chan struct{}, 1) }

func (q *queue) push(it item) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if it.kind == itemNotification && len(q.items) >= maxQueued {
		q.dropped++
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, it)
	if it.kind == itemResponse || it.kind == itemFailed {
		q.closed = true
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// next waits for the next item, ctx, or lost.
func (q *queue) next(ctx context.Context, lost <-chan struct{}) (item, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = item{}
			q.items = q.items[1:]
			q.mu.Unlock()
			return it, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return item{}, ctx.Err()
		case <-lost:
			// Take what arrived before the end.
			q.mu.Lock()
			n := len(q.items)
			q.mu.Unlock()
			if n == 0 {
				return item{}, errConnectionLost
			}
		}
	}
}

var errConnectionLost = errors.New("the connection to the server was lost")

// newUpSession makes a session over a started link's peer; start the link
// with s.deliver, then call open.
func newUpSession(l link, log *slog.Logger, hubVersion string, shared bool) *upSession {
	return &upSession{link: l, log: log, hubVer: hubVersion, shared: shared, calls: map[int64]*upCall{}, tokens: map[int64]*upCall{}, dead: make(chan struct{})}
}

// probeTimeout bounds the server/discover probe: a legacy stdio server may
// not answer a method it does not know before initialize.
const probeTimeout = 5 * time.Second

// open finds out which revision the server speaks and speaks it: a
// server/discover first, initialize when that shows a legacy server
// (2026-07-28, basic/versioning "Backward Compatibility").
func (s *upSession) open(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	s.version = versionModern // the probe is a 2026-07-28 request, headers and all
	res, err := s.roundTrip(pctx, nil, "server/discover", s.modernParams(nil, nil), "")
	s.version = ""
	cancel()
	if err == nil {
		var d struct {
			Supported    []string                   `json:"supportedVersions"`
			Capabilities json.RawMessage            `json:"capabilities"`
			Instructions string                     `json:"instructions"`
			Meta         map[string]json.RawMessage `json:"_meta"`
		}
		if json.Unmarshal(res, &d) == nil && slices.Contains(d.Supported, versionModern) {
			s.modern, s.version = true, versionModern
			s.caps = parseServerCaps(d.Capabilities)
			s.instructions = d.Instructions
			s.serverInfo = d.Meta[metaServerInfo]
			s.discover = res
			return nil
		}
	} else if ctx.Err() != nil {
		return ctx.Err()
	} else if modernRefusal(err) {
		return fmt.Errorf("server/discover: %w", err)
	} else if !answered(err) {
		// Not an answer of a legacy server but no answer at all: the
		// server cannot be reached, or it went away.
		return err
	}
	return s.initialize(ctx)
}

// answered reports whether err is the server's own answer to the probe
// (a JSON-RPC error, an HTTP error status, or silence on stdio), which
// tells a legacy server, rather than a failure to reach it.
func answered(err error) bool {
	var up *upstreamError
	var hs *httpStatusError
	return errors.As(err, &up) || errors.As(err, &hs) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errNoResponse)
}

// modernRefusal reports whether err is a modern server's answer that still
// says it is modern (an unsupported version that lists 2026-07-28 would be
// a contradiction; one that does not means a legacy server).
func modernRefusal(err error) bool {
	var up *upstreamError
	if !errors.As(err, &up) || up.code() != codeUnsupportedVersion {
		return false
	}
	data, _ := rawjson.Get(up.obj, "data")
	var d struct {
		Supported []string `json:"supported"`
	}
	_ = json.Unmarshal(data, &d)
	return slices.Contains(d.Supported, versionModern)
}

// initialize runs the legacy handshake.
func (s *upSession) initialize(ctx context.Context) error {
	params := []byte(`{"protocolVersion":"` + versionLegacy + `","capabilities":`)
	params = append(params, legacyUpstreamCaps...)
	params = append(params, `,"clientInfo":`...)
	params = append(params, clientInfoJSON(s.hubVer)...)
	params = append(params, '}')
	res, err := s.roundTrip(ctx, nil, "initialize", params, "")
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	var r struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ServerInfo      json.RawMessage `json:"serverInfo"`
		Instructions    string          `json:"instructions"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return fmt.Errorf("initialize: bad answer: %w", err)
	}
	if !slices.Contains(legacyVersions, r.ProtocolVersion) {
		return fmt.Errorf("initialize: the server speaks MCP %q, which mcptray does not (it speaks %v)", r.ProtocolVersion, supportedVersions)
	}
	s.version = r.ProtocolVersion
	s.caps = parseServerCaps(r.Capabilities)
	s.serverInfo = r.ServerInfo
	s.instructions = r.Instructions
	if err := s.notify(ctx, "notifications/initialized", nil); err != nil {
		return fmt.Errorf("initialized notification: %w", err)
	}
	return nil
}

// name returns the server's own name, from its serverInfo.
func (s *upSession) name() (name, version string) {
	var v struct{ Name, Version string }
	_ = json.Unmarshal(s.serverInfo, &v)
	return v.Name, v.Version
}

// modernParams returns params with the hub's own _meta for a modern leg,
// for the hub's own requests (lists, discover): no client, no capabilities.
func (s *upSession) modernParams(params []byte, extra []rawjson.Edit) []byte {
	meta := rewriteMeta(nil, legMeta{modern: true, caps: []byte("{}"), clientInfo: clientInfoJSON(s.hubVer)})
	return rawjson.Apply(params, append(extra, rawjson.Edit{Key: "_meta", Value: meta})...)
}

// hubParams returns params for one of the hub's own requests, in the
// server's revision.
func (s *upSession) hubParams(params []byte) []byte {
	if s.modern {
		return s.modernParams(params, nil)
	}
	return params
}

// roundTrip sends one of the hub's own requests and returns its raw
// result, or its error (*upstreamError for the server's JSON-RPC error).
func (s *upSession) roundTrip(ctx context.Context, c *caller, method string, params []byte, name string) ([]byte, error) {
	call, err := s.start(ctx, c, method, params, name, nil)
	if err != nil {
		return nil, err
	}
	defer s.forget(call)
	for {
		it, err := call.q.next(ctx, s.link.lost())
		if err != nil {
			if ctx.Err() != nil {
				s.cancel(call, ctx)
			}
			return nil, err
		}
		switch it.kind {
		case itemResponse:
			m := it.msg.whole()
			if m.err != nil {
				return nil, &upstreamError{obj: m.err}
			}
			return m.result, nil
		case itemFailed:
			return nil, it.err
		case itemRequest:
			// The hub's own requests ask for nothing a client must answer.
			s.respondError(it.msg.id, newError(codeMethodNotFound, "mcptray asks for nothing that needs "+it.msg.method))
		}
	}
}

// start sends a request and returns its call, whose queue gets what the
// server sends for it. Call forget when done with it.
func (s *upSession) start(ctx context.Context, c *caller, method string, params []byte, name string, headers map[string]string) (*upCall, error) {
	call := s.newCall(c)
	if err := s.send(ctx, call, method, params, name, headers); err != nil {
		s.forget(call)
		return nil, err
	}
	return call, nil
}

// newCall registers a call, before its request is sent (its progress token
// must be known to go into it).
func (s *upSession) newCall(c *caller) *upCall {
	id := s.nextID.Add(1)
	call := &upCall{id: id, idRaw: strconv.AppendInt(nil, id, 10), client: c, born: time.Now()}
	call.q.init()
	s.mu.Lock()
	s.calls[id] = call
	s.mu.Unlock()
	return call
}

// send sends call's request. Over HTTP the request's answer, and what comes
// before it, arrive while the link reads the response: that runs beside the
// caller, which answers the server's requests meanwhile.
func (s *upSession) send(ctx context.Context, call *upCall, method string, params []byte, name string, headers map[string]string) error {
	msg := appendRequest(make([]byte, 0, len(params)+len(method)+48), call.idRaw, method, params)
	info := sendInfo{id: call.idRaw, method: method, name: name, params: headers, version: s.version}
	if s.shared {
		return s.link.send(ctx, msg, info)
	}
	go func() {
		if err := s.link.send(ctx, msg, info); err != nil {
			call.q.push(s.failure(call, err))
		} else {
			// Ignored when the answer came, as it should have.
			call.q.push(item{kind: itemFailed, err: errors.New("the server ended its response without an answer")})
		}
	}()
	return nil
}

// failure is the item of a request whose HTTP answer was not 2xx: a
// modern server's JSON-RPC error in the body is the request's answer (it
// answers ordinary errors with 4xx statuses too); a session the server
// ended makes the session dead, so that the upstream connects again.
func (s *upSession) failure(call *upCall, err error) item {
	var hs *httpStatusError
	if errors.As(err, &hs) {
		if _, obj, ok := hs.rpcError(); ok {
			m := &message{id: call.idRaw, err: obj, raw: appendError(nil, call.idRaw, obj)}
			return item{kind: itemResponse, msg: m}
		}
	}
	if errors.Is(err, errSessionExpired) {
		s.deadOnce.Do(func() { close(s.dead) })
	}
	return item{kind: itemFailed, err: err}
}

// forget drops a call once its caller is done.
func (s *upSession) forget(call *upCall) {
	s.mu.Lock()
	delete(s.calls, call.id)
	for tok, c := range s.tokens {
		if c == call {
			delete(s.tokens, tok)
		}
	}
	s.mu.Unlock()
}

// progressToken mints the token to send upstream instead of the client's.
func (s *upSession) progressToken(call *upCall, clientToken []byte) []byte {
	tok := s.nextID.Add(1)
	call.token = clientToken
	s.mu.Lock()
	s.tokens[tok] = call
	s.mu.Unlock()
	return strconv.AppendInt(nil, tok, 10)
}

// cancel tells the server to stop working on a call: a
// notifications/cancelled on a shared channel and in the legacy revision;
// over 2026-07-28 HTTP, closing the request's stream (ctx) is the
// cancellation.
func (s *upSession) cancel(call *upCall, ctx context.Context) {
	if s.modern && !s.shared {
		return
	}
	reason := "the client cancelled the request"
	if errors.Is(context.Cause(ctx), errCallTimeout) {
		reason = "the request timed out"
	}
	params := []byte(`{"requestId":` + string(call.idRaw) + `,"reason":`)
	params = rawjson.AppendQuote(params, reason)
	params = append(params, '}')
	cctx, stop := context.WithTimeout(context.Background(), 2*time.Second)
	defer stop()
	_ = s.notify(cctx, "notifications/cancelled", params)
}

// notify sends a notification.
func (s *upSession) notify(ctx context.Context, method string, params []byte) error {
	return s.link.send(ctx, appendNotification(nil, method, params), sendInfo{method: method, version: s.version})
}

// respond answers a server's request.
func (s *upSession) respond(id, result []byte) {
	s.sendResponse(appendResult(nil, id, result))
}

// respondError answers a server's request with an error.
func (s *upSession) respondError(id []byte, err error) {
	s.sendResponse(appendError(nil, id, errorObject(err)))
}

func (s *upSession) sendResponse(msg []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.link.send(ctx, msg, sendInfo{version: s.version}); err != nil {
		s.log.Debug("cannot answer the server's request", "err", err)
	}
}

// deliver sorts one message from the server. It runs on the link's reader
// and does not block.
func (s *upSession) deliver(raw []byte, via json.RawMessage) {
	if !json.Valid(raw) {
		s.log.Warn("the server sent something that is not JSON", "bytes", len(raw))
		return
	}
	m, err := parseMessage(raw)
	if err != nil {
		// An answer that is no valid response still ends its call, with an
		// error, rather than leaving it to time out.
		if idv, ok := rawjson.Get(raw, "id"); ok {
			if id, ok := parseIntID(idv); ok {
				s.mu.Lock()
				call := s.calls[id]
				s.mu.Unlock()
				if call != nil {
					call.q.push(item{kind: itemFailed, err: fmt.Errorf("the server answered with something that is not a JSON-RPC response: %w", err)})
					return
				}
			}
		}
		s.log.Warn("the server sent something that is not JSON-RPC", "err", err)
		return
	}
	s.dispatch(m, via)
}

// dispatch sends a parsed message to its call, or to other.
func (s *upSession) dispatch(m *message, via json.RawMessage) {
	switch {
	case m.isResponse():
		id, ok := parseIntID(m.id)
		s.mu.Lock()
		call := s.calls[id]
		s.mu.Unlock()
		if !ok || call == nil {
			// An answer to a request the hub never sent, or gave up on.
			s.log.Debug("the server answered a request mcptray is not waiting for", "id", string(m.id))
			return
		}
		call.q.push(item{kind: itemResponse, msg: m})
	case m.isRequest():
		if call := s.callFor(via, m); call != nil {
			call.q.push(item{kind: itemRequest, msg: m})
			return
		}
		s.other(m, via)
	default:
		if call := s.notificationCall(via, m); call != nil {
			call.q.push(item{kind: itemNotification, msg: m})
			return
		}
		s.other(m, via)
	}
}

// callFor finds the call a server's request belongs to: the one whose
// response stream carried it; on a shared channel, the most recent call in
// flight whose client can answer it.
func (s *upSession) callFor(via []byte, m *message) *upCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	if via != nil {
		if id, ok := parseIntID(via); ok {
			if c := s.calls[id]; c != nil {
				return c
			}
		}
	}
	var best *upCall
	for _, c := range s.calls {
		if c.client == nil || !c.client.caps.supports(m.method, m.params) {
			continue
		}
		if best == nil || c.born.After(best.born) {
			best = c
		}
	}
	return best
}

// notificationCall finds the call a notification belongs to, if any:
// progress by the token the hub minted; a log message by the stream it came
// on; a cancellation of a server's request by the call that got it.
func (s *upSession) notificationCall(via []byte, m *message) *upCall {
	switch m.method {
	case "notifications/progress":
		v, _ := rawjson.Get(m.params, "progressToken")
		tok, ok := parseIntID(v)
		if !ok {
			return nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.tokens[tok]
	case "notifications/message", "notifications/cancelled":
		s.mu.Lock()
		defer s.mu.Unlock()
		if via != nil {
			id, ok := parseIntID(via)
			if !ok {
				return nil
			}
			return s.calls[id]
		}
		if m.method == "notifications/message" && s.shared {
			// On a shared channel nothing ties a log message to its
			// request: it goes to the newest call whose client asked for
			// log messages with it (2026-07-28 clients ask per request), if
			// any.
			var best *upCall
			for _, c := range s.calls {
				if c.client != nil && c.client.modern && c.client.level() != "" && (best == nil || c.born.After(best.born)) {
					best = c
				}
			}
			return best
		}
	}
	return nil
}

// inFlight returns the calls in flight, newest first.
func (s *upSession) inFlight() []*upCall {
	s.mu.Lock()
	out := make([]*upCall, 0, len(s.calls))
	for _, c := range s.calls {
		out = append(out, c)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *upCall) int { return b.born.Compare(a.born) })
	return out
}

// listAll fetches every page of a list method and returns the raw items
// under key, and the smallest caching hint the pages gave.
func (s *upSession) listAll(ctx context.Context, method, key string) ([]json.RawMessage, cacheHint, error) {
	var items []json.RawMessage
	hint := cacheHint{}
	var cursor string
	for page := 0; ; page++ {
		var params []byte
		if cursor != "" {
			params = append(rawjson.AppendQuote([]byte(`{"cursor":`), cursor), '}')
		}
		raw, err := s.roundTrip(ctx, nil, method, s.hubParams(params), "")
		if err != nil {
			return nil, hint, fmt.Errorf("%s: %w", method, err)
		}
		var res struct {
			Items      json.RawMessage `json:"-"`
			NextCursor string          `json:"nextCursor"`
			TTL        *int64          `json:"ttlMs"`
			Scope      string          `json:"cacheScope"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, hint, fmt.Errorf("%s: bad answer: %w", method, err)
		}
		hint = hint.join(cacheHint{ttl: res.TTL, scope: res.Scope, given: res.TTL != nil || res.Scope != ""})
		var pageItems []json.RawMessage
		if v, ok := rawjson.Get(raw, key); ok && string(v) != "null" {
			if err := json.Unmarshal(v, &pageItems); err != nil {
				return nil, hint, fmt.Errorf("%s: bad %s: %w", method, key, err)
			}
		}
		items = append(items, pageItems...)
		cursor = res.NextCursor
		if cursor == "" {
			return items, hint, nil
		}
		if page > 1000 {
			return nil, hint, fmt.Errorf("%s: the server kept sending more pages", method)
		}
	}
}

// cacheHint is a list's caching hint (2026-07-28, server/utilities/caching).
type cacheHint struct {
	given bool   // the server gave one
	ttl   *int64 // ms
	scope string // public or private
}

// join is the hint no looser than either: the shorter time, private over
// public. A hint not given leaves the other as it is (the catalog counts a
// server that gave none as strictHint).
func (a cacheHint) join(b cacheHint) cacheHint {
	if !a.given {
		return b
	}
	if !b.given {
		return a
	}
	out := cacheHint{given: true, scope: "public"}
	if a.scope != "public" || b.scope != "public" {
		out.scope = "private"
	}
	switch {
	case a.ttl == nil || b.ttl == nil:
		zero := int64(0)
		out.ttl = &zero
	case *a.ttl < *b.ttl:
		out.ttl = a.ttl
	default:
		out.ttl = b.ttl
	}
	return out
}

// ping checks that the server still answers: ping in the legacy revision,
// server/discover in 2026-07-28, which has no ping.
func (s *upSession) ping(ctx context.Context) error {
	method := "ping"
	if s.modern {
		method = "server/discover"
	}
	_, err := s.roundTrip(ctx, nil, method, s.hubParams(nil), "")
	var up *upstreamError
	if errors.As(err, &up) {
		return nil // it answered, if only with an error
	}
	return err
}
