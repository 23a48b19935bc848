package hub

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcptray/mcptray/hub/internal/rope"
)

// Timing of the streamable HTTP link.
const (
	// resumeDelay is the first wait before a GET that resumes a broken
	// stream when the server gave no retry field; it doubles per attempt.
	resumeDelay = time.Second
	// maxResumeAttempts bounds the resumptions of one request's stream
	// that bring nothing new (engine.md: 3 attempts).
	maxResumeAttempts = 3
	// getBackoffMax caps the wait between reopenings of the GET stream.
	getBackoffMax = 30 * time.Second
	// drainGrace is how long a request's stream may stay open after its
	// response before the link closes it. A server SHOULD end the stream
	// after the response (2025-11-25 and 2026-07-28 streamable HTTP); one
	// that does lets the connection be reused.
	drainGrace = 20 * time.Millisecond
	// deleteTimeout bounds the DELETE that ends a session on close.
	deleteTimeout = 2 * time.Second
)

// httpLinkConfig is what an httpLink is made of.
type httpLinkConfig struct {
	URL     string
	Headers map[string]string // from the settings, on every request
	// Client sends every request: the hub's (the connection pool, OAuth
	// inside). The link adds no timeout: calls end with their ctx, streams
	// with the link.
	Client *http.Client
	Log    *slog.Logger
	// MaxMessage bounds one message (a JSON body, one event's data);
	// maxMessage when 0.
	MaxMessage int
}

// httpLink is the streamable HTTP transport, both eras: 2025-03-26 to
// 2025-11-25 (a session, the GET stream, resumable streams) when a send's
// version is older than 2026-07-28, and 2026-07-28 (no session; Mcp-Method,
// Mcp-Name and Mcp-Param-* headers; no resumption) otherwise.
//
// Requests run on the caller's goroutine: send reads the answer itself,
// with no goroutine per message. The link's one goroutine of its own is the
// GET stream's (openGET); close stops it and waits.
type httpLink struct {
	url     string
	u       *url.URL // url parsed; shared by every request, never changed
	client  *http.Client
	log     *slog.Logger
	max     int
	headers http.Header // fixed headers of every POST; never changed after newHTTPLink
	getHdrs http.Header // fixed headers of every GET

	sink   sink
	ctx    context.Context // the link's life: start's ctx, ended by close
	cancel context.CancelFunc

	// Tuning, fixed at construction; tests shorten them.
	resumeDelay time.Duration
	drainGrace  time.Duration

	// mu guards the fields below it.
	mu        sync.Mutex
	session   string   // Mcp-Session-Id; "" for none
	sidHdr    []string // session as a header value (fixedValue)
	version   string   // the negotiated version, for the link's own requests
	closed    bool
	streams   map[io.Closer]struct{} // bodies being read, closed by close
	getActive bool

	wg       sync.WaitGroup // the GET stream's goroutine
	lostCh   chan struct{}
	lostOnce sync.Once
}

var _ link = (*httpLink)(nil)

// fixedValue returns a header value slice that nothing can append to in
// place (cap == len), so one can be shared by every request.
func fixedValue(v string) []string { s := []string{v}; return s[:1:1] }

func newHTTPLink(cfg httpLinkConfig) (*httpLink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("streamable HTTP: the URL must be absolute http or https")
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = maxMessage
	}
	l := &httpLink{
		url:         cfg.URL,
		u:           u,
		client:      cfg.Client,
		log:         cfg.Log,
		max:         cfg.MaxMessage,
		headers:     make(http.Header, len(cfg.Headers)+2),
		getHdrs:     make(http.Header, len(cfg.Headers)+1),
		resumeDelay: resumeDelay,
		drainGrace:  drainGrace,
		streams:     map[io.Closer]struct{}{},
		lostCh:      make(chan struct{}),
	}
	for k, v := range cfg.Headers {
		k = textproto.CanonicalMIMEHeaderKey(k)
		l.headers[k] = fixedValue(v)
		l.getHdrs[k] = fixedValue(v)
	}
	// Set after the settings' headers: a configured Accept or Content-Type
	// must not break the transport.
	l.headers["Content-Type"] = fixedValue("application/json")
	l.headers["Accept"] = fixedValue("application/json, text/event-stream")
	l.getHdrs["Accept"] = fixedValue("text/event-stream")
	return l, nil
}

