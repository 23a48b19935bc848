//go:build unix

package hub

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/testpeers/rawpeer"
)

// rawSession is a client that speaks the streamable HTTP transport by hand,
// to see the hub's answers byte for byte.
type rawSession struct {
	t   *testing.T
	url string
	sid string
}

func newRawSession(t *testing.T, url string) *rawSession {
	t.Helper()
	s := &rawSession{t: t, url: url}
	resp := s.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	s.sid = resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	if s.sid == "" {
		t.Fatal("no session id")
	}
	s.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`).Body.Close()
	return s
}

func (s *rawSession) post(body string) *http.Response {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.sid != "" {
		req.Header.Set("Mcp-Session-Id", s.sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

// call posts a request and returns the JSON-RPC response's result or error
// member as the hub wrote it.
func (s *rawSession) call(body string) (result, rpcErr json.RawMessage) {
	s.t.Helper()
	resp := s.post(body)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/event-stream") {
		for line := range strings.SplitSeq(string(data), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				data = []byte(d)
			}
		}
	}
	var msg struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		s.t.Fatalf("answer %q: %v", data, err)
	}
	return msg.Result, msg.Error
}

func compact(t *testing.T, s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestResultsAndErrorsPassThroughUnchanged sends calls whose answers no SDK
// would write, and expects them byte for byte: an unknown content type,
// fields of the future, and a JSON-RPC error with its own code and data.
func TestResultsAndErrorsPassThroughUnchanged(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"raw": stdioServer(testServerBin, "raw")}))
	h.waitConnected("raw")
	s := newRawSession(t, h.base+"/mcp")

	res, rpcErr := s.call(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"raw-odd","arguments":{"mode":"content"}}}`)
	if rpcErr != nil || string(res) != rawpeer.Results["content"] {
		t.Errorf("result changed on the way:\n got %s\nwant %s", res, rawpeer.Results["content"])
	}
	_, rpcErr = s.call(`{"jsonrpc":"2.0","id":"two","method":"tools/call","params":{"name":"raw-odd","arguments":{"mode":"error"}}}`)
	if compact(t, string(rpcErr)) != rawpeer.Errors["error"] {
		t.Errorf("error changed on the way:\n got %s\nwant %s", rpcErr, rawpeer.Errors["error"])
	}

	// The same through mcp-go's path (a progress token sends the call
	// there): the unknown content type still passes.
	res, rpcErr = s.call(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"raw-odd","arguments":{"mode":"content"},"_meta":{"progressToken":"p"}}}`)
	if rpcErr != nil || !strings.Contains(string(res), `{"type":"x-future","payload":{"a":1}}`) || !strings.Contains(string(res), `"structuredContent":{"k":[1,2]}`) {
		t.Errorf("mcp-go path: %s %s", res, rpcErr)
	}

	// The tool's schema keeps what mcp-go's schema type has no field for.
	_, _ = s.call(`{"jsonrpc":"2.0","id":4,"method":"tools/list"}`)
	res, _ = s.call(`{"jsonrpc":"2.0","id":5,"method":"tools/list"}`)
	if !strings.Contains(string(res), `"anyOf":[{"required":["mode"]}]`) {
		t.Errorf("tools/list lost anyOf: %s", res)
	}
}

// TestClientCancellationOnTheFastPath sends notifications/cancelled for a
// call in flight and expects the upstream to be told.
func TestClientCancellationOnTheFastPath(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("t")
	s := newRawSession(t, h.base+"/mcp")
	done := make(chan json.RawMessage)
	go func() {
		_, e := s.call(`{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"t-sleep","arguments":{"ms":20000}}}`)
		done <- e
	}()
	time.Sleep(300 * time.Millisecond) // the call is in flight
	resp := s.post(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":41,"reason":"changed my mind"}}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("notifications/cancelled: %d", resp.StatusCode)
	}
	select {
	case e := <-done:
		if e == nil {
			t.Error("the cancelled call answered with a result")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled call did not end")
	}
	res, _ := s.call(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"t-cancellations"}}`)
	if !strings.Contains(string(res), `"text":"1"`) {
		t.Errorf("the upstream did not see the cancellation: %s", res)
	}
}
