//go:build unix

package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcptray/mcptray/hub/internal/rope"
	"github.com/mcptray/mcptray/testpeers"
	"github.com/mcptray/mcptray/testpeers/payload"
)

// largeMiB is the size of the large results of these tests.
const largeMiB = 12

// largeHub is a hub with the Go test server twice: "local" over stdio and
// "web" over streamable HTTP.
func largeHub(t *testing.T) *harness {
	up := testpeers.StartProcess(t, testServerBin, []string{"http", "127.0.0.1:0"}, nil, 1)
	h := startHub(t, settingsJSON(map[string]any{
		"local": stdioServer(testServerBin, "stdio"),
		"web":   map[string]any{"type": "streamable-http", "url": fmt.Sprintf("http://127.0.0.1:%d/mcp", up.Port)},
	}))
	h.waitConnected("local", "web")
	return h
}

// TestLargeResults: a result many times largeMessage reaches every kind of
// client whole, byte for byte, from a stdio server, from a streamable HTTP
// server answering JSON, and from one answering an SSE stream (a progress
// notification first makes it one).
func TestLargeResults(t *testing.T) {
	h := largeHub(t)
	want := payload.Text(largeMiB << 20)
	for _, server := range []string{"local", "web"} {
		for _, stream := range []bool{false, true} {
			for _, sse := range []bool{false, true} {
				name := fmt.Sprintf("%s, upstream stream %v, legacy SSE client %v", server, stream, sse)
				path := "/mcp/" + server
				if sse {
					path = "/sse/" + server
				}
				c, _ := h.connect(path, sse)
				req := mcp.CallToolRequest{}
				req.Params.Name = "huge"
				req.Params.Arguments = map[string]any{"mib": largeMiB}
				if stream {
					req.Params.Meta = &mcp.Meta{ProgressToken: "p"}
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				res, err := c.CallTool(ctx, req)
				cancel()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got := resultText(res); got != want {
					t.Errorf("%s: %d bytes, want %d, the same: %v", name, len(got), len(want), strings.HasPrefix(want, got[:min(len(got), 100)]))
				}
				c.Close()
			}
		}
		// A 2026-07-28 client, in one POST.
		body := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"huge","arguments":{"mib":` + fmt.Sprint(largeMiB) + `},` + modernMeta + `}}`
		status, msgs := modernPost(t, h.base+"/mcp/"+server, body, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "huge"})
		var a struct {
			Result struct {
				Content    []struct{ Text string }
				ResultType string
			}
		}
		if status != 200 || len(msgs) != 1 || json.Unmarshal(msgs[0], &a) != nil || len(a.Result.Content) != 1 || a.Result.Content[0].Text != want || a.Result.ResultType != "complete" {
			t.Errorf("%s, a 2026-07-28 client: %d, %d messages, resultType %q", server, status, len(msgs), a.Result.ResultType)
		}
	}
}

// TestLargeResultMemory: while a large result passes, the hub allocates
// about its size once, not the copies of a growing buffer (issue 11);
// after it, the heap is back where it was and its memory is returned to
// the system. It counts bytes allocated, not time.
func TestLargeResultMemory(t *testing.T) {
	h := largeHub(t)
	call := func(server string, mib int, stream bool) int64 {
		t.Helper()
		meta := modernMeta
		if stream {
			meta = strings.Replace(modernMeta, `"_meta":{`, `"_meta":{"progressToken":"p",`, 1)
		}
		body := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"huge","arguments":{"mib":` + fmt.Sprint(mib) + `},` + meta + `}}`
		req, _ := http.NewRequest("POST", h.base+"/mcp/"+server, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
		req.Header.Set("Mcp-Method", "tools/call")
		req.Header.Set("Mcp-Name", "huge")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		// Read in small pieces and thrown away: the test's side allocates
		// next to nothing.
		r := bufio.NewReaderSize(resp.Body, 32<<10)
		head, _ := r.Peek(64)
		if !bytes.Contains(head, []byte(`"jsonrpc"`)) {
			t.Fatalf("answer begins %q", head)
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	size := int64(largeMiB << 20)
	for _, c := range []struct {
		server string
		stream bool
		how    string
	}{{"local", false, "a stdio line"}, {"web", false, "a JSON body"}, {"web", true, "an SSE event"}} {
		call(c.server, 1, c.stream) // warm: connections, buffers, pools
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if n := call(c.server, largeMiB, c.stream); n < size {
			t.Fatalf("%s: answer of %d bytes, want over %d", c.how, n, size)
		}
		runtime.ReadMemStats(&after)
		allocated := int64(after.TotalAlloc - before.TotalAlloc)
		t.Logf("a %d MiB result in %s: %.1f MiB allocated", largeMiB, c.how, float64(allocated)/(1<<20))
		if allocated > size*5/4 {
			t.Errorf("a %d MiB result in %s allocated %.1f MiB, want at most 1.25 times its size", largeMiB, c.how, float64(allocated)/(1<<20))
		}
		// The hub gives the memory back giveBackAfter after the result.
		waitFor(t, 10*time.Second, func() bool {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapInuse < before.HeapInuse+8<<20 && m.HeapIdle-m.HeapReleased < 8<<20
		})
	}
}

// TestStandIn: what a large message's stand-in holds, and that putting the
// values back gives the server's bytes.
func TestStandIn(t *testing.T) {
	big := `"` + strings.Repeat("z", largeValue+1) + `"`
	fake := `"\u0000mcptray-large-0000000000000000-0"` // another process's, or a server's guess
	for _, c := range []struct {
		name, msg string
		standIn   bool
	}{
		{"a large content", `{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":` + big + `}],"isError":false,"guess":` + fake + `}}`, true},
		{"the result first, as the TypeScript SDK writes it", `{"result":{"structuredContent":{"v":` + big + `},"content":[]},"jsonrpc":"2.0","id":"s"}`, true},
		{"a large error", `{"jsonrpc":"2.0","id":4,"error":{"code":1,"message":` + big + `}}`, false},
		{"a result that is no object", `{"jsonrpc":"2.0","id":4,"result":[` + big + `]}`, false},
		{"only small values", `{"jsonrpc":"2.0","id":4,"result":{"a":"` + strings.Repeat("y", largeValue-2) + `","b":"` + strings.Repeat("y", largeValue-2) + `"}}`, false},
		{"a request", `{"jsonrpc":"2.0","id":4,"method":"sampling/createMessage","params":{"x":` + big + `}}`, false},
	} {
		r := &rope.Rope{}
		r.Write([]byte(c.msg))
		out, err := rope.Scan(r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		env, sp := standIn(r, out)
		if (env != nil) != c.standIn {
			t.Errorf("%s: stand-in %v, want %v", c.name, env != nil, c.standIn)
			continue
		}
		if env == nil {
			continue
		}
		if len(env) > 1024 || !json.Valid(env) {
			t.Errorf("%s: a stand-in of %d bytes (valid %v)", c.name, len(env), json.Valid(env))
		}
		m, err := parseMessage(env)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m.large = sp
		if got := bytes.Join(sp.expand(env), nil); string(got) != c.msg {
			t.Errorf("%s: expanded to %.200s", c.name, got)
		}
		if w := m.whole(); w.large != nil || string(w.raw) != c.msg {
			t.Errorf("%s: whole is %.200s", c.name, w.raw)
		}
	}
}