// start makes the link ready: streamable HTTP has nothing to connect. ctx
// bounds the GET stream and the link's own requests.
func (l *httpLink) start(ctx context.Context, to sink) error {
	lctx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		cancel()
		return errLinkClosed
	}
	l.sink, l.ctx, l.cancel = to, lctx, cancel
	return nil
}

func (l *httpLink) lost() <-chan struct{} { return l.lostCh }

// sessionID returns the session id the server gave at initialize, or "".
func (l *httpLink) sessionID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.session
}

// setVersion tells the link the negotiated protocol version, which it sends
// on the requests it makes on its own: the GET stream, resumptions, the
// DELETE. (A POST carries its sendInfo.version.)
func (l *httpLink) setVersion(v string) {
	l.mu.Lock()
	l.version = v
	l.mu.Unlock()
}

// send POSTs msg and, for a request, reads the answer to its response.
//
// For an initialize (h.method, before 2026-07-28) it sends no session id
// and takes the one the answer gives, replacing the old one: a new session
// starts without one (2025-11-25, "Session Management", 4). A 404 to a
// request that carried a session id is errSessionExpired, and the id is
// dropped. Any other status outside 2xx is an *httpStatusError. 202 (or an
// empty body) means accepted; for a request, its response will come on
// another stream. Errors of the HTTP client (oauthflow's
// *AuthorizationError among them) are returned as they are.
func (l *httpLink) send(ctx context.Context, msg []byte, h sendInfo) error {
	l.mu.Lock()
	if l.closed || l.ctx == nil {
		l.mu.Unlock()
		return errLinkClosed
	}
	modern := isModern(h.version)
	initialize := !modern && h.method == "initialize"
	sid, sidHdr := l.session, l.sidHdr
	if modern || initialize {
		sid, sidHdr = "", nil
	}
	l.mu.Unlock()

	req, err := l.newPost(ctx, msg)
	if err != nil {
		return err
	}
	hdr := req.Header
	for k, v := range l.headers {
		hdr[k] = v
	}
	if h.version != "" {
		hdr["Mcp-Protocol-Version"] = headerOf(h.version)
	}
	if sid != "" {
		hdr["Mcp-Session-Id"] = sidHdr
	}
	if modern {
		// streamable-http.mdx (2026-07-28), "Standard Request Headers" and
		// "Custom Headers from Tool Parameters".
		if h.method != "" {
			hdr["Mcp-Method"] = headerOf(h.method)
		}
		if h.name != "" {
			hdr["Mcp-Name"] = []string{headerValue(h.name)}
		}
		for name, v := range h.params {
			hdr.Set("Mcp-Param-"+name, headerValue(v))
		}
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return l.doError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return l.statusError(resp, sid)
	}
	if initialize {
		l.setSession(resp.Header.Get("Mcp-Session-Id"))
	}
	return l.readAnswer(ctx, resp, h.id, !modern)
}

// newPost makes a POST of msg with room for the link's headers. It shares
// l.u, which nothing on the way changes (a redirect makes a new URL;
// Request.Clone copies it).
func (l *httpLink) newPost(ctx context.Context, msg []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "", nil)
	if err != nil {
		return nil, err
	}
	req.URL, req.Host = l.u, l.u.Host
	req.Header = make(http.Header, len(l.headers)+4)
	req.Body, req.ContentLength = newMsgBody(msg), int64(len(msg))
	// GetBody lets the client send it again: a 307/308 redirect, the OAuth
	// transport's retry after a 401.
	req.GetBody = func() (io.ReadCloser, error) { return newMsgBody(msg), nil }
	return req, nil
}

// msgBody is a request body over a message's bytes.
type msgBody struct{ bytes.Reader }

