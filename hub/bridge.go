package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"syscall"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
	"github.com/mcptray/mcptray/hub/internal/rope"
)

// This file is `mcptray stdio`'s bridge: for a client that only starts
// stdio servers (Claude Desktop's config file), it carries the client's
// messages from its stdin to the hub's streamable HTTP endpoint, and the
// hub's messages back to its stdout, in whichever protocol era the client
// speaks.
//
// It is built on httpLink, the streamable HTTP client of raw messages the
// hub uses for its upstream servers, rather than on a second HTTP client:
// that link already speaks both eras (a 2025 session with its GET stream
// and resumable response streams, 2026-07-28's self-described requests
// with Mcp-Method, Mcp-Name and MCP-Protocol-Version), passes messages
// through as raw bytes, and delivers every message the hub sends on a
// request's stream, its requests to the client among them. The bridge adds
// only what a client's side needs: one goroutine per request, so that the
// client can answer the hub's requests while a call is open, and the
// session's bookkeeping (the version initialize agreed on, the GET stream
// after notifications/initialized, a new session when the hub forgot the
// old one).

// BridgeConfig is what Bridge connects.
type BridgeConfig struct {
	URL     string            // the hub's MCP endpoint: http://127.0.0.1:3000/mcp
	Headers map[string]string // sent with every request: Authorization with a bearer key
	In      io.Reader         // the client's messages, one a line (MCP stdio transport)
	Out     io.Writer         // the hub's messages for the client, one a line
	Log     *slog.Logger      // never stdout, which is the client's
	Client  *http.Client      // http.DefaultClient's transport, without a timeout, when nil
}

// Bridge carries messages between a stdio client (cfg.In and cfg.Out) and
// the hub at cfg.URL until cfg.In ends (the client closes its end, the
// MCP stdio transport's shutdown) or ctx ends. Then it abandons the calls
// in flight, ends the 2025 session, and returns. When ctx ends first, a
// Read of cfg.In that nothing can interrupt may still be waiting: it ends
// with the process.
func Bridge(ctx context.Context, cfg BridgeConfig) error {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	l, err := newHTTPLink(httpLinkConfig{URL: cfg.URL, Headers: cfg.Headers, Client: cfg.Client, Log: cfg.Log})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &bridge{link: l, url: cfg.URL, log: cfg.Log, out: bufio.NewWriter(cfg.Out), calls: map[string]*bridgeCall{}, own: map[string]bool{}}
	if err := l.start(ctx, b); err != nil {
		return err
	}
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() { readErr <- readLines(ctx, cfg.In, lines) }()
	var result error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case line := <-lines:
			b.handleLine(ctx, line)
		case err := <-readErr:
			result = err
			break loop
		}
	}
	cancel()
	b.wg.Wait()
	l.close()
	return result
}

// readLines sends each line of r to lines until r ends (nil) or fails, or
// ctx ends.
func readLines(ctx context.Context, r io.Reader, lines chan<- []byte) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxMessage)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		select {
		case lines <- bytes.Clone(line):
		case <-ctx.Done():
			return nil
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("the client sent a message over %d MiB", maxMessage>>20)
	}
	return sc.Err()
}

// bridge is one client's connection through Bridge.
type bridge struct {
	link *httpLink
	url  string
	log  *slog.Logger

	outMu sync.Mutex // guards out: one whole line at a time, in the order delivered
	out   *bufio.Writer

	// mu guards the fields below it.
	mu      sync.Mutex
	calls   map[string]*bridgeCall // the client's requests in flight, by id
	initMsg []byte                 // the client's initialize, for a new session
	initID  []byte                 // the id of the initialize whose answer is awaited
	version string                 // the 2025 session's version; "" before initialize
	modern  string                 // the version of the client's last self-described request
	gen     int                    // the session's number: each new session counts one
	own     map[string]bool        // ids of the bridge's own requests: their answers stay here

	renewMu sync.Mutex     // one new session at a time
	wg      sync.WaitGroup // the calls' goroutines
}

// bridgeCall is a request of the client in flight.
type bridgeCall struct {
	cancel    context.CancelFunc
	cancelled bool // the client cancelled it: it gets no answer
}

