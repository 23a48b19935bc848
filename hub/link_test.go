//go:build unix

package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
	"github.com/mcptray/mcptray/hub/internal/stdio"
	"github.com/mcptray/mcptray/testpeers"
)

// --- what a link delivered ---

type delivered struct {
	msg []byte
	via json.RawMessage
}

// method returns the message's method, "" for a response.
func (d delivered) method() string { m, _ := rawjson.String(d.msg, "method"); return m }

func (d delivered) id() string { v, _ := rawjson.Get(d.msg, "id"); return string(v) }

// recorder collects what a link delivers.
type recorder struct {
	mu   sync.Mutex // guards msgs and wake
	msgs []delivered
	wake chan struct{} // closed at the next delivery
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{})} }

func (r *recorder) deliver(msg []byte, via json.RawMessage) {
	if !json.Valid(msg) {
		panic("link delivered invalid JSON: " + string(msg))
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, delivered{msg: msg, via: via})
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) all() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.msgs...)
}

// waitFor waits until a delivered message satisfies ok and returns it.
func (r *recorder) waitFor(t *testing.T, what string, limit time.Duration, ok func(delivered) bool) delivered {
	t.Helper()
	deadline := time.After(limit)
	for {
		r.mu.Lock()
		for _, d := range r.msgs {
			if ok(d) {
				r.mu.Unlock()
				return d
			}
		}
		wake := r.wake
		r.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("no %s within %v; delivered:\n%s", what, limit, r)
		}
	}
}

// response waits for the response to id.
func (r *recorder) response(t *testing.T, id string, limit time.Duration) delivered {
	t.Helper()
	return r.waitFor(t, "response to "+id, limit, func(d delivered) bool { return d.method() == "" && d.id() == id })
}

func (r *recorder) String() string {
	var b strings.Builder
	for _, d := range r.all() {
		fmt.Fprintf(&b, "  via=%s %s\n", d.via, preview(d.msg))
	}
	return b.String()
}

func preview(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// resultText returns the text of the first content item of a tools/call
// response.
func resultTextOf(t *testing.T, msg []byte) string {
	t.Helper()
	var r struct {
		Result struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg, &r); err != nil {
		t.Fatalf("bad response %s: %v", msg, err)
	}
	if r.Error != nil {
		t.Fatalf("error response: %s", msg)
	}
	if len(r.Result.Content) == 0 {
		t.Fatalf("no content in %s", msg)
	}
	return r.Result.Content[0].Text
}

// --- what went over the wire ---

// wire is an HTTP transport for tests that records each request's method
// and MCP headers, and can break a response body.
type wire struct {
	base http.RoundTripper
	// mu guards seen and breakBody.
	mu   sync.Mutex
	seen []seenRequest
	// breakBody, when set, may wrap a response's body.
	breakBody func(r *http.Request, body io.ReadCloser) io.ReadCloser
}

type seenRequest struct {
	method string
	header http.Header
	body   string
	status int
	ctype  string
}

func newWire() *wire { return &wire{base: http.DefaultTransport.(*http.Transport).Clone()} }

func (w *wire) client() *http.Client { return &http.Client{Transport: w} }

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	var body string
	if r.GetBody != nil {
		b, _ := r.GetBody()
		raw, _ := io.ReadAll(b)
		body = string(raw)
	}
	resp, err := w.base.RoundTrip(r)
	s := seenRequest{method: r.Method, header: r.Header.Clone(), body: body}
	if resp != nil {
		s.status, s.ctype = resp.StatusCode, resp.Header.Get("Content-Type")
	}
	w.mu.Lock()
	w.seen = append(w.seen, s)
	brk := w.breakBody
	w.mu.Unlock()
	if err == nil && brk != nil {
		resp.Body = brk(r, resp.Body)
	}
	return resp, err
}

func (w *wire) requests() []seenRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]seenRequest(nil), w.seen...)
}

func (w *wire) closeIdle() { w.base.(*http.Transport).CloseIdleConnections() }

// --- JSON-RPC by hand ---

const (
	legacyVersion  = "2025-11-25"
	testMeta       = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"mcptray-test","version":"0"}}`
	initializeMsg  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcptray-test","version":"0"}}}`
	initializedMsg = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
)

func request(id int, method, params string) []byte {
	if params == "" {
		return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":%q}`, id, method)
	}
	return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, id, method, params)
}

