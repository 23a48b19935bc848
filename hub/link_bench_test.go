package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

const (
	benchLinkParams = `{"name":"echo","arguments":{"text":"benchmark payload of a modest size, like most tool arguments"}}`
	benchLinkResult = `{"content":[{"type":"text","text":"benchmark payload of a modest size, like most tool arguments"}]}`
)

// benchUpstream is an in-process streamable HTTP server that answers every
// request at once with the same result, as JSON or as a one-event SSE
// stream: what is left to measure is the client side.
func benchUpstream(b *testing.B, sse bool) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ok := rawjson.Get(body, "id")
		if !ok {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		var resp []byte
		if sse {
			resp = append(resp, "event: message\ndata: "...)
		}
		resp = append(resp, `{"jsonrpc":"2.0","id":`...)
		resp = append(resp, id...)
		resp = append(resp, `,"result":`...)
		resp = append(resp, benchLinkResult...)
		resp = append(resp, '}')
		if sse {
			resp = append(resp, "\n\n"...)
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
		_, _ = w.Write(resp)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkLinkHTTP is one tools/call round trip through the streamable HTTP
// link (2025 era, a session id; 2026-07-28 with its headers), the server
// answering with JSON or SSE. Compare with BenchmarkMCPGoStreamableHTTP.
func BenchmarkLinkHTTP(b *testing.B) {
	for _, mode := range []struct {
		name, version string
		sse           bool
	}{
		{"json/2025", legacyVersionBench, false},
		{"sse/2025", legacyVersionBench, true},
		{"json/2026", modernVersion, false},
		{"sse/2026", modernVersion, true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			srv := benchUpstream(b, mode.sse)
			l, err := newHTTPLink(httpLinkConfig{URL: srv.URL, Client: srv.Client()})
			if err != nil {
				b.Fatal(err)
			}
			var got []byte
			if err := l.start(context.Background(), deliverFunc(func(msg []byte, _ json.RawMessage) { got = msg })); err != nil {
				b.Fatal(err)
			}
			defer l.close()
			l.setSession("bench-session")
			ctx := context.Background()
			var idBuf []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				idBuf = strconv.AppendInt(idBuf[:0], int64(i), 10)
				msg := make([]byte, 0, 160)
				msg = append(msg, `{"jsonrpc":"2.0","id":`...)
				msg = append(msg, idBuf...)
				msg = append(msg, `,"method":"tools/call","params":`...)
				msg = append(msg, benchLinkParams...)
				msg = append(msg, '}')
				if err := l.send(ctx, msg, sendInfo{id: idBuf, method: "tools/call", name: "echo", version: mode.version}); err != nil {
					b.Fatal(err)
				}
				if !bytes.Contains(got, []byte(benchLinkResult)) {
					b.Fatalf("got %s", got)
				}
			}
		})
	}
}

const legacyVersionBench = "2025-11-25"

// BenchmarkMCPGoStreamableHTTP is BenchmarkLinkHTTP's round trip through
// mcp-go's StreamableHTTP client transport, which the hub uses today.
func BenchmarkMCPGoStreamableHTTP(b *testing.B) {
	for _, mode := range []struct {
		name string
		sse  bool
	}{{"json", false}, {"sse", true}} {
		b.Run(mode.name, func(b *testing.B) {
			srv := benchUpstream(b, mode.sse)
			tr, err := transport.NewStreamableHTTP(srv.URL, transport.WithHTTPBasicClient(srv.Client()))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := tr.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			tr.SetProtocolVersion(legacyVersionBench)
			params := json.RawMessage(benchLinkParams)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				resp, err := tr.SendRequest(ctx, transport.JSONRPCRequest{JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(int64(i)), Method: "tools/call", Params: params})
				if err != nil {
					b.Fatal(err)
				}
				if !bytes.Contains(resp.Result, []byte(benchLinkResult)) {
					b.Fatalf("got %s", resp.Result)
				}
			}
		})
	}
}