// deliver writes a message of the hub to the client. The answer to an
// initialize tells the session's version first, so that the client's next
// message carries it.
func (b *bridge) deliver(msg []byte, _ json.RawMessage) {
	id, _ := rawjson.Get(msg, "id")
	b.mu.Lock()
	if b.initID != nil && responseTo(msg, b.initID) {
		if res, ok := rawjson.Get(msg, "result"); ok {
			if v, ok := rawjson.String(res, "protocolVersion"); ok {
				b.version = v
				b.link.setVersion(v)
			}
		}
		b.initID = nil
	}
	own := id != nil && b.own[string(id)]
	if own {
		delete(b.own, string(id))
	}
	b.mu.Unlock()
	if !own {
		b.write(msg)
	}
}

// deliverLarge writes a large message of the hub to the client from its
// blocks, without assembling it (it is an answer: the bridge's own
// messages and initialize's are small).
func (b *bridge) deliverLarge(r *rope.Rope, via json.RawMessage) (answered bool) {
	out, err := rope.Scan(r)
	if err != nil {
		b.log.Warn("the hub sent something that is not JSON", "bytes", r.Len())
		return false
	}
	if r.Contains('\n') || r.Contains('\r') {
		b.deliver(r.Bytes(), via) // line breaks between tokens: write compacts it
		return false
	}
	for _, m := range out.Members {
		if string(r.Copy(m.KeyFrom, m.KeyTo)) == `"id"` {
			answered = via != nil && sameID(r.Copy(m.From, m.To), via)
		}
	}
	b.outMu.Lock()
	defer b.outMu.Unlock()
	r.WriteTo(b.out)
	b.out.WriteByte('\n')
	if err := b.out.Flush(); err != nil {
		b.log.Debug("the client stopped reading", "err", err)
	}
	return answered
}

// write writes one message for the client, on a line of its own (a line
// is a message on stdio: whitespace with line breaks is taken out).
func (b *bridge) write(msg []byte) {
	if bytes.ContainsAny(msg, "\r\n") {
		var c bytes.Buffer
		if json.Compact(&c, msg) == nil {
			msg = c.Bytes()
		}
	}
	b.outMu.Lock()
	defer b.outMu.Unlock()
	b.out.Write(msg)
	b.out.WriteByte('\n')
	if err := b.out.Flush(); err != nil {
		b.log.Debug("the client stopped reading", "err", err)
	}
}

// handleLine handles one line of the client: a message, or a batch of them
// (2025-03-26).
func (b *bridge) handleLine(ctx context.Context, line []byte) {
	if !json.Valid(line) {
		b.write(appendError(nil, nil, newError(codeParseError, "Parse error: not JSON").encode()))
		return
	}
	if line[0] == '[' {
		eachElement(line, func(el []byte) { b.handle(ctx, el) })
		return
	}
	b.handle(ctx, line)
}

func (b *bridge) handle(ctx context.Context, raw []byte) {
	m, err := parseMessage(raw)
	if err != nil {
		b.write(appendError(nil, nil, newError(codeInvalidRequest, err.Error()).encode()))
		return
	}
	switch {
	case m.method == "initialize" && m.isRequest():
		// Answered before the next message is read: it must carry the
		// session and version this answer gives.
		b.mu.Lock()
		b.initMsg, b.initID, b.version = m.raw, m.id, ""
		b.mu.Unlock()
		if err := b.link.send(ctx, m.raw, sendInfo{id: m.id, method: m.method}); err != nil {
			b.answerError(m.id, err)
		}
	case m.method == "notifications/initialized":
		b.send(ctx, m)
		// The GET stream carries what the hub sends outside any call
		// (2025-11-25 streamable HTTP, "Listening for Messages from the
		// Server"): list changes, resource updates, its requests.
		if err := b.link.openGET(ctx); err != nil {
			b.log.Debug("no GET stream", "err", err)
		}
	case m.isRequest():
		b.call(ctx, m)
	case m.method == "notifications/cancelled":
		b.send(ctx, m)
		// A 2026-07-28 request is cancelled by closing its stream; a 2025
		// one by the notification, after which its answer is not wanted.
		reqID, _ := rawjson.Get(m.params, "requestId")
		b.mu.Lock()
		if c := b.calls[string(reqID)]; c != nil {
			c.cancelled = true
			c.cancel()
		}
		b.mu.Unlock()
	default: // notifications, and the client's answers to the hub's requests
		b.send(ctx, m)
	}
}

