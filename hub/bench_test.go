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

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcptray/mcptray/settings"
)

// instantTransport is an upstream that answers every request at once with
// the same result: what is left to measure is the hub's own work.
type instantTransport struct{ result json.RawMessage }

func (t *instantTransport) Start(context.Context) error { return nil }
func (t *instantTransport) SendRequest(_ context.Context, r transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	return &transport.JSONRPCResponse{JSONRPC: "2.0", ID: r.ID, Result: t.result}, nil
}
func (t *instantTransport) SendNotification(context.Context, mcp.JSONRPCNotification) error {
	return nil
}
func (t *instantTransport) SetNotificationHandler(func(mcp.JSONRPCNotification)) {}
func (t *instantTransport) Close() error                                         { return nil }
func (t *instantTransport) GetSessionId() string                                 { return "" }

// benchView makes a hub view with one tool, "s-echo", routed to an instant
// upstream, and an initialized client session on it.
func benchView(b *testing.B) (*view, string) {
	b.Helper()
	store, err := settings.Open(filepath.Join(b.TempDir(), "s.json"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{Settings: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	h.events["s"] = newEventLog()
	u := newUpstream(h.upstreamEnv("s"), "s", &settings.Server{Command: "x"})
	sess := &session{tr: &instantTransport{result: json.RawMessage(`{"content":[{"type":"text","text":"benchmark payload of a modest size, like most tool arguments"}]}`)}}
	u.sess.Store(sess)
	u.lists.Store(&lists{tools: []mcp.Tool{{Name: "echo", RawInputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`)}}})
	h.upstreams["s"], h.order = u, []string{"s"}
	v := h.newView("", "")
	h.views[""] = v
	h.rebuildViews()

	init := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
	init.Header.Set("Content-Type", "application/json")
	init.Header.Set("Accept", "application/json, text/event-stream")
	rec := httptest.NewRecorder()
	v.http.ServeHTTP(rec, init)
	sid := rec.Header().Get("Mcp-Session-Id")
	if sid == "" {
		b.Fatalf("no session: %d %s", rec.Code, rec.Body)
	}
	return v, sid
}

const benchCall = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"s-echo","arguments":{"text":"benchmark payload of a modest size, like most tool arguments"}}}`

func benchRequest(sid string) *http.Request {
	r := httptest.NewRequest("POST", "/mcp", strings.NewReader(benchCall))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.Header.Set("Mcp-Session-Id", sid)
	r.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	return r
}

// BenchmarkToolCallFastPath is the hub's own work for one tools/call on its
// fast path: decode the request, route it, encode the upstream request,
// write the response.
func BenchmarkToolCallFastPath(b *testing.B) {
	v, sid := benchView(b)
	v.touch(sid)
	body := []byte(benchCall)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		if !v.fastPath(rec, benchRequest(sid), sid, body) {
			b.Fatal("the fast path declined")
		}
	}
}

// BenchmarkToolCallMCPGo is the same call through mcp-go's server, the path
// of requests the fast path leaves alone.
func BenchmarkToolCallMCPGo(b *testing.B) {
	v, sid := benchView(b)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		v.http.ServeHTTP(rec, benchRequest(sid))
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
