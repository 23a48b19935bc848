package hub

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// This file is the hub's side of the clients' transports: Streamable HTTP
// of both eras on /mcp and /mcp/{name}, and the 2024-11-05 HTTP+SSE
// transport on /sse and /sse/{name}.

// Session limits: a session idle this long is closed, and beyond
// maxSessions the one idle longest goes (issue 11). A client whose session
// went gets 404 and opens a new one, as the 2025-11-25 transport says.
const (
	sessionIdle = time.Hour
	maxSessions = 10000
)

// sessionTable holds the legacy sessions of every view.
type sessionTable struct {
	mu   sync.Mutex // guards byID and max
	byID map[string]*downSession
	max  int // maxSessions when 0; tests make it small
}

func (t *sessionTable) get(id string) *downSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

func (t *sessionTable) add(s *downSession) (evicted *downSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		t.byID = map[string]*downSession{}
	}
	if limit := cmp.Or(t.max, maxSessions); len(t.byID) >= limit {
		for _, o := range t.byID {
			if evicted == nil || o.lastActive.Load() < evicted.lastActive.Load() {
				evicted = o
			}
		}
		delete(t.byID, evicted.id)
	}
	t.byID[s.id] = s
	return evicted
}

func (t *sessionTable) remove(id string) *downSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.byID[id]
	delete(t.byID, id)
	return s
}

// idle removes and returns the sessions idle since before.
func (t *sessionTable) idle(before time.Time) []*downSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*downSession
	for id, s := range t.byID {
		if s.lastActive.Load() < before.UnixNano() {
			out = append(out, s)
			delete(t.byID, id)
		}
	}
	return out
}

// all returns every session.
func (t *sessionTable) all() []*downSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*downSession, 0, len(t.byID))
	for _, s := range t.byID {
		out = append(out, s)
	}
	return out
}

func randomID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newStream makes a resumable stream of the session.
func (s *downSession) newStream() *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextStr++
	st := newStream(strconv.Itoa(s.nextStr))
	if s.streams == nil {
		s.streams = map[string]*stream{}
	}
	s.streams[st.id] = st
	// Forget streams finished long enough ago.
	for id, o := range s.streams {
		o.mu.Lock()
		old := o.done && time.Since(o.ended) > streamLinger
		o.mu.Unlock()
		if old {
			delete(s.streams, id)
		}
	}
	return st
}

// push sends a message that belongs to no request: on the GET stream (kept
// there for a client that opens or reopens it with Last-Event-ID), or on
// the HTTP+SSE transport's one stream.
func (s *downSession) push(msg []byte) error { return s.pushEvent(event{data: msg}) }

// pushEvent is push for an event's message.
func (s *downSession) pushEvent(e event) error {
	s.mu.Lock()
	if s.get == nil {
		if s.sse {
			s.mu.Unlock()
			return errors.New("the client's stream is closed")
		}
		s.nextStr++
		s.get = newStream(strconv.Itoa(s.nextStr))
		if s.streams == nil {
			s.streams = map[string]*stream{}
		}
		s.streams[s.get.id] = s.get
	}
	st := s.get
	s.mu.Unlock()
	st.add(e, false)
	return nil
}

// request sends the client a request of the session's own (a server's
// request, relayed) and waits for its answer, ctx, or the session's end.
func (s *downSession) request(ctx context.Context, o out, method string, params []byte) ([]byte, error) {
	s.mu.Lock()
	s.nextReq++
	id := "mcptray-" + strconv.FormatInt(s.nextReq, 10)
	ch := make(chan []byte, 1)
	if s.pending == nil {
		s.pending = map[string]chan []byte{}
	}
	idRaw := rawjson.Quote(id)
	s.pending[idKey(idRaw)] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, idKey(idRaw))
		s.mu.Unlock()
	}()
	if err := o.send(appendRequest(nil, idRaw, method, params)); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-s.done:
		return nil, errors.New("the client's session ended")
	case <-ctx.Done():
		// Tell the client to stop working on it (2025-11-25 cancellation).
		p := append(append([]byte(`{"requestId":`), idRaw...), `,"reason":"the server no longer waits for it"}`...)
		_ = o.send(appendNotification(nil, "notifications/cancelled", p))
		return nil, ctx.Err()
	}
}