func newMsgBody(msg []byte) *msgBody {
	b := &msgBody{}
	b.Reset(msg)
	return b
}

func (*msgBody) Close() error { return nil }

// commonHeaders are header values sent on most requests, shared so that
// sending one costs no allocation: protocol versions and methods.
var commonHeaders = func() map[string][]string {
	m := map[string][]string{}
	for _, v := range supportedVersions {
		m[v] = fixedValue(v)
	}
	for _, v := range []string{"tools/call", "tools/list", "prompts/get", "prompts/list", "resources/read", "resources/list",
		"resources/templates/list", "completion/complete", "server/discover", "subscriptions/listen", "notifications/cancelled"} {
		m[v] = fixedValue(v)
	}
	return m
}()

func headerOf(v string) []string {
	if s, ok := commonHeaders[v]; ok {
		return s
	}
	return []string{v}
}

// setSession records the session id of an initialize answer ("" for none).
func (l *httpLink) setSession(sid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.session, l.sidHdr = sid, nil
	if sid != "" {
		l.sidHdr = fixedValue(sid)
	}
}

// doError turns an error of the HTTP client into the link's: the caller's
// ctx error when it ended, the client's own error otherwise (without
// url.Error's wrapping, whose text repeats the URL).
func (l *httpLink) doError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusError reads a bounded part of a non-2xx answer's body into an
// *httpStatusError; a 404 to a request that carried a session id is
// errSessionExpired too.
func (l *httpLink) statusError(resp *http.Response, sid string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	se := &httpStatusError{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: body}
	if resp.StatusCode == http.StatusNotFound && sid != "" {
		l.mu.Lock()
		if l.session == sid {
			l.session, l.sidHdr = "", nil
		}
		l.mu.Unlock()
		return fmt.Errorf("%w: %w", errSessionExpired, se)
	}
	return se
}

// readAnswer reads a 2xx answer to a POST.
func (l *httpLink) readAnswer(ctx context.Context, resp *http.Response, id json.RawMessage, legacy bool) error {
	switch mediaType(resp.Header.Get("Content-Type")) {
	case "text/event-stream":
		return l.readCallStream(ctx, resp, id, legacy)
	case "application/json":
		return l.readJSON(ctx, resp, id)
	}
	// 202 Accepted, or a body of no type the link knows: fine when empty.
	defer resp.Body.Close()
	var one [1]byte
	n, _ := io.ReadFull(resp.Body, one[:])
	if n == 0 || resp.StatusCode == http.StatusAccepted {
		return nil
	}
	return fmt.Errorf("the server answered HTTP %d with content type %q", resp.StatusCode, bodyPreview([]byte(resp.Header.Get("Content-Type"))))
}