func idOf(n int) json.RawMessage { return json.RawMessage(fmt.Sprint(n)) }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startHTTPLink makes and starts a streamable HTTP link; the test closes it.
func startHTTPLink(t *testing.T, url string, client *http.Client, mod ...func(*httpLink)) (*httpLink, *recorder) {
	t.Helper()
	l, err := newHTTPLink(httpLinkConfig{URL: url, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mod {
		m(l)
	}
	rec := newRecorder()
	if err := l.start(context.Background(), deliverFunc(rec.deliver)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.close() })
	return l, rec
}

// legacyHandshake initializes a 2025 session over l.
func legacyHandshake(t *testing.T, l link, rec *recorder) []byte {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	if err := l.send(ctx, []byte(initializeMsg), sendInfo{id: idOf(1), method: "initialize"}); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	resp := rec.response(t, "1", 30*time.Second)
	if hl, ok := l.(*httpLink); ok {
		hl.setVersion(legacyVersion)
	}
	if err := l.send(ctx, []byte(initializedMsg), sendInfo{method: "notifications/initialized", version: legacyVersion}); err != nil {
		t.Fatalf("notifications/initialized: %v", err)
	}
	return resp.msg
}

// assertProgressThenResponse checks what a tools/call with progress token
// tok delivered: every progress notification before the response, in
// order (progress 1..steps), each with via.
func assertProgressThenResponse(t *testing.T, rec *recorder, id string, via json.RawMessage, tok string, steps int) {
	t.Helper()
	next := 1
	sawResponse := false
	for _, d := range rec.all() {
		switch {
		case d.method() == "notifications/progress":
			params, _ := rawjson.Get(d.msg, "params")
			got, _ := rawjson.Get(params, "progressToken")
			if string(got) != tok {
				continue
			}
			if sawResponse {
				t.Fatalf("progress after the response: %s\n%s", d.msg, rec)
			}
			p, _ := rawjson.Get(params, "progress")
			if string(p) != fmt.Sprint(next) {
				t.Fatalf("progress %s, want %d:\n%s", p, next, rec)
			}
			if !bytes.Equal(d.via, via) {
				t.Fatalf("progress via %q, want %q", d.via, via)
			}
			next++
		case d.method() == "" && d.id() == id:
			if !bytes.Equal(d.via, via) {
				t.Fatalf("response via %q, want %q", d.via, via)
			}
			sawResponse = true
		}
	}
	if !sawResponse || next != steps+1 {
		t.Fatalf("want %d progress notifications and then the response, got %d (response %v):\n%s", steps, next-1, sawResponse, rec)
	}
}

// --- the event stream parser ---

func TestEventReader(t *testing.T) {
	type ev struct {
		typ, data string
		big       bool
	}
	cases := []struct {
		name   string
		in     string
		want   []ev
		lastID string
		retry  time.Duration
	}{
		{"lf", "data: a\n\ndata: b\n\n", []ev{{"", "a", false}, {"", "b", false}}, "", 0},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []ev{{"", "a", false}, {"", "b", false}}, "", 0},
		{"cr", "data: a\r\rdata: b\r\r", []ev{{"", "a", false}, {"", "b", false}}, "", 0},
		{"mixed", "data: a\r\ndata: b\rdata: c\n\r\n", []ev{{"", "a\nb\nc", false}}, "", 0},
		{"comments and fields", ": keep-alive\nevent: message\nid: 7\nretry: 250\ndata:{\"x\":1}\n\n:\n", []ev{{"message", `{"x":1}`, false}}, "7", 250 * time.Millisecond},
		{"one leading space only", "data:  two\n\n", []ev{{"", " two", false}}, "", 0},
		{"field without colon", "data\n\n", []ev{{"", "", false}}, "", 0},
		{"no data, no event", "id: 3\n\nevent: x\n\ndata: y\n\n", []ev{{"", "y", false}}, "3", 0},
		{"priming", "id: p1\ndata: \n\n", []ev{{"", "", false}}, "p1", 0},
		{"id with NUL ignored", "id: a\n\nid: b\x00c\ndata: z\n\n", []ev{{"", "z", false}}, "a", 0},
		{"bad retry ignored", "retry: 1x\ndata: z\n\n", []ev{{"", "z", false}}, "", 0},
		{"bom", "\xef\xbb\xbfdata: z\n\n", []ev{{"", "z", false}}, "", 0},
		{"pending at eof dropped", "data: a\n\ndata: b\n", []ev{{"", "a", false}}, "", 0},
		{"unterminated line dropped", "data: a\n\ndata: b", []ev{{"", "a", false}}, "", 0},
		{"endpoint", "event: endpoint\ndata: /messages?sessionId=1\n\n", []ev{{"endpoint", "/messages?sessionId=1", false}}, "", 0},
		{"too large, then on", "data: " + strings.Repeat("x", 100) + "\n\ndata: ok\n\n", []ev{{"", "", true}, {"", "ok", false}}, "", 0},
		{"too large by lines", "data: " + strings.Repeat("x", 40) + "\ndata: " + strings.Repeat("y", 40) + "\n\ndata: ok\n\n", []ev{{"", "", true}, {"", "ok", false}}, "", 0},
		{"line over the buffer", "data: " + strings.Repeat("x", 200) + "\nid: after\n\ndata: ok\n\n", []ev{{"", "", true}, {"", "ok", false}}, "after", 0},
	}
	for _, c := range cases {
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/onebyte=%v", c.name, oneByte), func(t *testing.T) {
				var r io.Reader = strings.NewReader(c.in)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				er := newEventReader(r, 64)
				// A small buffer, so that long lines cross it.
				er.bufs = &eventBufs{buf: make([]byte, 8)}
				var got []ev
				eachEvent(t, er, func(e sseEvent) { got = append(got, ev{string(e.typ), string(e.data), e.tooLarge}) })
				if fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Errorf("events %v, want %v", got, c.want)
				}
				if er.lastID != c.lastID || er.retry != c.retry {
					t.Errorf("last id %q retry %v, want %q %v", er.lastID, er.retry, c.lastID, c.retry)
				}
				if !er.eof() {
					t.Error("not at eof")
				}
			})
		}
	}
}

// TestEventReaderLarge: data lines over ropeFrom go into a rope, however
// the reads cut them and the lines end; an event over largeMessage comes
// as the rope, a smaller one as data; what is over the bound is still
// dropped and the stream goes on.
func TestEventReaderLarge(t *testing.T) {
	line := func(n int, c byte) string { return strings.Repeat(string(c), n) }
	big, medium := line(largeMessage+5000, 'b'), line(ropeFrom+100, 'm')
	type ev struct {
		data     string
		large    bool
		tooLarge bool
	}
	cases := []struct {
		name string
		in   string
		want []ev
	}{
		{"a large line", "data: " + big + "\n\n", []ev{{big, true, false}}},
		{"a medium line", "data:" + medium + "\r\n\r\n", []ev{{medium, false, false}}},
		{"lines around a large one", "data: a\ndata: " + big + "\rdata: z\r\n\r\ndata: ok\n\n", []ev{{"a\n" + big + "\nz", true, false}, {"ok", false, false}}},
		{"two large lines", "data: " + big + "\ndata: " + medium + "\n\n", []ev{{big + "\n" + medium, true, false}}},
		{"a long line of another field", "id: " + medium + "\ndata: x\n\ndata: ok\n\n", []ev{{"", false, true}, {"ok", false, false}}},
		{"over the bound", "data: " + big + big + "\n\ndata: ok\n\n", []ev{{"", false, true}, {"ok", false, false}}},
		{"over the bound by lines", "data: " + big + "\ndata: " + big + "\n\ndata: ok\n\n", []ev{{"", false, true}, {"ok", false, false}}},
		{"cut at the end", "data: ok\n\ndata: " + big, []ev{{"ok", false, false}}},
	}
	for _, c := range cases {
		for seed := range uint64(3) {
			rng := rand.New(rand.NewPCG(seed, 7))
			er := newEventReader(&randomReads{s: c.in, rng: rng}, 2*largeMessage)
			var got []ev
			eachEvent(t, er, func(e sseEvent) {
				g := ev{string(e.data), e.big != nil, e.tooLarge}
				if e.big != nil {
					g.data = string(e.big.Bytes())
				}
				got = append(got, g)
			})
			if len(got) != len(c.want) {
				t.Errorf("%s (seed %d): %d events, want %d", c.name, seed, len(got), len(c.want))
				continue
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("%s (seed %d): event %d: %d bytes large %v over %v, want %d bytes large %v over %v", c.name, seed, i,
						len(got[i].data), got[i].large, got[i].tooLarge, len(c.want[i].data), c.want[i].large, c.want[i].tooLarge)
				}
			}
		}
	}
}

// eachEvent reads er's events to the end of its body, each valid during fn.
func eachEvent(t *testing.T, er *eventReader, fn func(sseEvent)) {
	t.Helper()
	for {
		e, err := er.next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(e)
	}
}

// randomReads reads s in pieces of random sizes.
type randomReads struct {
	s   string
	rng *rand.Rand
}

func (r *randomReads) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1+r.rng.IntN(100000))], r.s)
	r.s = r.s[n:]
	return n, nil
}