// answer hands the client's response to the request waiting for it.
func (s *downSession) answer(m *message) bool {
	s.mu.Lock()
	ch := s.pending[idKey(m.id)]
	s.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- m.raw:
	default:
	}
	return true
}

// close ends the session: its requests in flight are cancelled, its
// streams end.
func (s *downSession) close() {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	close(s.done)
	s.mu.Lock()
	calls := s.calls
	s.calls = nil
	streams := s.streams
	get := s.get
	s.mu.Unlock()
	for _, cancel := range calls {
		cancel()
	}
	for _, st := range streams {
		st.write(nil, true)
	}
	if get != nil {
		get.write(nil, true)
	}
	s.view.unsubscribeAll(s)
}

// track records a request of the client in flight, for its cancellation.
func (s *downSession) track(id []byte, cancel func()) (untrack func()) {
	key := idKey(id)
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]func(){}
	}
	s.calls[key] = cancel
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.calls, key)
		s.mu.Unlock()
	}
}

// cancelCall cancels the client's request in flight with id.
func (s *downSession) cancelCall(id []byte) {
	s.mu.Lock()
	cancel := s.calls[idKey(id)]
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// readMessageBody reads a POSTed message (protect bounds its size).
func (h *Hub) readMessageBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeRPCError(w, http.StatusRequestEntityTooLarge, nil, newError(codeInvalidRequest, "the message is larger than mcptray accepts ("+strconv.Itoa(maxRequestBody>>20)+" MiB)"))
		case errors.Is(err, os.ErrDeadlineExceeded): // protect's body deadline
			w.Header().Set("Connection", "close")
			writeRPCError(w, http.StatusRequestTimeout, nil, newError(codeInvalidRequest, "the request's body did not arrive within "+h.bodyTimeout.String()))
		default:
			writeRPCError(w, http.StatusBadRequest, nil, newError(codeInvalidRequest, "cannot read the request: "+err.Error()))
		}
		return nil, false
	}
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		writeRPCError(w, http.StatusBadRequest, nil, newError(codeParseError, "the body is not JSON"))
		return nil, false
	}
	return body, true
}

// writeRPCError answers with a JSON-RPC error.
func writeRPCError(w http.ResponseWriter, status int, id []byte, e *rpcError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(appendError(nil, id, e.encode()))
}

// serveStreamable serves the Streamable HTTP transport of both eras.
func (h *Hub) serveStreamable(w http.ResponseWriter, r *http.Request) {
	v := h.viewFor(r)
	if v == nil {
		h.notFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodPost:
		h.post(v, w, r)
	case http.MethodGet:
		h.getStream(v, w, r)
	case http.MethodDelete:
		h.deleteSession(v, w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "the MCP endpoint takes POST (and GET and DELETE within a 2025 session)")
	}
}