// readJSON reads a JSON answer: one message, or a batch, each delivered.
func (l *httpLink) readJSON(ctx context.Context, resp *http.Response, via json.RawMessage) error {
	defer resp.Body.Close()
	body, large, err := readBounded(resp.Body, resp.ContentLength, l.max)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if large != nil {
		l.sink.deliverLarge(large, via)
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if !eachMessage(body, func(m []byte) { l.sink.deliver(m, via) }) {
		return fmt.Errorf("the server answered with a body that is not JSON-RPC: %s", bodyPreview(body))
	}
	return nil
}

// readBounded reads a whole body of at most max bytes: in one allocation
// when its length is known (a rope of that one block, when it is over
// largeMessage); else in a buffer up to ropeFrom, and in a rope beyond,
// whose blocks are never copied. A body up to largeMessage comes back as
// one buffer.
func readBounded(r io.Reader, length int64, max int) ([]byte, *rope.Rope, error) {
	if length > int64(max) {
		return nil, nil, tooLarge(max)
	}
	if length >= 0 {
		buf := make([]byte, length)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, nil, err
		}
		if length > largeMessage {
			return nil, rope.Of(buf), nil
		}
		return buf, nil, nil
	}
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= ropeFrom {
				return readRope(buf, r, max)
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > max {
			return nil, nil, tooLarge(max)
		}
		if err == io.EOF {
			return buf, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
	}
}

// readRope reads the rest of a body after head into a rope.
func readRope(head []byte, r io.Reader, max int) ([]byte, *rope.Rope, error) {
	big := &rope.Rope{}
	big.Write(head)
	if _, err := big.ReadFrom(io.LimitReader(r, int64(max-len(head)+1))); err != nil {
		return nil, nil, err
	}
	if big.Len() > max {
		return nil, nil, tooLarge(max)
	}
	if big.Len() <= largeMessage {
		return big.Bytes(), nil, nil
	}
	return nil, big, nil
}

// track registers a body being read so that close can end it; it reports
// false when the link is closed.
func (l *httpLink) track(body io.Closer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.streams[body] = struct{}{}
	return true
}

func (l *httpLink) untrack(body io.Closer) {
	l.mu.Lock()
	delete(l.streams, body)
	l.mu.Unlock()
}

// readCallStream reads a request's SSE answer, delivering each message with
// via = the request's id, until the response. A legacy stream that breaks
// after the server gave event ids is resumed with GET and Last-Event-ID
// (2025-11-25, "Resumability and Redelivery"), waiting the server's retry
// time, at most maxResumeAttempts times in a row without a new event.
func (l *httpLink) readCallStream(ctx context.Context, resp *http.Response, id json.RawMessage, legacy bool) error {
	er := newEventReader(resp.Body, l.max)
	defer er.release()
	body := resp.Body
	fruitless := 0
	for {
		if !l.track(body) {
			body.Close()
			return errLinkClosed
		}
		seen := er.lastID
		done, err := l.pump(er, id)
		if done {
			l.drain(er, body, id)
			l.untrack(body)
			body.Close()
			return nil
		}
		l.untrack(body)
		body.Close()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrResponseTooLarge):
			return err
		case l.isClosed():
			return errLinkClosed
		case id == nil:
			return nil // a notification's stream (unusual): read to its end
		case !legacy || er.lastID == "":
			if err != nil && err != io.EOF {
				return fmt.Errorf("%w: %w", errNoResponse, err)
			}
			return errNoResponse
		}
		if er.lastID != seen {
			fruitless = 0
		}
		fruitless++
		if fruitless > maxResumeAttempts {
			return fmt.Errorf("%w: %d resumptions brought nothing new", errNoResponse, maxResumeAttempts)
		}
		wait := er.retry
		if wait <= 0 {
			wait = l.resumeDelay << (fruitless - 1)
		}
		l.log.Debug("resuming a broken stream", "after", wait, "err", err)
		if !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
		next, err := l.get(ctx, er.lastID)
		if err != nil {
			return err
		}
		if mediaType(next.Header.Get("Content-Type")) != "text/event-stream" {
			next.Body.Close()
			return fmt.Errorf("%w: the server did not resume the stream", errNoResponse)
		}
		body = next.Body
		er.reset(body)
	}
}

// pump reads events and delivers their messages until the response to id
// (done), the stream's end or an error.
func (l *httpLink) pump(er *eventReader, id json.RawMessage) (done bool, err error) {
	for {
		ev, err := er.next()
		if err != nil {
			return false, err
		}
		if !ev.isMessage() {
			continue
		}
		if ev.tooLarge {
			return false, tooLarge(l.max)
		}
		if ev.big != nil {
			if l.sink.deliverLarge(ev.big, id) {
				return true, nil
			}
			continue
		}
		if len(ev.data) == 0 {
			continue // a priming event (2025-11-25): an id, no message
		}
		msg := bytes.Clone(ev.data)
		ok := eachMessage(msg, func(m []byte) {
			l.sink.deliver(m, id)
			if responseTo(m, id) {
				done = true
			}
		})
		if !ok {
			l.log.Debug("skipping an event that is not JSON-RPC", "data", bodyPreview(msg))
		}
		if done {
			return true, nil
		}
	}
}

