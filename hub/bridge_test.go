//go:build unix

package hub

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/testpeers/payload"
)

// startBridge runs a hub with the Go test server as "t" and a bridge to
// it: what the test writes to in is the client's, lines what the bridge
// writes for it; done gets Bridge's return once in is closed.
func startBridge(t *testing.T) (h *harness, in *io.PipeWriter, lines *bufio.Reader, done <-chan error) {
	h = startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("t")
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ended := make(chan error, 1)
	go func() { ended <- Bridge(ctx, BridgeConfig{URL: h.base + "/mcp", In: inR, Out: outW}); outW.Close() }()
	return h, inW, bufio.NewReaderSize(outR, 1<<20), ended
}

// TestBridgeRenewsASessionTheHubForgot: the bridge carries a 2025 session
// and 2026-07-28 requests over one stdio connection, answers a line that
// is no JSON with a parse error, and when the hub forgets the session (it
// restarted), starts a new one with the client's initialize, so that the
// client's call goes on. The real clients' test is app's TestStdioBridge.
func TestBridgeRenewsASessionTheHubForgot(t *testing.T) {
	h, inW, lines, done := startBridge(t)
	send := func(msg string) {
		t.Helper()
		if _, err := io.WriteString(inW, msg+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	next := func() map[string]any {
		t.Helper()
		got := make(chan string, 1)
		go func() { l, _ := lines.ReadString('\n'); got <- l }()
		select {
		case l := <-got:
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("the bridge wrote %q: %v", l, err)
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no message from the bridge within 10 s")
		}
		return nil
	}

	send(`{not json`)
	if m := next(); m["error"].(map[string]any)["code"] != float64(codeParseError) {
		t.Errorf("a line that is no JSON: %v", m)
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bridge-test","version":"1"}}}`)
	if m := next(); m["result"].(map[string]any)["protocolVersion"] != "2025-06-18" {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	call := `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":"t-echo","arguments":{"text":"TEXT"}}}`
	send(strings.NewReplacer("ID", "2", "TEXT", "before").Replace(call))
	if m := next(); !strings.Contains(mustJSON(m), `"text":"before"`) {
		t.Fatalf("a call in the session: %v", m)
	}
	sessions := h.hub.sessions.all()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions at the hub, want the bridge's one", len(sessions))
	}
	for _, s := range sessions { // as a restart of the hub forgets it
		h.hub.sessions.remove(s.id)
		s.close()
	}
	send(strings.NewReplacer("ID", "3", "TEXT", "after").Replace(call))
	if m := next(); !strings.Contains(mustJSON(m), `"text":"after"`) || m["id"] != float64(3) {
		t.Fatalf("a call after the hub forgot the session: %v", m)
	}
	if n := len(h.hub.sessions.all()); n != 1 {
		t.Errorf("%d sessions at the hub after the renewal, want 1", n)
	}
	// A 2026-07-28 request over the same connection describes itself.
	send(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"t-echo","arguments":{"text":"modern"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`)
	if m := next(); !strings.Contains(mustJSON(m), `"text":"modern"`) || !strings.Contains(mustJSON(m), `"resultType":"complete"`) {
		t.Fatalf("a 2026-07-28 call: %v", m)
	}
	inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the bridge ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the bridge did not end within 10 s of its input's end")
	}
	waitFor(t, 5*time.Second, func() bool { return len(h.hub.sessions.all()) == 0 })
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestBridgeLargeAnswer: an answer over largeMessage reaches the stdio
// client whole, on one line, written from its rope.
func TestBridgeLargeAnswer(t *testing.T) {
	_, inW, lines, _ := startBridge(t)
	io.WriteString(inW, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t-huge","arguments":{"mib":3},`+modernMeta+`}}`+"\n")
	line, err := lines.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID     int
		Result struct{ Content []struct{ Text string } }
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("%d bytes that are no message: %v", len(line), err)
	}
	if m.ID != 1 || len(m.Result.Content) != 1 || m.Result.Content[0].Text != payload.Text(3<<20) {
		t.Errorf("answer %d, %d bytes", m.ID, len(line))
	}
	inW.Close()
}