// post serves one POSTed message.
func (h *Hub) post(v *view, w http.ResponseWriter, r *http.Request) {
	body, ok := h.readMessageBody(w, r)
	if !ok {
		return
	}
	if sid := r.Header.Get("Mcp-Session-Id"); sid != "" && !isModern(r.Header.Get("Mcp-Protocol-Version")) {
		s := h.sessions.get(sid)
		if s == nil || s.view != v || s.closed.Load() {
			writeRPCError(w, http.StatusNotFound, nil, newError(codeInvalidRequest, "no such session (it ended, or mcptray restarted): initialize a new one"))
			return
		}
		s.touch()
		h.legacyPost(s, w, r, body)
		return
	}
	if body[0] == '[' {
		h.batch(v, w, r, body)
		return
	}
	m, err := parseMessage(body)
	if err != nil {
		writeRPCError(w, http.StatusBadRequest, nil, newError(codeInvalidRequest, err.Error()))
		return
	}
	if m.method == "initialize" {
		h.initialize(v, w, r, m)
		return
	}
	if version := r.Header.Get("Mcp-Protocol-Version"); isModern(version) || m.modernMeta() != "" {
		h.modernPost(v, w, r, m)
		return
	}
	if m.isNotification() || m.isResponse() {
		w.WriteHeader(http.StatusAccepted) // nothing to do outside a session
		return
	}
	writeRPCError(w, http.StatusBadRequest, m.id, newError(codeInvalidRequest, "Bad Request: no session: a 2025 client starts with initialize; a 2026-07-28 client describes itself in _meta on every request"))
}

// modernMeta returns the protocol version a request's _meta declares.
func (m *message) modernMeta() string {
	v, _ := rawjson.String(m.meta(), metaProtocolVersion)
	return v
}

// batch answers a JSON-RPC batch, which 2025-03-26 allowed (2025-06-18
// removed it): each request in turn, the answers in one array.
func (h *Hub) batch(v *view, w http.ResponseWriter, r *http.Request, body []byte) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil || len(items) == 0 {
		writeRPCError(w, http.StatusBadRequest, nil, newError(codeInvalidRequest, "an empty or broken batch"))
		return
	}
	for _, it := range items {
		if t := bytes.TrimSpace(it); len(t) == 0 || t[0] != '{' {
			writeRPCError(w, http.StatusBadRequest, nil, newError(codeInvalidRequest, "Invalid Request: a batch holds JSON-RPC messages, which are objects"))
			return
		}
	}
	var sess *downSession
	if sid := r.Header.Get("Mcp-Session-Id"); sid != "" {
		sess = h.sessions.get(sid)
	}
	if sess == nil || sess.view != v {
		writeRPCError(w, http.StatusBadRequest, nil, newError(codeInvalidRequest, "a batch needs a session"))
		return
	}
	var answers [][]byte
	for _, raw := range items {
		m, err := parseMessage(bytes.TrimSpace(raw))
		if err != nil {
			answers = append(answers, appendError(nil, nil, newError(codeInvalidRequest, err.Error()).encode()))
			continue
		}
		if !m.isRequest() {
			h.legacyMessage(sess, m, nil)
			continue
		}
		bo := &batchOut{sess: sess}
		h.legacyRequest(r.Context(), sess, m, bo)
		answers = append(answers, bo.answer)
	}
	w.Header().Set("Content-Type", "application/json")
	if len(answers) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	_, _ = w.Write(append(append([]byte("["), bytes.Join(answers, []byte(","))...), ']'))
}

// batchOut keeps a batched request's answer; what comes before it goes to
// the session's stream.
type batchOut struct {
	sess   *downSession
	answer []byte
}

func (o *batchOut) send(msg []byte) error {
	if o.sess != nil {
		return o.sess.push(msg)
	}
	return nil
}
func (o *batchOut) final(msg []byte, _ int)   { o.answer = msg }
func (o *batchOut) finalParts(parts [][]byte) { o.answer = bytes.Join(parts, nil) }

// initialize opens a legacy session.
func (h *Hub) initialize(v *view, w http.ResponseWriter, r *http.Request, m *message) {
	s, result, rerr := h.openSession(v, m, false)
	if rerr != nil {
		writeRPCError(w, http.StatusOK, m.id, rerr)
		return
	}
	w.Header().Set("Mcp-Session-Id", s.id)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(appendResult(nil, m.id, result))
}

