//go:build unix

package hub

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// shortTimeouts makes the body and idle timeouts short enough to test.
func shortTimeouts(c *Config) {
	c.BodyTimeout = 300 * time.Millisecond
	c.IdleTimeout = 500 * time.Millisecond
}

// TestSlowBody: a body trickling in a byte at a time is cut at the body
// timeout with 408, and its connection closed (issue 11).
func TestSlowBody(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}), shortTimeouts)
	h.waitConnected("t")
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	conn, err := net.Dial("tcp", h.hub.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n", h.hub.Addr(), len(body))
	start := time.Now()
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- nil
			return
		}
		io.Copy(io.Discard, resp.Body)
		answered <- resp
	}()
	// One byte every 100 ms would take 14 s; the hub must not wait that long.
	var resp *http.Response
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; resp == nil && i < len(body); i++ {
		select {
		case resp = <-answered:
		case <-tick.C:
			conn.Write([]byte{body[i]}) // fails once the hub hangs up; the answer tells
		}
	}
	if resp == nil {
		select {
		case resp = <-answered:
		case <-time.After(5 * time.Second):
			t.Fatal("no answer to a body sent a byte at a time")
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %v", took)
	}
	if resp == nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("answer %+v, want 408", resp)
	}
	// The connection is closed: nothing more can be read from it.
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("the connection stays open (read %d bytes)", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("the connection stays open after the 408")
	}
}

// TestIdleConnectionsClose: a keep-alive connection that carries no request
// for the idle timeout is closed, while one in use stays (issue 11).
func TestIdleConnectionsClose(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{}), shortTimeouts)
	conn, err := net.Dial("tcp", h.hub.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	get := func() error {
		fmt.Fprintf(conn, "GET /api/health HTTP/1.1\r\nHost: %s\r\n\r\n", h.hub.Addr())
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Requests 200 ms apart, for longer than the idle timeout, all on one
	// connection.
	for i := 0; i < 6; i++ {
		if err := get(); err != nil {
			t.Fatalf("request %d on a busy connection: %v", i+1, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	idleSince := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = r.ReadByte()
	if err == nil {
		t.Fatal("the hub sent something on an idle connection")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("an idle keep-alive connection stays open")
	}
	if took := time.Since(idleSince); took > 3*time.Second {
		t.Errorf("closed after %v idle", took)
	}
}

// TestTimeoutsSpareStreams: neither timeout cuts what runs long on
// purpose: a call answered after both timeouts, over streamable HTTP, and
// a legacy SSE stream left quiet for longer than both, then used.
func TestTimeoutsSpareStreams(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}), shortTimeouts)
	h.waitConnected("t")
	for _, sse := range []bool{false, true} {
		path := "/mcp/t"
		if sse {
			path = "/sse/t"
		}
		c, _ := h.connect(path, sse)
		if sse {
			time.Sleep(time.Second) // the stream is quiet for twice the idle timeout
		}
		res := callTool(t, c, "sleep", map[string]any{"ms": 1200})
		if res.IsError {
			t.Errorf("sse %v: a call longer than the timeouts failed: %s", sse, resultText(res))
		}
		if got := toolNames(t, c); len(got) == 0 || !strings.Contains(strings.Join(got, " "), "sleep") {
			t.Errorf("sse %v: after the long call the session lists %v", sse, got)
		}
		c.Close()
	}
	// A 2026-07-28 request's answer comes on its own POST, long after the
	// body was read.
	body := `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1200},` + modernMeta + `}}`
	status, msgs := modernPost(t, h.base+"/mcp/t", body, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "sleep"})
	if status != 200 || len(msgs) == 0 || !strings.Contains(string(msgs[len(msgs)-1]), "slept") {
		t.Errorf("a 2026-07-28 call longer than the timeouts: %d %s", status, msgs)
	}
}

// sessionStatus sends method (a ping for POST) in session sid and returns
// the HTTP status.
func sessionStatus(t *testing.T, method, url, sid string) int {
	t.Helper()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	}
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestSessionLimits: a terminated session is forgotten; beyond the bound
// the session idle longest is closed, and a client that comes back with it
// gets 404, the transport's word for "open a new one" (2025-11-25,
// basic/transports "Session Management"); idle sessions cost little.
func TestSessionLimits(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("t")
	url := h.base + "/mcp/t"
	count := func() int {
		h.hub.sessions.mu.Lock()
		defer h.hub.sessions.mu.Unlock()
		return len(h.hub.sessions.byID)
	}

	// Terminated: DELETE, then the id is unknown.
	sid := newRawSession(t, url).sid
	if got := sessionStatus(t, "DELETE", url, sid); got/100 != 2 {
		t.Fatalf("DELETE: %d", got)
	}
	if got := sessionStatus(t, "POST", url, sid); got != http.StatusNotFound {
		t.Errorf("a ping in a terminated session: %d, want 404", got)
	}
	if n := count(); n != 0 {
		t.Errorf("%d sessions kept after the only one ended", n)
	}

	// The bound.
	h.hub.sessions.mu.Lock()
	h.hub.sessions.max = 20
	h.hub.sessions.mu.Unlock()
	var ids []string
	for range 20 {
		ids = append(ids, newRawSession(t, url).sid)
	}
	time.Sleep(5 * time.Millisecond) // the clock tells the first one's use apart
	if got := sessionStatus(t, "POST", url, ids[0]); got != 200 {
		t.Fatalf("a ping: %d", got)
	}
	for range 5 {
		ids = append(ids, newRawSession(t, url).sid)
	}
	if n := count(); n != 20 {
		t.Errorf("%d sessions, want the bound, 20", n)
	}
	for i, id := range ids {
		want := 200
		if i >= 1 && i <= 5 {
			want = http.StatusNotFound // idle longest: closed for the newest five
		}
		if got := sessionStatus(t, "POST", url, id); got != want {
			t.Errorf("session %d: %d, want %d", i, got, want)
		}
	}
}

// TestIdleSessionCost: an idle session keeps at most 2 KB of the hub's
// heap (issue 11). It counts bytes, not time.
func TestIdleSessionCost(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("t")
	url := h.base + "/mcp/t"
	newRawSession(t, url) // warm: connections, pools
	const n = 2000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		newRawSession(t, url)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("an idle session: %d bytes of heap", per)
	if per > 2048 {
		t.Errorf("an idle session keeps %d bytes, want at most 2048", per)
	}
}