// drain reads what follows a response on its stream, for a short while,
// so that a server that ends the stream right after lets the connection be
// reused; whatever messages come meanwhile are delivered too.
func (l *httpLink) drain(er *eventReader, body io.Closer, id json.RawMessage) {
	if er.eof() {
		return
	}
	t := time.AfterFunc(l.drainGrace, func() { body.Close() })
	defer t.Stop()
	for {
		ev, err := er.next()
		if err != nil {
			return
		}
		switch {
		case !ev.isMessage() || ev.tooLarge:
		case ev.big != nil:
			l.sink.deliverLarge(ev.big, id)
		case len(ev.data) > 0:
			eachMessage(bytes.Clone(ev.data), func(m []byte) { l.sink.deliver(m, id) })
		}
	}
}

// get opens a GET stream (the 2025 standalone stream, or a resumption when
// lastID is set) with the link's session and version.
func (l *httpLink) get(ctx context.Context, lastID string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range l.getHdrs {
		req.Header[k] = v
	}
	l.mu.Lock()
	sid, version := l.session, l.version
	l.mu.Unlock()
	if version != "" {
		req.Header["Mcp-Protocol-Version"] = []string{version}
	}
	if sid != "" {
		req.Header["Mcp-Session-Id"] = []string{sid}
	}
	if lastID != "" {
		req.Header["Last-Event-Id"] = []string{lastID}
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, l.doError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, l.statusError(resp, sid)
	}
	return resp, nil
}

// isNoGETStream reports whether err is a 405 to a GET: the server offers
// no GET stream (2025-11-25, "Listening for Messages from the Server", 3).
func isNoGETStream(err error) bool {
	var se *httpStatusError
	return errors.As(err, &se) && se.Status == http.StatusMethodNotAllowed
}