// openSession makes a legacy session from an initialize request, and its
// answer.
func (h *Hub) openSession(v *view, m *message, sse bool) (*downSession, []byte, *rpcError) {
	var p struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ClientInfo      json.RawMessage `json:"clientInfo"`
	}
	if err := json.Unmarshal(m.params, &p); err != nil {
		return nil, nil, newError(codeInvalidParams, "initialize: "+err.Error())
	}
	version := p.ProtocolVersion
	if !containsString(legacyVersions, version) {
		// Answer with the newest the hub speaks; the client decides
		// (2025-11-25, basic/lifecycle "Version Negotiation").
		version = versionLegacy
	}
	s := &downSession{id: randomID(), view: v, sse: sse, done: make(chan struct{})}
	s.client = &caller{version: version, caps: parseClientCaps(p.Capabilities), info: p.ClientInfo, sess: s}
	s.touch()
	if old := h.sessions.add(s); old != nil {
		old.close()
	}
	return s, v.initializeResult(version), nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// legacyPost serves a message POSTed within a legacy session.
func (h *Hub) legacyPost(s *downSession, w http.ResponseWriter, r *http.Request, body []byte) {
	if body[0] == '[' {
		h.batch(s.view, w, r, body)
		return
	}
	m, err := parseMessage(body)
	if err != nil {
		// Within a session, a request the hub can name gets its error
		// with its id (JSON-RPC 2.0 §5).
		if id, ok := rawjson.Get(body, "id"); ok && len(id) > 0 && validID(id) {
			writeRPCError(w, http.StatusOK, id, newError(codeInvalidRequest, "Invalid Request: "+err.Error()))
			return
		}
		writeRPCError(w, http.StatusBadRequest, nil, newError(codeInvalidRequest, err.Error()))
		return
	}
	if !m.isRequest() {
		h.legacyMessage(s, m, w)
		return
	}
	h.legacyRequest(r.Context(), s, m, &httpOut{w: w, sess: s})
}

// legacyMessage handles a notification or a response of a legacy client.
func (h *Hub) legacyMessage(s *downSession, m *message, w http.ResponseWriter) {
	switch {
	case m.isResponse():
		s.answer(m)
	case m.method == "notifications/cancelled":
		if id, ok := rawjson.Get(m.params, "requestId"); ok {
			s.cancelCall(id)
		}
	case m.method == "notifications/roots/list_changed":
		s.view.rootsChanged(s)
	}
	if w != nil {
		w.WriteHeader(http.StatusAccepted)
	}
}

// legacyRequest serves a request of a legacy client. A legacy client's
// disconnection does not cancel a request whose stream it can resume
// (2025-11-25 transports: it sends notifications/cancelled for that, and
// the rest of the stream waits for it); before the first event, there is
// nothing to resume, and a client that hangs up has given up.
func (h *Hub) legacyRequest(conn context.Context, s *downSession, m *message, o out) {
	ctx, cancel := context.WithCancel(h.serveCtx())
	defer cancel()
	defer s.track(m.id, cancel)()
	if ho, ok := o.(*httpOut); ok {
		stop := context.AfterFunc(conn, func() {
			if !ho.resumable() {
				cancel()
			}
		})
		defer stop()
	}
	s.view.dispatch(ctx, s.client, m, o)
}