// info is how a message goes over HTTP: a 2026-07-28 request describes its
// version in _meta; anything else belongs to the 2025 session, if any.
//
// A message that does not describe itself, from a client that speaks
// 2026-07-28 without a session (a method that revision removed, such as
// logging/setLevel), goes as that revision's, so that the hub answers it
// as it would over HTTP.
func (b *bridge) info(m *message) sendInfo {
	v := m.modernMeta()
	b.mu.Lock()
	switch {
	case v != "":
		b.modern = v
	case b.version != "":
		v = b.version
	default:
		v = b.modern
	}
	b.mu.Unlock()
	si := sendInfo{method: m.method, version: v}
	if m.isRequest() {
		si.id = m.id
	}
	if isModern(v) {
		si.name = mcpName(m)
	}
	return si
}

// send sends a notification or an answer, which the hub accepts at once.
func (b *bridge) send(ctx context.Context, m *message) {
	if err := b.link.send(ctx, m.raw, b.info(m)); err != nil && ctx.Err() == nil {
		b.log.Warn("a message to mcptray was lost", "method", m.method, "err", err)
	}
}

// call sends a request on a goroutine of its own: its answer may take
// long, and the hub's requests to the client come meanwhile, on the
// request's stream, for the client to answer.
func (b *bridge) call(ctx context.Context, m *message) {
	ctx, cancel := context.WithCancel(ctx)
	c := &bridgeCall{cancel: cancel}
	key := string(m.id)
	b.mu.Lock()
	b.calls[key] = c
	gen := b.gen
	b.mu.Unlock()
	b.wg.Go(func() {
		defer cancel()
		err := b.link.send(ctx, m.raw, b.info(m))
		if errors.Is(err, errSessionExpired) && m.modernMeta() == "" && b.renew(ctx, gen) {
			err = b.link.send(ctx, m.raw, b.info(m))
		}
		b.mu.Lock()
		if b.calls[key] == c {
			delete(b.calls, key)
		}
		b.mu.Unlock()
		if err != nil && !c.cancelled && ctx.Err() == nil {
			b.answerError(m.id, err)
		}
	})
}

// renew starts a new 2025 session with the client's initialize, when the
// hub forgot the one the client has (it restarted): the client goes on as
// if nothing happened, though what it set in the old session (log level,
// subscriptions) is gone. It reports whether there is a session newer than
// gen.
func (b *bridge) renew(ctx context.Context, gen int) bool {
	b.renewMu.Lock()
	defer b.renewMu.Unlock()
	b.mu.Lock()
	if b.gen != gen {
		b.mu.Unlock()
		return true // another call renewed it meanwhile
	}
	init := b.initMsg
	id := []byte(strconv.Quote("mcptray-bridge-" + strconv.Itoa(gen+1)))
	if init != nil {
		b.own[string(id)] = true
		b.initID = id
	}
	b.mu.Unlock()
	if init == nil {
		return false
	}
	if err := b.link.send(ctx, rawjson.Apply(init, rawjson.Edit{Key: "id", Value: id}), sendInfo{id: id, method: "initialize"}); err != nil {
		b.log.Warn("mcptray forgot this client's session, and a new one could not be started", "err", err)
		return false
	}
	b.mu.Lock()
	version := b.version
	b.gen++
	b.mu.Unlock()
	if err := b.link.send(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), sendInfo{method: "notifications/initialized", version: version}); err != nil {
		return false
	}
	if err := b.link.openGET(ctx); err != nil {
		b.log.Debug("no GET stream", "err", err)
	}
	b.log.Info("mcptray forgot this client's session (it restarted?); started a new one")
	return true
}

// answerError answers a request that got no answer from the hub: with the
// hub's JSON-RPC error when it sent one with an HTTP error status (a
// 2026-07-28 version mismatch, a 2025 request without a session), else
// with what went wrong.
func (b *bridge) answerError(id []byte, err error) {
	var se *httpStatusError
	if errors.As(err, &se) {
		if _, obj, ok := se.rpcError(); ok {
			b.write(appendError(nil, id, obj))
			return
		}
	}
	msg := "mcptray: " + err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "mcptray is not running at " + b.url + ": start it (mcptray, or from your applications menu)"
	case errors.Is(err, errNoResponse):
		msg = "mcptray ended the call without an answer: " + err.Error()
	}
	b.write(appendError(nil, id, newError(codeInternal, msg).encode()))
}
