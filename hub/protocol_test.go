//go:build unix

package hub

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/testpeers"
)

// modernPost sends one 2026-07-28 request by hand and returns the HTTP
// answer: its status, and every JSON-RPC message it carried (one JSON
// body, or the events of an SSE stream), in order.
func modernPost(t *testing.T, url, body string, hdr map[string]string) (int, []json.RawMessage) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readMessages(t, resp)
}

// readMessages reads the messages of an answer: one JSON body, or an SSE
// stream's data lines.
func readMessages(t *testing.T, resp *http.Response) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<26)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && d != "" {
				out = append(out, json.RawMessage(d))
			}
		}
		return out
	}
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

const modernMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}`

// TestModernRequestsAreChecked: a 2026-07-28 request's headers must match
// its body, the removed methods are answered as that revision says, GET and
// DELETE do not exist, and what a server answers passes as it wrote it.
func TestModernRequestsAreChecked(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"raw": stdioServer(testServerBin, "raw"), "t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("raw", "t")
	url := h.base + "/mcp"
	call := func(id int, name, mode string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{"mode":%q},%s}}`, id, name, mode, modernMeta)
	}
	for _, c := range []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		code   int
	}{
		{"Mcp-Method differs", call(1, "raw-odd", "content"), map[string]string{"Mcp-Method": "tools/list", "Mcp-Name": "raw-odd"}, 400, -32020},
		{"Mcp-Name differs", call(2, "raw-odd", "content"), map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "other"}, 400, -32020},
		{"Mcp-Name missing", call(3, "raw-odd", "content"), map[string]string{"Mcp-Method": "tools/call"}, 400, -32020},
		{"version differs", call(4, "raw-odd", "content"), map[string]string{"Mcp-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/call", "Mcp-Name": "raw-odd"}, 400, -32020},
		{"ping was removed", `{"jsonrpc":"2.0","id":5,"method":"ping"}`, map[string]string{"Mcp-Method": "ping"}, 404, -32601},
		{"logging/setLevel was removed", `{"jsonrpc":"2.0","id":6,"method":"logging/setLevel","params":{"level":"info"}}`, nil, 404, -32601},
		{"no capabilities", `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, nil, 400, -32602},
		{"an unknown version", `{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}`, map[string]string{"Mcp-Protocol-Version": "2099-01-01"}, 400, -32022},
		{"an unknown method", `{"jsonrpc":"2.0","id":9,"method":"foo/bar",` + modernMeta[:0] + `"params":{` + modernMeta + `}}`, nil, 404, -32601},
	} {
		status, msgs := modernPost(t, url, c.body, c.hdr)
		var a rpcAnswer
		if len(msgs) != 1 || json.Unmarshal(msgs[len(msgs)-1], &a) != nil || a.Error == nil || a.Error.Code != c.code || status != c.status {
			t.Errorf("%s: %d %s; want %d with error %d", c.name, status, msgs, c.status, c.code)
		}
	}
	// The name the client sees goes into Mcp-Name; base64 too.
	status, msgs := modernPost(t, url, call(10, "raw-odd", "content"), map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "=?base64?cmF3LW9kZA==?="})
	if status != 200 || len(msgs) != 1 || !strings.Contains(string(msgs[0]), `"x-future"`) || !strings.Contains(string(msgs[0]), `"resultType":"complete"`) {
		t.Errorf("a base64 Mcp-Name: %d %s", status, msgs)
	}
	// The server's error passes with its code, message and data.
	_, msgs = modernPost(t, url, call(11, "raw-odd", "error"), nil)
	if len(msgs) != 1 || !strings.Contains(string(msgs[0]), `"code":-32042`) || !strings.Contains(string(msgs[0]), `"hint":"retry later"`) {
		t.Errorf("the server's error: %s", msgs)
	}
	for _, method := range []string{"GET", "DELETE"} {
		req, _ := http.NewRequest(method, url, nil)
		req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", method, resp.StatusCode)
		}
	}
	// go-sdk's client cancels with a notification, besides closing its
	// stream: accepted.
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99,"reason":"x"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("notifications/cancelled: %d, want 202", resp.StatusCode)
	}
}

// TestBadServers: a server that answers with neither result nor error, one
// that answers a request nobody sent, one that floods notifications: the
// client gets a clear answer at once, and every server keeps working.
func TestBadServers(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"raw": stdioServer(testServerBin, "raw"), "t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("raw", "t")
	s := newRawSession(t, h.base+"/mcp")
	start := time.Now()
	_, rpcErr := s.call(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"raw-odd","arguments":{"mode":"neither"}}}`)
	if rpcErr == nil || !strings.Contains(string(rpcErr), "not a JSON-RPC response") || time.Since(start) > 5*time.Second {
		t.Errorf("neither result nor error: %s after %v", rpcErr, time.Since(start))
	}
	res, rpcErr := s.call(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"raw-odd","arguments":{"mode":"stray"}}}`)
	if rpcErr != nil || !strings.Contains(string(res), "after a stray answer") {
		t.Errorf("after a stray answer: %s %s", res, rpcErr)
	}
	res, rpcErr = s.call(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"raw-odd","arguments":{"mode":"flood"}}}`)
	if rpcErr != nil || !strings.Contains(string(res), "after a flood") {
		t.Errorf("after a flood: %s %s", res, rpcErr)
	}
	res, rpcErr = s.call(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"t-echo","arguments":{"text":"still here"}}}`)
	if rpcErr != nil || !strings.Contains(string(res), "still here") {
		t.Errorf("the other server after all that: %s %s", res, rpcErr)
	}
}

// TestProgressBeforeResultEveryTime: over streamable HTTP, every progress
// notification of a call reaches the client before its result, in order:
// 30 calls, none lost (the mcp-go transport lost the last one in 13 to 20
// of 30).
func TestProgressBeforeResultEveryTime(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"ev": map[string]any{"url": testpeers.StartEverything(t, "streamableHttp")}}))
	h.waitConnected("ev")
	s := newRawSession(t, h.base+"/mcp/ev")
	for i := range 30 {
		resp := s.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"trigger-long-running-operation","arguments":{"duration":0.1,"steps":3},"_meta":{"progressToken":"p%d"}}}`, 100+i, i))
		msgs := readMessages(t, resp)
		resp.Body.Close()
		var kinds []string
		for _, m := range msgs {
			var v struct {
				Method string `json:"method"`
				Params struct {
					Token    string  `json:"progressToken"`
					Progress float64 `json:"progress"`
				} `json:"params"`
				Result json.RawMessage `json:"result"`
			}
			json.Unmarshal(m, &v)
			switch {
			case v.Method == "notifications/progress":
				if v.Params.Token != fmt.Sprintf("p%d", i) {
					t.Errorf("call %d: progress with token %q", i, v.Params.Token)
				}
				kinds = append(kinds, fmt.Sprint("p", v.Params.Progress))
			case v.Result != nil:
				kinds = append(kinds, "result")
			}
		}
		if strings.Join(kinds, " ") != "p1 p2 p3 result" {
			t.Errorf("call %d: %v, want three progress notifications in order, then the result", i, kinds)
		}
	}
}

