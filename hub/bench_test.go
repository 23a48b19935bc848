package hub

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcptray/mcptray/settings"
)

// instantLink is an upstream that answers every tools/call at once, in
// process: what is left to measure is the hub's own work per call.
type instantLink struct {
	sink   sink
	result []byte
	lostCh chan struct{}
}

func (l *instantLink) start(_ context.Context, to sink) error {
	l.sink = to
	return nil
}

func (l *instantLink) send(_ context.Context, msg []byte, h sendInfo) error {
	if h.id == nil {
		return nil
	}
	l.sink.deliver(appendResult(nil, h.id, l.result), nil)
	return nil
}

func (l *instantLink) lost() <-chan struct{} { return l.lostCh }
func (l *instantLink) close() error          { return nil }

// benchHub makes a hub whose view offers one tool, "s-echo" (and "echo" at
// /mcp/s), answered by an instant upstream of the given revision.
func benchHub(b *testing.B, modern bool) *Hub {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := settings.Open(filepath.Join(b.TempDir(), "s.json"), log)
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{Settings: store, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	h.events["s"] = newEventLog()
	u := newUpstream(h.upstreamEnv("s"), "s", &settings.Server{Command: "x"})
	l := &instantLink{result: []byte(`{"content":[{"type":"text","text":"benchmark payload of a modest size, like most tool arguments"}]}`), lostCh: make(chan struct{})}
	s := newUpSession(l, log, "bench", true)
	s.other = func(*message, []byte) {}
	s.modern = modern
	if modern {
		s.version = versionModern
	} else {
		s.version = versionLegacy
	}
	s.caps = parseServerCaps([]byte(`{"tools":{}}`))
	l.start(context.Background(), s)
	u.sess.Store(s)
	var ls lists
	ls.items[kindTools] = decodeItems(kindTools, []json.RawMessage{json.RawMessage(`{"name":"echo","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}}`)}, func(string, error) {})
	u.lists.Store(&ls)
	h.upstreams["s"], h.order = u, []string{"s"}
	h.views[""] = h.newView("")
	h.views["server/s"] = h.newView("server/s")
	h.rebuildViews()
	h.routes.Store(&routeTable{global: h.views[""], byName: map[string]*view{"s": h.views["server/s"]}})
	return h
}

const benchArgs = `"arguments":{"text":"benchmark payload of a modest size, like most tool arguments"}`

func benchCall(b *testing.B, handler http.Handler, path string, header map[string]string, body string) {
	b.Helper()
	run := func() {
		req := httptest.NewRequest("POST", "http://127.0.0.1:3000"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"result"`) {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}

// BenchmarkToolCallLegacy: a 2025-11-25 session's tools/call through the
// hub to a legacy server (the protect checks and the route included).
func BenchmarkToolCallLegacy(b *testing.B) {
	h := benchHub(b, false)
	handler := h.Handler()
	req := httptest.NewRequest("POST", "http://127.0.0.1:3000/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	sid := rec.Header().Get("Mcp-Session-Id")
	benchCall(b, handler, "/mcp", map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"},
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"s-echo",`+benchArgs+`}}`)
}

// BenchmarkToolCallModern: a 2026-07-28 client's tools/call through the
// hub to a 2026-07-28 server: headers checked, _meta rewritten for the leg.
func BenchmarkToolCallModern(b *testing.B) {
	h := benchHub(b, true)
	benchCall(b, h.Handler(), "/mcp/s", map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"},
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo",`+benchArgs+`,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"sampling":{}},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}}`)
}