// openGET opens the 2025 GET stream (2025-11-25, "Listening for Messages
// from the Server"), after the session layer's initialize and setVersion:
// its messages go to deliver with via nil. It returns once the server
// answered the first GET, or ctx ended: nil when the stream is open or the
// server offers none (405), the error otherwise (errSessionExpired among
// them). An open stream is reopened with Last-Event-ID when it drops,
// after the server's retry time or a backoff (1 s doubling to 30 s), until
// the link closes or the server refuses (a 4xx other than 408 and 429).
// The goroutine is the link's: close stops and waits for it.
func (l *httpLink) openGET(ctx context.Context) error {
	l.mu.Lock()
	if l.closed || l.ctx == nil {
		l.mu.Unlock()
		return errLinkClosed
	}
	if l.getActive {
		l.mu.Unlock()
		return nil
	}
	l.getActive = true
	l.wg.Add(1)
	l.mu.Unlock()
	first := make(chan error, 1)
	go func() {
		defer l.wg.Done()
		defer func() {
			l.mu.Lock()
			l.getActive = false
			l.mu.Unlock()
		}()
		l.getLoop(first)
	}()
	select {
	case err := <-first:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// getLoop runs the GET stream: first gets the outcome of the first GET.
func (l *httpLink) getLoop(first chan<- error) {
	ctx := l.ctx
	var er *eventReader
	defer func() {
		if er != nil {
			er.release()
		}
	}()
	backoff := l.resumeDelay
	for attempt := 0; ; attempt++ {
		lastID := ""
		if er != nil {
			lastID = er.lastID
		}
		resp, err := l.get(ctx, lastID)
		if attempt == 0 {
			if isNoGETStream(err) {
				err = nil
				l.log.Debug("the server offers no GET stream")
			}
			first <- err
			if resp == nil {
				return
			}
		}
		if err != nil {
			if ctx.Err() != nil || !retryableGET(err) {
				l.log.Debug("the GET stream ended", "err", err)
				return
			}
		} else if mediaType(resp.Header.Get("Content-Type")) != "text/event-stream" {
			resp.Body.Close()
			l.log.Debug("the server answered the GET stream with something else", "type", resp.Header.Get("Content-Type"))
			return
		} else {
			if er == nil {
				er = newEventReader(resp.Body, l.max)
			} else {
				er.reset(resp.Body)
			}
			if !l.track(resp.Body) {
				resp.Body.Close()
				return
			}
			if l.readGET(er) {
				backoff = l.resumeDelay
			}
			l.untrack(resp.Body)
			resp.Body.Close()
		}
		wait := backoff
		if er != nil && er.retry > 0 {
			wait = er.retry
		}
		backoff = min(2*backoff, getBackoffMax)
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// readGET delivers the GET stream's messages until it ends; it reports
// whether any event came.
func (l *httpLink) readGET(er *eventReader) (progress bool) {
	for {
		ev, err := er.next()
		if err != nil {
			return progress
		}
		progress = true
		if !ev.isMessage() {
			continue
		}
		if ev.tooLarge {
			l.log.Warn("skipping a message of the GET stream over the size bound", "bound", l.max)
			continue
		}
		if ev.big != nil {
			l.sink.deliverLarge(ev.big, nil)
			continue
		}
		if len(ev.data) == 0 {
			continue
		}
		msg := bytes.Clone(ev.data)
		if !eachMessage(msg, func(m []byte) { l.sink.deliver(m, nil) }) {
			l.log.Debug("skipping an event that is not JSON-RPC", "data", bodyPreview(msg))
		}
	}
}

// retryableGET reports whether the GET stream is worth reopening after err:
// network errors, 5xx, 408 and 429 are; refusals are not.
func retryableGET(err error) bool {
	var se *httpStatusError
	if !errors.As(err, &se) {
		return !errors.Is(err, errSessionExpired)
	}
	return se.Status >= 500 || se.Status == http.StatusRequestTimeout || se.Status == http.StatusTooManyRequests
}

func (l *httpLink) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// close ends the GET stream and the streams being read, DELETEs the
// session (2025-11-25, "Session Management", 5) and waits for the link's
// goroutine. A request still waiting for its answer's headers ends with its
// own ctx.
func (l *httpLink) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	sid, version, cancel := l.session, l.version, l.cancel
	streams := make([]io.Closer, 0, len(l.streams))
	for b := range l.streams {
		streams = append(streams, b)
	}
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	for _, b := range streams {
		b.Close()
	}
	if sid != "" {
		l.deleteSession(sid, version)
	}
	l.wg.Wait()
	l.lostOnce.Do(func() { close(l.lostCh) })
	return nil
}

func (l *httpLink) deleteSession(sid, version string) {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, l.url, nil)
	if err != nil {
		return
	}
	for k, v := range l.getHdrs {
		if k != "Accept" {
			req.Header[k] = v
		}
	}
	req.Header["Mcp-Session-Id"] = []string{sid}
	if version != "" {
		req.Header["Mcp-Protocol-Version"] = []string{version}
	}
	resp, err := l.client.Do(req)
	if err != nil {
		l.log.Debug("ending the session", "err", l.doError(ctx, err))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	l.log.Debug("ended the session", "status", resp.StatusCode)
}

// sleepCtx waits d, or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// mediaType returns the media type of a Content-Type value, lowercased,
// without parameters; without allocating for the usual values.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	switch {
	case strings.EqualFold(ct, "application/json"):
		return "application/json"
	case strings.EqualFold(ct, "text/event-stream"):
		return "text/event-stream"
	}
	return strings.ToLower(ct)
}

// Sentinel of a base64-encoded header value (2026-07-28 streamable HTTP,
// "Value Encoding").
const (
	b64Prefix = "=?base64?"
	b64Suffix = "?="
)

// headerValue encodes a value for Mcp-Name or Mcp-Param-{Name}: as it is
// when it is visible ASCII with inner spaces only, otherwise (non-ASCII,
// control characters, leading or trailing whitespace, or a plain value
// that looks like the sentinel) as =?base64?{UTF-8 in base64}?=.
func headerValue(v string) string {
	if plainHeaderValue(v) && !(strings.HasPrefix(v, b64Prefix) && strings.HasSuffix(v, b64Suffix)) {
		return v
	}
	return b64Prefix + base64.StdEncoding.EncodeToString([]byte(v)) + b64Suffix
}

func plainHeaderValue(v string) bool {
	if v == "" {
		return true
	}
	if v[0] == ' ' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