// modernPost serves a 2026-07-28 request: every one self-described, no
// session; its headers checked against its body (basic/transports/
// streamable-http "Server Validation").
func (h *Hub) modernPost(v *view, w http.ResponseWriter, r *http.Request, m *message) {
	version := r.Header.Get("Mcp-Protocol-Version")
	metaVersion := m.modernMeta()
	if m.isResponse() {
		w.WriteHeader(http.StatusAccepted) // 2026-07-28 clients answer nothing; ignore it
		return
	}
	if m.isNotification() {
		// go-sdk's client sends notifications/cancelled when it gives up on
		// a request, besides closing its stream (accepted as its own server
		// does: 202).
		if m.method == "notifications/cancelled" {
			if id, ok := rawjson.Get(m.params, "requestId"); ok {
				h.modernCalls.cancel(v, id)
			}
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if method := r.Header.Get("Mcp-Method"); method != "" && method != m.method {
		writeRPCError(w, http.StatusBadRequest, m.id, newError(codeHeaderMismatch, "Header mismatch: Mcp-Method header value '"+method+"' does not match body value '"+m.method+"'"))
		return
	}
	if removedInModern[m.method] {
		writeRPCError(w, http.StatusNotFound, m.id, newError(codeMethodNotFound, m.method+" does not exist in MCP 2026-07-28"))
		return
	}
	if metaVersion == "" {
		writeRPCError(w, http.StatusBadRequest, m.id, newError(codeInvalidParams, "missing _meta "+metaProtocolVersion))
		return
	}
	if version != "" && version != metaVersion {
		writeRPCError(w, http.StatusBadRequest, m.id, newError(codeHeaderMismatch, "Header mismatch: MCP-Protocol-Version header '"+version+"' does not match _meta "+metaProtocolVersion+" '"+metaVersion+"'"))
		return
	}
	if metaVersion != versionModern {
		e := newError(codeUnsupportedVersion, "Unsupported protocol version")
		data, _ := json.Marshal(map[string]any{"supported": supportedVersions, "requested": metaVersion})
		e.Data = data
		writeRPCError(w, http.StatusBadRequest, m.id, e)
		return
	}
	if name := mcpName(m); name != "" || nameHeaderMethods[m.method] {
		got, ok := decodeHeaderValue(r.Header.Get("Mcp-Name"))
		switch {
		case r.Header.Get("Mcp-Name") == "" && r.Header.Get("Mcp-Method") != "":
			writeRPCError(w, http.StatusBadRequest, m.id, newError(codeHeaderMismatch, "missing required Mcp-Name header for "+m.method))
			return
		case r.Header.Get("Mcp-Name") != "" && (!ok || got != name):
			writeRPCError(w, http.StatusBadRequest, m.id, newError(codeHeaderMismatch, "Header mismatch: Mcp-Name header value does not match body value '"+name+"'"))
			return
		}
	}
	meta := m.meta()
	capsRaw, ok := rawjson.Get(meta, metaClientCaps)
	if !ok {
		writeRPCError(w, http.StatusBadRequest, m.id, newError(codeInvalidParams, "missing _meta "+metaClientCaps))
		return
	}
	c := &caller{modern: true, version: versionModern, caps: parseClientCaps(capsRaw)}
	c.info, _ = rawjson.Get(meta, metaClientInfo)
	c.logLevel, _ = rawjson.String(meta, metaLogLevel)
	if c.logLevel != "" {
		if _, known := logLevels[c.logLevel]; !known {
			writeRPCError(w, http.StatusBadRequest, m.id, newError(codeInvalidParams, "unknown log level "+strconv.Quote(c.logLevel)))
			return
		}
	}
	// Closing the response stream cancels the request (2026-07-28
	// cancellation); so does go-sdk's notifications/cancelled.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer h.modernCalls.track(v, m.id, cancel)()
	v.dispatch(ctx, c, m, &httpOut{w: w})
}

// removedInModern are the methods 2026-07-28 removed (changelog, "Major
// changes" 5).
var removedInModern = map[string]bool{"ping": true, "logging/setLevel": true, "resources/subscribe": true, "resources/unsubscribe": true}

// nameHeaderMethods need Mcp-Name.
var nameHeaderMethods = map[string]bool{"tools/call": true, "prompts/get": true, "resources/read": true}

// mcpName is what Mcp-Name mirrors of a request.
func mcpName(m *message) string {
	switch m.method {
	case "tools/call", "prompts/get":
		return m.param("name")
	case "resources/read":
		return m.param("uri")
	}
	return ""
}

// decodeHeaderValue reads an Mcp-Name or Mcp-Param value: as it is, or in
// the Base64 sentinel form =?base64?...?= (basic/transports/streamable-http
// "Value Encoding").
func decodeHeaderValue(v string) (string, bool) {
	if inner, ok := strings.CutPrefix(v, "=?base64?"); ok {
		if inner, ok = strings.CutSuffix(inner, "?="); ok {
			b, err := base64.StdEncoding.DecodeString(inner)
			return string(b), err == nil
		}
	}
	return v, true
}

// encodeHeaderValue is decodeHeaderValue's inverse: plain visible ASCII as
// it is, anything else in the sentinel form.
func encodeHeaderValue(v string) string {
	plain := v != "" && v[0] != ' ' && v[len(v)-1] != ' ' && !(strings.HasPrefix(v, "=?base64?") && strings.HasSuffix(v, "?="))
	for i := 0; plain && i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c > 0x7e {
			plain = false
		}
	}
	if plain {
		return v
	}
	return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
}

// modernCallTable finds a 2026-07-28 request in flight for go-sdk's
// notifications/cancelled: there is no session, so a request is known by
// its view and id.
type modernCallTable struct {
	mu    sync.Mutex // guards calls
	calls map[modernCallKey]map[*func()]struct{}
}

type modernCallKey struct {
	v  *view
	id string
}

func (t *modernCallTable) track(v *view, id []byte, cancel func()) (untrack func()) {
	k := modernCallKey{v, idKey(id)}
	entry := &cancel
	t.mu.Lock()
	if t.calls == nil {
		t.calls = map[modernCallKey]map[*func()]struct{}{}
	}
	if t.calls[k] == nil {
		t.calls[k] = map[*func()]struct{}{}
	}
	t.calls[k][entry] = struct{}{}
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		delete(t.calls[k], entry)
		if len(t.calls[k]) == 0 {
			delete(t.calls, k)
		}
		t.mu.Unlock()
	}
}