func TestHeaderValue(t *testing.T) {
	// streamable-http.mdx (2026-07-28), "Value Encoding", its examples.
	for in, want := range map[string]string{
		"us-west1":           "us-west1",
		"Hello, 世界":          "=?base64?SGVsbG8sIOS4lueVjA==?=",
		" padded ":           "=?base64?IHBhZGRlZCA=?=",
		"line1\nline2":       "=?base64?bGluZTEKbGluZTI=?=",
		"=?base64?literal?=": "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=",
		"a b":                "a b",
		"tab\there":          "=?base64?dGFiCWhlcmU=?=",
		"file:///x/y.json":   "file:///x/y.json",
		"":                   "",
	} {
		if got := headerValue(in); got != want {
			t.Errorf("headerValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSameID(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"1", "1", true}, {"1", "1.0", true}, {"1", "2", false}, {`"a"`, `"\u0061"`, true},
		{`"1"`, "1", false}, {`"x"`, `"y"`, false}, {" 7 ", "7", true},
	} {
		if got := sameID([]byte(c.a), []byte(c.b)); got != c.same {
			t.Errorf("sameID(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

func TestEachMessage(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{`{"jsonrpc":"2.0","id":1,"result":{}}`, []string{`{"jsonrpc":"2.0","id":1,"result":{}}`}, true},
		{` [{"method":"a"} , {"id":2,"error":{}}] `, []string{`{"method":"a"}`, `{"id":2,"error":{}}`}, true},
		{`{}`, nil, true}, // a replayed priming event of the TypeScript SDK
		{`[{"method":"a"},{}]`, []string{`{"method":"a"}`}, true},
		{`{"id":1,`, nil, false},
		{`"text"`, nil, false},
		{`[1]`, nil, false},
	} {
		var got []string
		ok := eachMessage([]byte(c.in), func(m []byte) { got = append(got, string(m)) })
		if ok != c.ok || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("eachMessage(%s) = %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if !responseTo([]byte(`{"result":{"id":9},"jsonrpc":"2.0","id":3}`), json.RawMessage("3")) ||
		responseTo([]byte(`{"jsonrpc":"2.0","id":3,"method":"ping"}`), json.RawMessage("3")) ||
		responseTo([]byte(`{"jsonrpc":"2.0","id":4,"result":{}}`), json.RawMessage("3")) {
		t.Error("responseTo")
	}
}

// --- streamable HTTP, 2025 era, against real servers ---

// TestLinkHTTPLegacyEverything drives server-everything (sdk 1.x) over
// streamable HTTP by hand: initialize, initialized, tools/list, and a
// tools/call whose progress comes on its stream before its response.
func TestLinkHTTPLegacyEverything(t *testing.T) {
	url := testpeers.StartEverything(t, "streamableHttp")
	w := newWire()
	l, rec := startHTTPLink(t, url, w.client())
	legacyHandshake(t, l, rec)
	if l.sessionID() == "" {
		t.Fatal("no session id from initialize")
	}
	ctx := ctxFor(t, 60*time.Second)
	if err := l.send(ctx, request(2, "tools/list", ""), sendInfo{id: idOf(2), method: "tools/list", version: legacyVersion}); err != nil {
		t.Fatal(err)
	}
	list := rec.response(t, "2", time.Second)
	if !bytes.Contains(list.msg, []byte(`"trigger-long-running-operation"`)) {
		t.Fatalf("tools/list: %s", preview(list.msg))
	}
	call := request(3, "tools/call", `{"name":"trigger-long-running-operation","arguments":{"duration":1,"steps":4},"_meta":{"progressToken":"tok-3"}}`)
	if err := l.send(ctx, call, sendInfo{id: idOf(3), method: "tools/call", name: "trigger-long-running-operation", version: legacyVersion}); err != nil {
		t.Fatal(err)
	}
	// send returned: everything of the call's stream was delivered already.
	assertProgressThenResponse(t, rec, "3", idOf(3), `"tok-3"`, 4)

	// What went out: the session id and version on every request after
	// initialize, none of the 2026 headers.
	reqs := w.requests()
	if h := reqs[0].header; h.Get("Mcp-Session-Id") != "" || h.Get("Mcp-Protocol-Version") != "" {
		t.Errorf("initialize carried %v", h)
	}
	for _, r := range reqs[1:] {
		if r.header.Get("Mcp-Session-Id") != l.sessionID() || r.header.Get("Mcp-Protocol-Version") != legacyVersion || r.header.Get("Mcp-Method") != "" {
			t.Errorf("%s carried %v", r.method, r.header)
		}
		if got := r.header.Get("Accept"); r.method == "POST" && got != "application/json, text/event-stream" {
			t.Errorf("Accept %q", got)
		}
	}
	if reqs[1].status != http.StatusAccepted {
		t.Errorf("notifications/initialized answered %d", reqs[2].status)
	}
}

// TestLinkHTTPLegacyGoSDK drives the go-sdk server's 2025 handler: the GET
// stream carries a tools/list_changed, progress comes on the call's stream,
// and close DELETEs the session.
func TestLinkHTTPLegacyGoSDK(t *testing.T) {
	target := testpeers.StartGoSDKServer(t, "legacy")
	w := newWire()
	l, rec := startHTTPLink(t, target.URL, w.client())
	ctx := ctxFor(t, 60*time.Second)
	if err := l.send(ctx, []byte(initializeMsg), sendInfo{id: idOf(1), method: "initialize"}); err != nil {
		t.Fatal(err)
	}
	rec.response(t, "1", time.Second)
	sid := l.sessionID()
	if sid == "" {
		t.Fatal("no session id")
	}
	l.setVersion(legacyVersion)
	if err := l.openGET(ctx); err != nil {
		t.Fatalf("openGET: %v", err)
	}
	if err := l.send(ctx, []byte(initializedMsg), sendInfo{method: "notifications/initialized", version: legacyVersion}); err != nil {
		t.Fatal(err)
	}
	info := sendInfo{id: idOf(2), method: "tools/call", name: "add_tool", version: legacyVersion}
	if err := l.send(ctx, request(2, "tools/call", `{"name":"add_tool","arguments":{"name":"fresh"}}`), info); err != nil {
		t.Fatal(err)
	}
	if got := resultTextOf(t, rec.response(t, "2", time.Second).msg); got != "added fresh" {
		t.Fatalf("add_tool: %q", got)
	}
	changed := rec.waitFor(t, "tools/list_changed", 10*time.Second, func(d delivered) bool { return d.method() == "notifications/tools/list_changed" })
	if changed.via != nil {
		t.Errorf("list_changed via %s, want the GET stream (nil)", changed.via)
	}

	info = sendInfo{id: idOf(3), method: "tools/call", name: "progress", version: legacyVersion}
	if err := l.send(ctx, request(3, "tools/call", `{"name":"progress","arguments":{"steps":3},"_meta":{"progressToken":33}}`), info); err != nil {
		t.Fatal(err)
	}
	assertProgressThenResponse(t, rec, "3", idOf(3), "33", 3)

	var gets int
	for _, r := range w.requests() {
		if r.method == "GET" {
			gets++
			if r.header.Get("Accept") != "text/event-stream" || r.header.Get("Mcp-Session-Id") != sid || r.header.Get("Mcp-Protocol-Version") != legacyVersion {
				t.Errorf("GET carried %v", r.header)
			}
		}
	}
	if gets != 1 {
		t.Errorf("%d GETs, want 1", gets)
	}

	// close ends the session on the server: a request with its id is 404.
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	last := w.requests()[len(w.requests())-1]
	if last.method != "DELETE" || last.header.Get("Mcp-Session-Id") != sid || last.status/100 != 2 {
		t.Fatalf("last request %s %d %v, want the session's DELETE", last.method, last.status, last.header)
	}
	status, err := postRawHeaders(target.URL, string(request(9, "tools/list", "")), map[string]string{
		"Mcp-Session-Id": sid, "Mcp-Protocol-Version": legacyVersion, "Accept": "application/json, text/event-stream", "Content-Type": "application/json",
	})
	if err != nil || status != http.StatusNotFound {
		t.Fatalf("a request on the deleted session: %d %v, want 404", status, err)
	}
	select {
	case <-l.lost():
	default:
		t.Error("lost is open after close")
	}
	if err := l.send(ctx, request(4, "tools/list", ""), sendInfo{id: idOf(4), version: legacyVersion}); !errors.Is(err, errLinkClosed) {
		t.Errorf("send after close: %v", err)
	}
}

// TestLinkHTTPSessionExpired ends a go-sdk session behind the link's back:
// the next request is errSessionExpired (with the 404), and a new
// initialize starts a new session without the old id.
func TestLinkHTTPSessionExpired(t *testing.T) {
	target := testpeers.StartGoSDKServer(t, "legacy")
	w := newWire()
	l, rec := startHTTPLink(t, target.URL, w.client())
	legacyHandshake(t, l, rec)
	old := l.sessionID()
	del, _ := http.NewRequest(http.MethodDelete, target.URL, nil)
	del.Header.Set("Mcp-Session-Id", old)
	resp, err := http.DefaultClient.Do(del)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	ctx := ctxFor(t, 30*time.Second)
	err = l.send(ctx, request(2, "tools/list", ""), sendInfo{id: idOf(2), method: "tools/list", version: legacyVersion})
	var se *httpStatusError
	if !errors.Is(err, errSessionExpired) || !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Fatalf("after the session ended: %v, want errSessionExpired with a 404", err)
	}
	if l.sessionID() != "" {
		t.Errorf("session id %q kept after it expired", l.sessionID())
	}
	legacyHandshake(t, l, newRecorderFor(l, rec))
	if l.sessionID() == "" || l.sessionID() == old {
		t.Fatalf("new session %q (old %q)", l.sessionID(), old)
	}
	reqs := w.requests()
	var inits int
	for _, r := range reqs {
		if strings.Contains(r.body, `"initialize"`) {
			inits++
			if r.header.Get("Mcp-Session-Id") != "" {
				t.Errorf("initialize carried session id")
			}
		}
	}
	if inits != 2 {
		t.Errorf("%d initializes", inits)
	}
	if err := l.send(ctx, request(3, "tools/list", ""), sendInfo{id: idOf(3), method: "tools/list", version: legacyVersion}); err != nil {
		t.Fatal(err)
	}
	rec.response(t, "3", time.Second)
}

// newRecorderFor clears rec (the same recorder stays the link's deliver).
func newRecorderFor(_ link, rec *recorder) *recorder {
	rec.mu.Lock()
	rec.msgs = nil
	rec.mu.Unlock()
	return rec
}

// TestLinkHTTPResumeEverything breaks server-everything's stream of a
// tools/call after its first progress notification: the link resumes it
// with GET and Last-Event-ID (server-everything keeps an event store) and
// delivers the rest, with the call's via, once each.
func TestLinkHTTPResumeEverything(t *testing.T) {
	url := testpeers.StartEverything(t, "streamableHttp")
	w := newWire()
	// server-everything's event store replays what it stored by the time of
	// the GET, but sends nothing live on a resumed stream (its
	// replayEventsAfter returns an event id where the SDK expects a stream
	// id): wait until the call is over before resuming.
	l, rec := startHTTPLink(t, url, w.client(), func(l *httpLink) { l.resumeDelay = 2500 * time.Millisecond })
	legacyHandshake(t, l, rec)
	var broke sync.Once
	w.mu.Lock()
	w.breakBody = func(r *http.Request, body io.ReadCloser) io.ReadCloser {
		if r.Method != "POST" {
			return body
		}
		b, _ := r.GetBody()
		raw, _ := io.ReadAll(b)
		if !bytes.Contains(raw, []byte(`"tools/call"`)) {
			return body
		}
		var cut io.ReadCloser = body
		broke.Do(func() { cut = &breakAfter{rc: body, marker: []byte("notifications/progress")} })
		return cut
	}
	w.mu.Unlock()

	ctx := ctxFor(t, 60*time.Second)
	call := request(2, "tools/call", `{"name":"trigger-long-running-operation","arguments":{"duration":1,"steps":4},"_meta":{"progressToken":"r"}}`)
	if err := l.send(ctx, call, sendInfo{id: idOf(2), method: "tools/call", name: "trigger-long-running-operation", version: legacyVersion}); err != nil {
		t.Fatalf("the resumed call: %v", err)
	}
	assertProgressThenResponse(t, rec, "2", idOf(2), `"r"`, 4)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	var resumed bool
	for _, r := range w.requests() {
		if r.method == "GET" {
			id := r.header.Get("Last-Event-Id")
			if !uuid.MatchString(id) || r.header.Get("Mcp-Session-Id") != l.sessionID() || r.header.Get("Mcp-Protocol-Version") != legacyVersion {
				t.Errorf("the resuming GET carried %v", r.header)
			}
			resumed = true
		}
	}
	if !resumed {
		t.Fatal("no resuming GET")
	}
	for _, d := range rec.all() {
		if string(bytes.TrimSpace(d.msg)) == "{}" {
			t.Errorf("delivered a replayed priming event")
		}
	}
}

// breakAfter fails the read after the one that brought marker, as a
// connection that drops would.
type breakAfter struct {
	rc     io.ReadCloser
	marker []byte
	seen   bool
}

func (b *breakAfter) Read(p []byte) (int, error) {
	if b.seen {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.rc.Read(p)
	if bytes.Contains(p[:n], b.marker) {
		b.seen = true
	}
	return n, err
}

func (b *breakAfter) Close() error { return b.rc.Close() }

// fakeStream is an httptest server for stream edge cases no real peer
// produces on demand. post and get write the answers.
func fakeStream(t *testing.T, post, get func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "POST":
			post(w, r)
		case "GET":
			if get == nil {
				http.Error(w, "no", http.StatusMethodNotAllowed)
				return
			}
			get(w, r)
		case "DELETE":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, e := range events {
		io.WriteString(w, e)
		w.(http.Flusher).Flush()
	}
}

// TestLinkHTTPResumeRetry: a stream that drops after a retry field and an
// event id is resumed no sooner than retry asks, with Last-Event-ID; a
// stream that never comes back ends after maxResumeAttempts; a 2026 stream
// is never resumed.
func TestLinkHTTPResumeRetry(t *testing.T) {
	t.Run("resumed", func(t *testing.T) {
		var dropped time.Time
		var gotLast, gotSession string
		var waited time.Duration
		srv := fakeStream(t, func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(readBody(r), `"initialize"`) {
				w.Header().Set("Mcp-Session-Id", "s-1")
				sse(w, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
				return
			}
			sse(w, "retry: 150\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
			dropped = time.Now()
		}, func(w http.ResponseWriter, r *http.Request) {
			waited = time.Since(dropped)
			gotLast, gotSession = r.Header.Get("Last-Event-ID"), r.Header.Get("Mcp-Session-Id")
			sse(w, "id: e2\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":2}}\r\n\r\n",
				"id: e3\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"done\"}]}}\r\n\r\n")
		})
		l, rec := startHTTPLink(t, srv.URL, srv.Client())
		ctx := ctxFor(t, 10*time.Second)
		if err := l.send(ctx, []byte(initializeMsg), sendInfo{id: idOf(1), method: "initialize"}); err != nil {
			t.Fatal(err)
		}
		l.setVersion(legacyVersion)
		if err := l.send(ctx, request(2, "tools/call", `{"name":"x"}`), sendInfo{id: idOf(2), method: "tools/call", version: legacyVersion}); err != nil {
			t.Fatal(err)
		}
		assertProgressThenResponse(t, rec, "2", idOf(2), "1", 2)
		if gotLast != "e1" || gotSession != "s-1" {
			t.Errorf("GET with Last-Event-ID %q, session %q", gotLast, gotSession)
		}
		if waited < 150*time.Millisecond {
			t.Errorf("resumed after %v, before the retry time", waited)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		var gets int
		var mu sync.Mutex // guards gets
		srv := fakeStream(t, func(w http.ResponseWriter, r *http.Request) {
			sse(w, "retry: 1\nid: e1\ndata: \n\n")
		}, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			gets++
			mu.Unlock()
			sse(w, ": nothing new\n\n")
		})
		l, _ := startHTTPLink(t, srv.URL, srv.Client())
		err := l.send(ctxFor(t, 10*time.Second), request(2, "tools/call", `{}`), sendInfo{id: idOf(2), method: "tools/call", version: legacyVersion})
		if !errors.Is(err, errNoResponse) {
			t.Fatalf("send: %v, want errNoResponse", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if gets != maxResumeAttempts {
			t.Errorf("%d GETs, want %d", gets, maxResumeAttempts)
		}
	})
	t.Run("modern is not resumed", func(t *testing.T) {
		var gets int
		var mu sync.Mutex // guards gets
		srv := fakeStream(t, func(w http.ResponseWriter, r *http.Request) {
			sse(w, "id: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
		}, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			gets++
			mu.Unlock()
		})
		l, rec := startHTTPLink(t, srv.URL, srv.Client())
		err := l.send(ctxFor(t, 10*time.Second), request(2, "tools/call", `{}`), sendInfo{id: idOf(2), method: "tools/call", name: "x", version: modernVersion})
		if !errors.Is(err, errNoResponse) {
			t.Fatalf("send: %v, want errNoResponse", err)
		}
		if len(rec.all()) != 1 {
			t.Errorf("delivered %s", rec)
		}
		mu.Lock()
		defer mu.Unlock()
		if gets != 0 {
			t.Errorf("%d GETs", gets)
		}
	})
}

func readBody(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// TestLinkHTTPJSONBatch: a JSON answer holding a batch (JSON-RPC 2.0, which
// servers before 2025-06-18 may send; no real peer here does for a single
// request) is delivered message by message, in order, with the request's
// via.
func TestLinkHTTPJSONBatch(t *testing.T) {
	srv := fakeStream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, ` [{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}, {"jsonrpc":"2.0","id":"a\"b","result":{"ok":true}}] `)
	}, nil)
	l, rec := startHTTPLink(t, srv.URL, srv.Client())
	id := json.RawMessage(`"a\"b"`)
	if err := l.send(ctxFor(t, 10*time.Second), []byte(`{"jsonrpc":"2.0","id":"a\"b","method":"ping"}`), sendInfo{id: id, method: "ping", version: legacyVersion}); err != nil {
		t.Fatal(err)
	}
	got := rec.all()
	if len(got) != 2 || got[0].method() != "notifications/message" || got[1].id() != `"a\"b"` || !bytes.Equal(got[0].via, id) || !bytes.Equal(got[1].via, id) {
		t.Fatalf("delivered:\n%s", rec)
	}
}

// TestLinkHTTPSizeBound: a JSON answer over the bound (the Go test
// server's huge tool) fails its request with ErrResponseTooLarge and the
// link goes on; so does an event over the bound on a call's stream, and
// on the GET stream one is skipped.
func TestLinkHTTPSizeBound(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		p := testpeers.StartProcess(t, testServerBin, []string{"http", "127.0.0.1:0"}, nil, 1)
		url := fmt.Sprintf("http://127.0.0.1:%d/mcp", p.Port)
		l, err := newHTTPLink(httpLinkConfig{URL: url, MaxMessage: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		l.start(context.Background(), deliverFunc(rec.deliver))
		defer l.close()
		legacyHandshake(t, l, rec)
		ctx := ctxFor(t, 30*time.Second)
		err = l.send(ctx, request(2, "tools/call", `{"name":"huge","arguments":{"mib":2}}`), sendInfo{id: idOf(2), method: "tools/call", version: legacyVersion})
		if !errors.Is(err, ErrResponseTooLarge) {
			t.Fatalf("huge: %v", err)
		}
		if err := l.send(ctx, request(3, "tools/call", `{"name":"echo","arguments":{"text":"small"}}`), sendInfo{id: idOf(3), method: "tools/call", version: legacyVersion}); err != nil {
			t.Fatal(err)
		}
		if got := resultTextOf(t, rec.response(t, "3", time.Second).msg); got != "small" {
			t.Fatalf("echo: %q", got)
		}
	})
	t.Run("stdio", func(t *testing.T) {
		l, err := newStdioLink(stdio.Config{Command: testServerBin, Args: []string{"stdio"}, MaxMessage: 1 << 20, Stderr: func(string) {}})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		if err := l.start(context.Background(), deliverFunc(rec.deliver)); err != nil {
			t.Fatal(err)
		}
		defer l.close()
		legacyHandshake(t, l, rec)
		if err := l.send(ctxFor(t, 10*time.Second), request(2, "tools/call", `{"name":"huge","arguments":{"mib":2}}`), sendInfo{id: idOf(2)}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-l.lost():
		case <-time.After(10 * time.Second):
			t.Fatal("not lost after a message over the bound")
		}
		if !errors.Is(l.err(), stdio.ErrMessageTooLarge) {
			t.Fatalf("lost: %v", l.err())
		}
	})
	t.Run("sse", func(t *testing.T) {
		big := `{"jsonrpc":"2.0","id":2,"result":{"text":"` + strings.Repeat("x", 2048) + `"}}`
		getDone := make(chan struct{})
		srv := fakeStream(t, func(w http.ResponseWriter, r *http.Request) {
			sse(w, "data: "+big+"\n\n")
		}, func(w http.ResponseWriter, r *http.Request) {
			sse(w, "data: "+big+"\n\n", "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n")
			select {
			case <-getDone:
			case <-r.Context().Done():
			}
		})
		defer close(getDone)
		l, rec := startHTTPLink(t, srv.URL, srv.Client(), func(l *httpLink) { l.max = 1024 })
		ctx := ctxFor(t, 10*time.Second)
		err := l.send(ctx, request(2, "tools/call", `{}`), sendInfo{id: idOf(2), method: "tools/call", version: legacyVersion})
		if !errors.Is(err, ErrResponseTooLarge) {
			t.Fatalf("send: %v", err)
		}
		if err := l.openGET(ctx); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, "list_changed", 5*time.Second, func(d delivered) bool { return d.method() == "notifications/tools/list_changed" })
		if n := len(rec.all()); n != 1 {
			t.Errorf("delivered:\n%s", rec)
		}
	})
}

// TestLinkHTTPGETStream: the GET stream is reopened with Last-Event-ID after
// it drops, after the server's retry time, until the server answers 405;
// close ends an open one.
func TestLinkHTTPGETStream(t *testing.T) {
	t.Run("reopened", func(t *testing.T) {
		var mu sync.Mutex // guards lastIDs and ended
		var lastIDs []string
		var ended time.Time
		var gap time.Duration
		srv := fakeStream(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
		}, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
			n := len(lastIDs)
			if n == 3 {
				gap = time.Since(ended)
			}
			mu.Unlock()
			switch n {
			case 1:
				sse(w, "id: g1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n")
			case 2:
				sse(w, ": hello\r\rretry: 80\rid: g2\rdata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/prompts/list_changed\"}\r\r")
			default:
				http.Error(w, "no more", http.StatusMethodNotAllowed)
				return
			}
			mu.Lock()
			ended = time.Now()
			mu.Unlock()
		})
		l, rec := startHTTPLink(t, srv.URL, srv.Client(), func(l *httpLink) { l.resumeDelay = 10 * time.Millisecond })
		l.setVersion(legacyVersion)
		if err := l.openGET(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, "the second stream's message", 5*time.Second, func(d delivered) bool { return d.method() == "notifications/prompts/list_changed" })
		// The loop ends at the 405: close has nothing to wait for.
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			n := len(lastIDs)
			mu.Unlock()
			if n == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d GETs", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		l.wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(lastIDs) != "[ g1 g2]" {
			t.Errorf("Last-Event-IDs %q", lastIDs)
		}
		if gap < 80*time.Millisecond {
			t.Errorf("reopened after %v, before the retry time", gap)
		}
		for _, d := range rec.all() {
			if d.via != nil {
				t.Errorf("via %s", d.via)
			}
		}
		if n := len(rec.all()); n != 2 {
			t.Errorf("delivered:\n%s", rec)
		}
	})
	t.Run("closed", func(t *testing.T) {
		gone := make(chan struct{})
		srv := fakeStream(t, nil, func(w http.ResponseWriter, r *http.Request) {
			sse(w, ": open\n\n")
			<-r.Context().Done()
			close(gone)
		})
		l, _ := startHTTPLink(t, srv.URL, srv.Client())
		if err := l.openGET(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		l.close()
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("close took %v", took)
		}
		select {
		case <-gone:
		case <-time.After(5 * time.Second):
			t.Fatal("the server's GET did not end")
		}
	})
	t.Run("none", func(t *testing.T) {
		// server@2 serves 2025 clients statelessly: no session id, and 405
		// to GET.
		target := testpeers.StartServer2(t)
		w := newWire()
		l, rec := startHTTPLink(t, target.URL, w.client())
		legacyHandshake(t, l, rec)
		if l.sessionID() != "" {
			t.Errorf("session id %q from a stateless server", l.sessionID())
		}
		if err := l.openGET(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatalf("openGET: %v", err)
		}
		l.wg.Wait() // the loop is over
		var gets int
		for _, r := range w.requests() {
			if r.method == "GET" {
				gets++
				if r.status != http.StatusMethodNotAllowed {
					t.Errorf("GET answered %d", r.status)
				}
			}
		}
		if gets != 1 {
			t.Errorf("%d GETs", gets)
		}
	})
}

// TestLinkHTTPCloseInFlight: close ends a request's stream being read; the
// send returns errLinkClosed.
func TestLinkHTTPCloseInFlight(t *testing.T) {
	gone := make(chan struct{})
	srv := fakeStream(t, func(w http.ResponseWriter, r *http.Request) {
		sse(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
		<-r.Context().Done()
		close(gone)
	}, nil)
	l, rec := startHTTPLink(t, srv.URL, srv.Client())
	errc := make(chan error, 1)
	go func() {
		errc <- l.send(context.Background(), request(1, "tools/call", `{}`), sendInfo{id: idOf(1), method: "tools/call", version: legacyVersion})
	}()
	rec.waitFor(t, "progress", 5*time.Second, func(d delivered) bool { return d.method() == "notifications/progress" })
	l.close()
	select {
	case err := <-errc:
		if !errors.Is(err, errLinkClosed) {
			t.Fatalf("send: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("send still running after close")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's stream did not end")
	}
}

// errTransport is an HTTP transport that fails every request with err, as
// the OAuth transport does with an *oauthflow.AuthorizationError.
type errTransport struct{ err error }

func (e errTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, e.err }

// TestLinkHTTPHeadersAndErrors: the settings' headers go on every request
// (a configured Accept does not replace the transport's), the HTTP client's
// errors come back as they are, without the URL, and a status error shows
// no more than a short preview of the body.
func TestLinkHTTPHeadersAndErrors(t *testing.T) {
	var mu sync.Mutex // guards auth and accept
	var auth, accept []string
	srv := fakeStream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		accept = append(accept, r.Header.Get("Accept"))
		mu.Unlock()
		http.Error(w, strings.Repeat("a long body ", 1000), http.StatusInternalServerError)
	}, nil)
	l, err := newHTTPLink(httpLinkConfig{URL: srv.URL + "/mcp?key=k", Client: srv.Client(), Headers: map[string]string{"authorization": "Bearer s3cret", "Accept": "text/plain"}})
	if err != nil {
		t.Fatal(err)
	}
	l.start(context.Background(), deliverFunc(newRecorder().deliver))
	defer l.close()
	err = l.send(ctxFor(t, 10*time.Second), request(1, "tools/list", ""), sendInfo{id: idOf(1), method: "tools/list", version: legacyVersion})
	var se *httpStatusError
	if !errors.As(err, &se) || se.Status != 500 || len(err.Error()) > 200 || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("send: %v", err)
	}
	mu.Lock()
	if fmt.Sprint(auth) != "[Bearer s3cret]" || fmt.Sprint(accept) != "[application/json, text/event-stream]" {
		t.Errorf("the server saw Authorization %q, Accept %q", auth, accept)
	}
	mu.Unlock()

	authErr := errors.New("the server asks for a sign-in")
	l2, _ := startHTTPLink(t, srv.URL+"/mcp?key=k", &http.Client{Transport: errTransport{authErr}})
	err = l2.send(ctxFor(t, 10*time.Second), request(1, "tools/list", ""), sendInfo{id: idOf(1), version: legacyVersion})
	if err != authErr {
		t.Fatalf("send: %v, want the transport's error as it is", err)
	}
}

// --- streamable HTTP, 2026-07-28, against real servers ---

// TestLinkHTTPModernGoSDK sends 2026-07-28 requests to the go-sdk server:
// its answers show what headers it saw.
func TestLinkHTTPModernGoSDK(t *testing.T) {
	target := testpeers.StartGoSDKServer(t, "dual")
	w := newWire()
	l, rec := startHTTPLink(t, target.URL, w.client())
	ctx := ctxFor(t, 30*time.Second)
	if err := l.send(ctx, request(1, "server/discover", `{`+testMeta+`}`), sendInfo{id: idOf(1), method: "server/discover", version: modernVersion}); err != nil {
		t.Fatal(err)
	}
	if d := rec.response(t, "1", time.Second); !bytes.Contains(d.msg, []byte(`"supportedVersions"`)) {
		t.Fatalf("discover: %s", d.msg)
	}
	h := w.requests()[0].header
	if h.Get("Mcp-Method") != "server/discover" || h.Get("Mcp-Protocol-Version") != modernVersion || h.Get("Mcp-Name") != "" || h.Get("Mcp-Session-Id") != "" {
		t.Errorf("discover carried %v", h)
	}

	echo := request(2, "tools/call", `{"name":"echo","arguments":{"message":"hi"},`+testMeta+`}`)
	err := l.send(ctx, echo, sendInfo{id: idOf(2), method: "tools/call", name: "other", version: modernVersion})
	assertRPCStatus(t, err, http.StatusBadRequest, -32020, "Mcp-Name header value 'other'")
	if err := l.send(ctx, echo, sendInfo{id: idOf(2), method: "tools/call", name: "echo", version: modernVersion}); err != nil {
		t.Fatal(err)
	}
	if got := resultTextOf(t, rec.response(t, "2", time.Second).msg); got != "echo: hi" {
		t.Fatalf("echo: %q", got)
	}

	region := request(3, "tools/call", `{"name":"header_echo","arguments":{"region":"us-west1"},`+testMeta+`}`)
	err = l.send(ctx, region, sendInfo{id: idOf(3), method: "tools/call", name: "header_echo", version: modernVersion})
	assertRPCStatus(t, err, http.StatusBadRequest, -32020, "missing Mcp-Param-Region")
	if err := l.send(ctx, region, sendInfo{id: idOf(3), method: "tools/call", name: "header_echo", params: map[string]string{"Region": "us-west1"}, version: modernVersion}); err != nil {
		t.Fatal(err)
	}
	if got := resultTextOf(t, rec.response(t, "3", time.Second).msg); got != "region: us-west1" {
		t.Fatalf("header_echo: %q", got)
	}

	// A modern server's other refusals: an unknown method is a 404 with
	// -32601, told apart from a legacy 404 by its body.
	err = l.send(ctx, request(4, "foo/bar", `{`+testMeta+`}`), sendInfo{id: idOf(4), method: "foo/bar", version: modernVersion})
	assertRPCStatus(t, err, http.StatusNotFound, -32601, "foo/bar")
	err = l.send(ctx, request(5, "server/discover", `{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}`), sendInfo{id: idOf(5), method: "server/discover", version: "2099-01-01"})
	assertRPCStatus(t, err, http.StatusBadRequest, -32022, "unsupported protocol version")
}

// assertRPCStatus checks that err is an *httpStatusError with status and a
// JSON-RPC error of code whose message contains msg.
func assertRPCStatus(t *testing.T, err error, status int, code int64, msg string) {
	t.Helper()
	var se *httpStatusError
	if !errors.As(err, &se) || se.Status != status {
		t.Fatalf("got %v, want an HTTP %d", err, status)
	}
	c, obj, ok := se.rpcError()
	if !ok || c != code || !strings.Contains(string(obj), msg) {
		t.Fatalf("got %d %s, want %d with %q", c, obj, code, msg)
	}
}

// TestLinkHTTPModernServer2 sends 2026-07-28 requests to the
// @modelcontextprotocol/server@2 peer: a value outside plain ASCII goes as
// the base64 sentinel, which server@2 decodes and checks against the body.
func TestLinkHTTPModernServer2(t *testing.T) {
	target := testpeers.StartServer2(t)
	w := newWire()
	l, rec := startHTTPLink(t, target.URL, w.client())
	ctx := ctxFor(t, 30*time.Second)
	call := func(id int, region string, params map[string]string) error {
		args, _ := json.Marshal(map[string]string{"region": region})
		msg := request(id, "tools/call", `{"name":"header_echo","arguments":`+string(args)+`,`+testMeta+`}`)
		return l.send(ctx, msg, sendInfo{id: idOf(id), method: "tools/call", name: "header_echo", params: params, version: modernVersion})
	}
	if err := call(1, "Zürich ", map[string]string{"Region": "Zürich "}); err != nil {
		t.Fatal(err)
	}
	if got := resultTextOf(t, rec.response(t, "1", time.Second).msg); got != "region: Zürich " {
		t.Fatalf("header_echo: %q", got)
	}
	var sent string
	for _, r := range w.requests() {
		sent = r.header.Get("Mcp-Param-Region")
	}
	if sent != headerValue("Zürich ") || !strings.HasPrefix(sent, "=?base64?") {
		t.Errorf("Mcp-Param-Region: %q", sent)
	}
	err := call(2, "Zürich", map[string]string{"Region": "Bern"})
	var se *httpStatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Fatalf("a mismatched Mcp-Param-Region: %v", err)
	}
	if c, _, _ := se.rpcError(); c != -32020 {
		t.Errorf("code %d, want -32020 (%s)", c, se.Body)
	}

	// Progress on the call's own stream before the response.
	msg := request(3, "tools/call", `{"name":"progress","arguments":{"steps":3},"_meta":{"progressToken":"p","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"0"}}}`)
	if err := l.send(ctx, msg, sendInfo{id: idOf(3), method: "tools/call", name: "progress", version: modernVersion}); err != nil {
		t.Fatal(err)
	}
	assertProgressThenResponse(t, rec, "3", idOf(3), `"p"`, 3)
}