// TestLegacyStreamsResume: a 2025 client that loses a call's stream gets
// the rest with a GET and Last-Event-ID, and the retry hint.
func TestLegacyStreamsResume(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("t")
	s := newRawSession(t, h.base+"/mcp")
	resp := s.post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t-progress","arguments":{"steps":4,"delayMs":150},"_meta":{"progressToken":"r"}}}`)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("not a stream: %s", resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	var lastID string
	var sawRetry bool
	for lastID == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "retry: ") {
			sawRetry = true
		}
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
			lastID = id
		}
	}
	resp.Body.Close() // the connection breaks after the first event
	if !sawRetry {
		t.Error("no retry hint before the first event")
	}
	req, _ := http.NewRequest("GET", h.base+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", s.sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	req.Header.Set("Last-Event-ID", lastID)
	resumed, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Body.Close()
	msgs := readMessages(t, resumed)
	var progress, results int
	for _, m := range msgs {
		if strings.Contains(string(m), "notifications/progress") {
			progress++
		}
		if strings.Contains(string(m), `"result"`) && strings.Contains(string(m), `"id":7`) {
			results++
		}
	}
	if progress < 2 || results != 1 {
		t.Errorf("resumed after %s: %d progress notifications, %d results:\n%s", lastID, progress, results, msgs)
	}
}