// cancel cancels the request with id on v, when exactly one is in flight:
// two clients may use the same id, and a guess would cancel the wrong one.
func (t *modernCallTable) cancel(v *view, id []byte) {
	t.mu.Lock()
	var only *func()
	if set := t.calls[modernCallKey{v, idKey(id)}]; len(set) == 1 {
		for e := range set {
			only = e
		}
	}
	t.mu.Unlock()
	if only != nil {
		(*only)()
	}
}

// getStream serves a legacy session's GET: the standalone stream, or the
// rest of a stream the client lost, with Last-Event-ID.
func (h *Hub) getStream(v *view, w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" || isModern(r.Header.Get("Mcp-Protocol-Version")) {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "2026-07-28 has no GET stream: use subscriptions/listen; a 2025 client needs its Mcp-Session-Id")
		return
	}
	s := h.sessions.get(sid)
	if s == nil || s.view != v || s.closed.Load() {
		writeRPCError(w, http.StatusNotFound, nil, newError(codeInvalidRequest, "no such session: initialize a new one"))
		return
	}
	s.touch()
	var st *stream
	var after int64
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		sidPart, seqPart, _ := strings.Cut(last, "_")
		after, _ = strconv.ParseInt(seqPart, 10, 64)
		s.mu.Lock()
		st = s.streams[sidPart]
		s.mu.Unlock()
		if st == nil {
			writeRPCError(w, http.StatusNotFound, nil, newError(codeInvalidRequest, "that stream is over and forgotten"))
			return
		}
	} else {
		s.mu.Lock()
		if s.get == nil {
			s.nextStr++
			s.get = newStream(strconv.Itoa(s.nextStr))
			if s.streams == nil {
				s.streams = map[string]*stream{}
			}
			s.streams[s.get.id] = s.get
		}
		st = s.get
		s.mu.Unlock()
		after = -1 // a new GET gets only what comes from now on
		st.mu.Lock()
		after = st.seq
		st.mu.Unlock()
	}
	sw := startSSE(w, nil)
	sw.raw("retry: " + strconv.Itoa(retryMillis) + "\n\n")
	keepStream(r.Context(), st, sw, st.attach(sw, after))
}