// TestLinkHTTPCancel: cancelling a 2026-07-28 call's ctx closes its stream,
// which the go-sdk server (PropagateRequestCancellation) takes as the
// cancellation.
func TestLinkHTTPCancel(t *testing.T) {
	target := testpeers.StartGoSDKServer(t, "modern")
	l, rec := startHTTPLink(t, target.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	began := time.Now()
	err := l.send(ctx, request(1, "tools/call", `{"name":"slow","arguments":{"ms":20000},`+testMeta+`}`), sendInfo{id: idOf(1), method: "tools/call", name: "slow", version: modernVersion})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("send: %v, want context.Canceled", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("send returned %v after the cancel", took)
	}
	deadline := time.Now().Add(10 * time.Second)
	for id := 2; ; id++ {
		msg := request(id, "tools/call", `{"name":"cancellations","arguments":{},`+testMeta+`}`)
		if err := l.send(ctxFor(t, 10*time.Second), msg, sendInfo{id: idOf(id), method: "tools/call", name: "cancellations", version: modernVersion}); err != nil {
			t.Fatal(err)
		}
		got := resultTextOf(t, rec.response(t, fmt.Sprint(id), time.Second).msg)
		if got == "cancelled: 1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server saw no cancellation: %q", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLinkHTTPLegacyStatus: a 2025-only server's answer to server/discover
// is an *httpStatusError whose body is no modern error (server-everything),
// while the go-sdk 2025 handler tells its versions.
func TestLinkHTTPLegacyStatus(t *testing.T) {
	discover := request(1, "server/discover", `{`+testMeta+`}`)
	info := sendInfo{id: idOf(1), method: "server/discover", version: modernVersion}

	url := testpeers.StartEverything(t, "streamableHttp")
	l, _ := startHTTPLink(t, url, nil)
	err := l.send(ctxFor(t, 30*time.Second), discover, info)
	var se *httpStatusError
	if !errors.As(err, &se) || se.Status/100 != 4 {
		t.Fatalf("server-everything: %v", err)
	}
	if c, _, ok := se.rpcError(); ok && (c == -32022 || c == -32020 || c == -32601) {
		t.Fatalf("server-everything answered a modern error %d: %s", c, se.Body)
	}
	t.Logf("server-everything answers server/discover: %v", err)

	// The go-sdk 2025 handler answers server/discover itself, with a
	// DiscoverResult that lists no 2026 version (so a DiscoverResult alone
	// does not make a server modern), and other 2026 requests with -32022.
	target := testpeers.StartGoSDKServer(t, "legacy")
	l2, rec2 := startHTTPLink(t, target.URL, nil)
	if err := l2.send(ctxFor(t, 30*time.Second), discover, info); err != nil {
		t.Fatalf("go-sdk legacy, server/discover: %v", err)
	}
	res := rec2.response(t, "1", time.Second)
	if !bytes.Contains(res.msg, []byte(`"supportedVersions":["2025-11-25",`)) || bytes.Contains(res.msg, []byte(modernVersion)) {
		t.Fatalf("go-sdk legacy, server/discover: %s", res.msg)
	}
	err = l2.send(ctxFor(t, 30*time.Second), request(2, "tools/list", `{`+testMeta+`}`), sendInfo{id: idOf(2), method: "tools/list", version: modernVersion})
	assertRPCStatus(t, err, http.StatusBadRequest, -32022, `"supported":["2025-11-25"`)
}

// --- the HTTP+SSE link (2024-11-05) ---

// TestLinkSSEEverything drives server-everything over HTTP+SSE: every
// message comes on the stream with via nil, and the stream's end is lost.
func TestLinkSSEEverything(t *testing.T) {
	p := testpeers.StartNode(t, testpeers.EverythingScript(t), []string{"sse"}, nil)
	url := fmt.Sprintf("http://127.0.0.1:%d/sse", p.Port)
	l, err := newSSELink(sseLinkConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	if err := l.start(ctxFor(t, time.Minute), deliverFunc(rec.deliver)); err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if !strings.Contains(l.endpoint, "/message") || !strings.HasPrefix(l.endpoint, fmt.Sprintf("http://127.0.0.1:%d/", p.Port)) {
		t.Errorf("endpoint %q", l.endpoint)
	}
	legacyHandshake(t, l, rec)
	ctx := ctxFor(t, 30*time.Second)
	if err := l.send(ctx, request(2, "tools/call", `{"name":"echo","arguments":{"message":"over sse"}}`), sendInfo{id: idOf(2)}); err != nil {
		t.Fatal(err)
	}
	if got := resultTextOf(t, rec.response(t, "2", 10*time.Second).msg); got != "Echo: over sse" {
		t.Fatalf("echo: %q", got)
	}
	if err := l.send(ctx, request(3, "tools/call", `{"name":"trigger-long-running-operation","arguments":{"duration":0.6,"steps":3},"_meta":{"progressToken":7}}`), sendInfo{id: idOf(3)}); err != nil {
		t.Fatal(err)
	}
	rec.response(t, "3", 10*time.Second)
	assertProgressThenResponse(t, rec, "3", nil, "7", 3)
	for _, d := range rec.all() {
		if d.via != nil {
			t.Fatalf("via %s on the SSE stream", d.via)
		}
	}
	select {
	case <-l.lost():
		t.Fatal("lost while the server runs")
	default:
	}
	p.Stop()
	select {
	case <-l.lost():
	case <-time.After(10 * time.Second):
		t.Fatal("not lost after the server stopped")
	}
	if l.lostErr() == nil {
		t.Error("lost without a reason")
	}
	if err := l.send(ctx, request(4, "ping", ""), sendInfo{id: idOf(4)}); !errors.Is(err, errLinkClosed) {
		t.Errorf("send after lost: %v", err)
	}
}

func TestSSELinkEndpointOrigin(t *testing.T) {
	srv := fakeStream(t, nil, func(w http.ResponseWriter, r *http.Request) {
		sse(w, "event: endpoint\ndata: http://elsewhere.example/messages\n\n")
		<-r.Context().Done()
	})
	l, err := newSSELink(sseLinkConfig{URL: srv.URL + "/sse"})
	if err != nil {
		t.Fatal(err)
	}
	err = l.start(ctxFor(t, 10*time.Second), deliverFunc(newRecorder().deliver))
	l.close()
	if err == nil || !strings.Contains(err.Error(), "another origin") {
		t.Fatalf("start: %v", err)
	}
}

// --- stdio ---

func startStdioLink(t *testing.T, command string, args ...string) (*stdioLink, *recorder) {
	t.Helper()
	l, err := newStdioLink(stdio.Config{Command: command, Args: args, Stderr: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	if err := l.start(context.Background(), deliverFunc(rec.deliver)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.close() })
	return l, rec
}

// TestLinkStdioEverything drives server-everything over stdio.
func TestLinkStdioEverything(t *testing.T) {
	cmd, args := testpeers.EverythingStdio(t)
	l, rec := startStdioLink(t, cmd, args...)
	legacyHandshake(t, l, rec)
	ctx := ctxFor(t, 30*time.Second)
	if err := l.send(ctx, request(2, "tools/call", `{"name":"trigger-long-running-operation","arguments":{"duration":0.6,"steps":3},"_meta":{"progressToken":"s"}}`), sendInfo{id: idOf(2)}); err != nil {
		t.Fatal(err)
	}
	rec.response(t, "2", 10*time.Second)
	assertProgressThenResponse(t, rec, "2", nil, `"s"`, 3)
	if l.pid() == 0 {
		t.Error("no pid")
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.lost():
	default:
		t.Fatal("lost open after close")
	}
}

// TestLinkStdioServer2 speaks 2026-07-28 to the server@2 peer over stdio:
// server/discover, then a call with progress.
func TestLinkStdioServer2(t *testing.T) {
	target := testpeers.Server2Stdio(t)
	l, rec := startStdioLink(t, target.Command, target.Args...)
	ctx := ctxFor(t, 30*time.Second)
	if err := l.send(ctx, request(1, "server/discover", `{`+testMeta+`}`), sendInfo{id: idOf(1)}); err != nil {
		t.Fatal(err)
	}
	if d := rec.response(t, "1", 30*time.Second); !bytes.Contains(d.msg, []byte(`"supportedVersions":["2026-07-28"]`)) {
		t.Fatalf("discover: %s", d.msg)
	}
	msg := request(2, "tools/call", `{"name":"progress","arguments":{"steps":3},"_meta":{"progressToken":"q","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"0"}}}`)
	if err := l.send(ctx, msg, sendInfo{id: idOf(2)}); err != nil {
		t.Fatal(err)
	}
	rec.response(t, "2", 10*time.Second)
	assertProgressThenResponse(t, rec, "2", nil, `"q"`, 3)
}

// TestLinkStdioRaw runs cat as the "server": a message sent with line breaks
// goes out as one line, and a batch line coming back is split.
func TestLinkStdioRaw(t *testing.T) {
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Fatal(err)
	}
	l, rec := startStdioLink(t, cat)
	ctx := ctxFor(t, 10*time.Second)
	pretty := "{\n  \"jsonrpc\": \"2.0\",\r\n  \"id\": 1,\n  \"method\": \"ping\"\n}"
	if err := l.send(ctx, []byte(pretty), sendInfo{}); err != nil {
		t.Fatal(err)
	}
	d := rec.waitFor(t, "the echoed message", 5*time.Second, func(delivered) bool { return true })
	if string(d.msg) != `{"jsonrpc":"2.0","id":1,"method":"ping"}` {
		t.Fatalf("echoed %q", d.msg)
	}
	batch := `[{"jsonrpc":"2.0","method":"notifications/a"},{"jsonrpc":"2.0","id":2,"result":{}}]`
	if err := l.send(ctx, []byte(batch), sendInfo{}); err != nil {
		t.Fatal(err)
	}
	rec.response(t, "2", 5*time.Second)
	got := rec.all()
	if len(got) != 3 || got[1].method() != "notifications/a" || got[2].id() != "2" {
		t.Fatalf("delivered:\n%s", rec)
	}
	if err := l.send(ctx, []byte("not json\n"), sendInfo{}); err != nil {
		t.Fatal(err) // written as it is; cat echoes it and the link drops it
	}
	if err := l.send(ctx, []byte(`{"jsonrpc":"2.0","id":3,"result":{}}`), sendInfo{}); err != nil {
		t.Fatal(err)
	}
	rec.response(t, "3", 5*time.Second)
	if n := len(rec.all()); n != 4 {
		t.Fatalf("delivered:\n%s", rec)
	}
}