// TestAggregatedView: one client on /mcp sees every server under prefixed
// names, and what it names reaches the right server: a 2026-07-28 server's
// input requests, a 2025 server's elicitation translated, a prompt and its
// completion, a resource read; the aggregated list's caching hint is no
// looser than any member's; a resource two servers offer is shown on the
// one that lost.
func TestAggregatedView(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{
		"g":  map[string]any{"url": testpeers.StartGoSDKServer(t, "dual").URL},
		"s2": map[string]any{"url": testpeers.StartServer2(t).URL},
		"ev": stdioTarget(testpeers.EverythingStdioTarget(t)),
	}))
	h.waitConnected("g", "s2", "ev")
	steps := []testpeers.Step{
		{Op: "list"},
		{Op: "call", Name: "g-echo", Args: map[string]any{"message": "hi"}},
		{Op: "call", Name: "s2-elicit_form"},
		{Op: "call", Name: "ev-trigger-elicitation-request"},
		{Op: "prompt", Name: "s2-greet", Args: map[string]any{"name": "Bob"}},
		{Op: "complete", Ref: map[string]any{"type": "ref/prompt", "name": "g-greet"}, Argument: map[string]any{"name": "name", "value": "Al"}},
		{Op: "read", URI: "peer://items/7"},
	}
	es := testpeers.RunClient(t, testpeers.GoSDKClient, testpeers.Target{URL: h.base + "/mcp"}, testpeers.Modern, steps)
	results := map[string]string{}
	for _, e := range es.Of("result") {
		results[e.Str("name")] = e.Str("text")
	}
	for name, want := range map[string]string{
		"g-echo":                         "echo: hi",
		"s2-elicit_form":                 "hello canned name (accept)",
		"ev-trigger-elicitation-request": "User provided the requested information",
		"s2-greet":                       "Please greet Bob",
		"peer://items/7":                 "item 7",
	} {
		if !strings.Contains(results[name], want) {
			t.Errorf("%s: %q, want %q", name, results[name], want)
		}
	}
	if c := es.Of("completion"); len(c) == 0 || fmt.Sprint(c[0]["values"]) != "[Alice Albert]" {
		t.Errorf("completion of g-greet: %v", c)
	}
	tools := es.Of("tools")
	if len(tools) == 0 {
		t.Fatalf("no tools:\n%s", es)
	}
	// server-everything gives no caching hint: the aggregate is the
	// strictest.
	if ttl, _ := tools[0]["ttlMs"].(float64); ttl != 0 || tools[0].Str("cacheScope") != "private" {
		t.Errorf("aggregated tools/list hint: ttlMs %v cacheScope %q", tools[0]["ttlMs"], tools[0].Str("cacheScope"))
	}
	// Both test servers offer peer://status: s2, later in the settings'
	// order, shows that its own is reached at /mcp/s2.
	st, _ := h.hub.Details("s2")
	if !slicesContainsPrefix(st.Hidden, "resource peer://status") {
		t.Errorf("s2's hidden items: %v", st.Hidden)
	}
}

func slicesContainsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestServerRequestOutsideACall: a 2025 client tells its servers its roots
// changed; server-everything asks for them at once, outside any call, and
// the hub hands the request to that client on its GET stream; the answer
// goes back, and the server's tool then reports the client's roots.
func TestServerRequestOutsideACall(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"ev": stdioTarget(testpeers.EverythingStdioTarget(t))}))
	h.waitConnected("ev")
	s := &rawSession{t: t, url: h.base + "/mcp/ev"}
	resp := s.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"raw","version":"1"}}}`)
	s.sid = resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	s.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`).Body.Close()

	req, _ := http.NewRequest("GET", s.url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", s.sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	get, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer get.Body.Close()
	asked := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(get.Body)
		for sc.Scan() {
			d, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var m struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
			}
			if json.Unmarshal([]byte(d), &m) == nil && m.Method == "roots/list" {
				asked <- string(m.ID)
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // the GET stream is attached
	s.post(`{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`).Body.Close()
	var id string
	select {
	case id = <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the server's roots/list did not reach the client's GET stream")
	}
	s.post(`{"jsonrpc":"2.0","id":` + id + `,"result":{"roots":[{"uri":"file:///from/the/get/stream","name":"r"}]}}`).Body.Close()
	waitFor(t, 5*time.Second, func() bool {
		res, _ := s.call(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get-roots-list","arguments":{}}}`)
		return strings.Contains(string(res), "file:///from/the/get/stream")
	})
}

// TestHeldCalls: a 2025 server's request during a 2026-07-28 client's call
// ends that request with an input-required result; the retry with the
// answers gets the result; a requestState the client altered is refused;
// and a client that cannot answer gets the call's own end, never a hang.
func TestHeldCalls(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"ev": stdioTarget(testpeers.EverythingStdioTarget(t))}))
	h.waitConnected("ev")
	url := h.base + "/mcp/ev"
	withCaps := func(caps, extra string) string {
		return `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":` + caps + `,"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}` + extra
	}
	hdr := map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "trigger-sampling-request"}
	first := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"trigger-sampling-request","arguments":{"prompt":"2+2?"},` + withCaps(`{"sampling":{}}`, "") + `}}`
	_, msgs := modernPost(t, url, first, hdr)
	var ir struct {
		Result struct {
			ResultType    string                     `json:"resultType"`
			InputRequests map[string]json.RawMessage `json:"inputRequests"`
			RequestState  string                     `json:"requestState"`
		} `json:"result"`
	}
	if len(msgs) != 1 || json.Unmarshal(msgs[0], &ir) != nil || ir.Result.ResultType != "input_required" || len(ir.Result.InputRequests) != 1 {
		t.Fatalf("want an input-required result for the server's sampling request: %s", msgs)
	}
	var key string
	for k := range ir.Result.InputRequests {
		key = k
	}
	retry := func(id int, state string) []json.RawMessage {
		answers := fmt.Sprintf(`,"inputResponses":{%q:{"role":"assistant","content":{"type":"text","text":"four"},"model":"m"}},"requestState":%q`, key, state)
		_, msgs := modernPost(t, url, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"trigger-sampling-request","arguments":{"prompt":"2+2?"},`, id)+withCaps(`{"sampling":{}}`, answers)+`}}`, hdr)
		return msgs
	}
	tampered := ir.Result.RequestState[:len(ir.Result.RequestState)-2] + "xx"
	if msgs := retry(2, tampered); len(msgs) != 1 || !strings.Contains(string(msgs[0]), "-32602") || !strings.Contains(string(msgs[0]), "altered") {
		t.Errorf("a tampered requestState: %s", msgs)
	}
	if msgs := retry(3, ir.Result.RequestState); len(msgs) != 1 || !strings.Contains(string(msgs[0]), "four") || !strings.Contains(string(msgs[0]), `"resultType":"complete"`) {
		t.Errorf("the retry with the answer: %s", msgs)
	}
	if msgs := retry(4, ir.Result.RequestState); len(msgs) != 1 || !strings.Contains(string(msgs[0]), "is over") {
		t.Errorf("a requestState used twice: %s", msgs)
	}
	// A client without sampling: the server is told, and the call ends.
	done := make(chan []json.RawMessage, 1)
	go func() {
		_, msgs := modernPost(t, url, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"trigger-sampling-request","arguments":{"prompt":"2+2?"},`+withCaps(`{}`, "")+`}}`, hdr)
		done <- msgs
	}()
	select {
	case msgs := <-done:
		if len(msgs) != 1 || strings.Contains(string(msgs[0]), "input_required") {
			t.Errorf("a client without sampling: %s", msgs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a client without sampling waited for ever")
	}
}