// keepStream keeps a stream's connection until the stream is done or the client
// goes, with a keep-alive comment now and then (proxies and clients close
// quiet connections).
func keepStream(ctx context.Context, st *stream, sw *sseWriter, done <-chan struct{}) {
	defer st.detach(sw)
	keepAlive := time.NewTicker(25 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			st.mu.Lock()
			err := sw.raw(": keep-alive\n\n")
			st.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// deleteSession ends a legacy session at its client's request.
func (h *Hub) deleteSession(v *view, w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "DELETE ends a 2025 session: send its Mcp-Session-Id")
		return
	}
	s := h.sessions.get(sid)
	if s == nil || s.view != v {
		writeRPCError(w, http.StatusNotFound, nil, newError(codeInvalidRequest, "no such session"))
		return
	}
	h.sessions.remove(sid)
	s.close()
	w.WriteHeader(http.StatusNoContent)
}

// serveSSE opens a 2024-11-05 HTTP+SSE session: the stream, whose first
// event names where to POST.
func (h *Hub) serveSSE(w http.ResponseWriter, r *http.Request) {
	v := h.viewFor(r)
	if v == nil {
		h.notFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "the SSE endpoint takes GET; POST messages to the endpoint its first event names")
		return
	}
	s := &downSession{id: randomID(), view: v, sse: true, done: make(chan struct{})}
	s.client = &caller{version: "2024-11-05", sess: s}
	s.touch()
	st := newStream("") // no event ids: the 2024-11-05 transport does not resume
	s.get = st
	if old := h.sessions.add(s); old != nil {
		old.close()
	}
	defer func() {
		h.sessions.remove(s.id)
		s.close()
	}()
	sw := startSSE(w, nil)
	endpoint := "/messages?sessionId=" + s.id
	if name := r.PathValue("name"); name != "" {
		endpoint = "/sse/" + name + "/messages?sessionId=" + s.id
	}
	if b := h.store.Current().BaseURL(); b != "" {
		endpoint = b + endpoint
	}
	if sw.raw("event: endpoint\ndata: "+endpoint+"\n\n") != nil {
		return
	}
	keepStream(r.Context(), st, sw, st.attach(sw, 0))
}

// serveMessages takes a message POSTed to a 2024-11-05 session; everything
// the hub answers goes on the session's stream.
func (h *Hub) serveMessages(w http.ResponseWriter, r *http.Request) {
	v := h.viewFor(r)
	if v == nil {
		h.notFound(w, r)
		return
	}
	sid := r.URL.Query().Get("sessionId")
	if sid == "" {
		writeError(w, http.StatusBadRequest, "missing sessionId: POST to the endpoint the SSE stream's first event names")
		return
	}
	s := h.sessions.get(sid)
	if s == nil || s.view != v || !s.sse || s.closed.Load() {
		writeError(w, http.StatusNotFound, "no such session: open the SSE stream again")
		return
	}
	body, ok := h.readMessageBody(w, r)
	if !ok {
		return
	}
	s.touch()
	m, err := parseMessage(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
	switch {
	case m.method == "initialize":
		var p struct {
			ProtocolVersion string          `json:"protocolVersion"`
			Capabilities    json.RawMessage `json:"capabilities"`
			ClientInfo      json.RawMessage `json:"clientInfo"`
		}
		_ = json.Unmarshal(m.params, &p)
		version := p.ProtocolVersion
		if !containsString(legacyVersions, version) {
			version = versionLegacy
		}
		s.client = &caller{version: version, caps: parseClientCaps(p.Capabilities), info: p.ClientInfo, sess: s}
		_ = s.push(appendResult(nil, m.id, v.initializeResult(version)))
	case !m.isRequest():
		h.legacyMessage(s, m, nil)
	default:
		h.wg.Go(func() { h.legacyRequest(context.Background(), s, m, sessionOut{s}) })
	}
}
