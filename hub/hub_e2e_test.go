//go:build unix

package hub

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcptray/mcptray/testpeers"
)

// TestEverythingOverEveryTransport puts server-everything behind the hub
// over stdio, SSE and streamable HTTP, and drives the hub with mcp-go's
// client over both of the hub's own transports.
func TestEverythingOverEveryTransport(t *testing.T) {
	cmd, args := testpeers.EverythingStdio(t)
	h := startHub(t, settingsJSON(map[string]any{
		"ev-stdio": stdioServer(cmd, args...),
		"ev-sse":   map[string]any{"type": "sse", "url": testpeers.StartEverything(t, "sse")},
		"ev-http":  map[string]any{"type": "streamable-http", "url": testpeers.StartEverything(t, "streamableHttp")},
	}))
	h.waitConnected("ev-stdio", "ev-sse", "ev-http")

	for _, viaSSE := range []bool{false, true} {
		path := "/mcp"
		if viaSSE {
			path = "/sse"
		}
		c, _ := h.connect(path, viaSSE)
		names := toolNames(t, c)
		for _, srv := range []string{"ev-stdio", "ev-sse", "ev-http"} {
			for _, tool := range []string{"echo", "get-sum", "get-structured-content", "get-tiny-image", "trigger-long-running-operation"} {
				if !slices.Contains(names, srv+"-"+tool) {
					t.Errorf("%s: tool %s-%s missing from %v", path, srv, tool, names)
				}
			}
			if got := resultText(callTool(t, c, srv+"-echo", map[string]any{"message": "hi from " + path})); got != "Echo: hi from "+path {
				t.Errorf("%s %s-echo: %q", path, srv, got)
			}
			sum := callTool(t, c, srv+"-get-sum", map[string]any{"a": 2, "b": 40})
			if !strings.Contains(resultText(sum), "42") {
				t.Errorf("%s %s-get-sum: %q", path, srv, resultText(sum))
			}
			structured := callTool(t, c, srv+"-get-structured-content", map[string]any{"location": "Chicago"})
			sc, _ := json.Marshal(structured.StructuredContent)
			if !strings.Contains(string(sc), "temperature") {
				t.Errorf("%s %s structured content lost: %s", path, srv, sc)
			}
			img := callTool(t, c, srv+"-get-tiny-image", nil)
			var sawImage bool
			for _, item := range img.Content {
				if ic, ok := item.(mcp.ImageContent); ok && ic.MIMEType == "image/png" && len(ic.Data) > 100 {
					sawImage = true
				}
			}
			if !sawImage {
				t.Errorf("%s %s-get-tiny-image: no image content in %+v", path, srv, img.Content)
			}
		}

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		prompts, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var promptNames []string
		for _, p := range prompts.Prompts {
			promptNames = append(promptNames, p.Name)
		}
		if !slices.Contains(promptNames, "ev-http-simple-prompt") {
			t.Errorf("prompts %v lack ev-http-simple-prompt", promptNames)
		}
		gp := mcp.GetPromptRequest{}
		gp.Params.Name = "ev-stdio-args-prompt"
		gp.Params.Arguments = map[string]string{"city": "Lisbon"}
		got, err := c.GetPrompt(ctx, gp)
		if err != nil {
			t.Fatalf("prompts/get: %v", err)
		}
		if len(got.Messages) == 0 {
			t.Error("prompts/get returned no messages")
		} else if tc, ok := got.Messages[0].Content.(mcp.TextContent); !ok || !strings.Contains(tc.Text, "Lisbon") {
			t.Errorf("prompt message %+v lacks the argument", got.Messages[0].Content)
		}

		res, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Resources) == 0 {
			t.Fatal("no resources")
		}
		rr := mcp.ReadResourceRequest{}
		rr.Params.URI = res.Resources[0].URI
		read, err := c.ReadResource(ctx, rr)
		if err != nil {
			t.Fatalf("resources/read %s: %v", rr.Params.URI, err)
		}
		if len(read.Contents) == 0 {
			t.Error("resources/read returned nothing")
		}
		templates, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(templates.ResourceTemplates) == 0 {
			t.Error("no resource templates")
		}
		cancel()
	}

	// One server alone at /mcp/{name}: exactly its tools as /mcp lists
	// them, no other server's, under the server's own names (issue 12:
	// the route for a client that wants one server as if connected to it
	// directly).
	all, _ := h.connect("/mcp", false)
	var want []string
	for _, n := range toolNames(t, all) {
		if own, ok := strings.CutPrefix(n, "ev-http-"); ok {
			want = append(want, own)
		}
	}
	one, _ := h.connect("/mcp/ev-http", false)
	got := toolNames(t, one)
	slices.Sort(want)
	slices.Sort(got)
	if len(got) == 0 || !slices.Equal(got, want) || !slices.Contains(got, "echo") {
		t.Errorf("/mcp/ev-http lists %v, want %v", got, want)
	}
	if res := resultText(callTool(t, one, "echo", map[string]any{"message": "alone"})); res != "Echo: alone" {
		t.Errorf("/mcp/ev-http echo: %q", res)
	}
	if _, err := callToolErr(one, "ev-stdio-echo", map[string]any{"message": "x"}); err == nil {
		t.Error("/mcp/ev-http calls another server's tool")
	}
	var list ServerList
	if code := h.do("GET", "/api/servers", nil, &list); code != 200 || len(list.Servers) != 3 {
		t.Fatalf("GET /api/servers: %d %+v", code, list)
	}
	for _, s := range list.Servers {
		if s.State != StateConnected || s.Tools == 0 || s.Prompts == 0 || s.Resources == 0 {
			t.Errorf("status %+v", s)
		}
	}
}

// TestInspectorCLI drives the hub with the MCP Inspector's CLI.
func TestInspectorCLI(t *testing.T) {
	cmd, args := testpeers.EverythingStdio(t)
	h := startHub(t, settingsJSON(map[string]any{"everything": stdioServer(cmd, args...)}))
	h.waitConnected("everything")
	out, err := testpeers.Inspector(t, h.base+"/mcp", "--transport", "http", "--method", "tools/list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"everything-echo"`) {
		t.Errorf("inspector tools/list: %s", out)
	}
	out, err = testpeers.Inspector(t, h.base+"/mcp", "--transport", "http", "--method", "tools/call", "--tool-name", "everything-echo", "--tool-arg", "message=inspected")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "Echo: inspected") {
		t.Errorf("inspector tools/call: %s", out)
	}
	out, err = testpeers.Inspector(t, h.base+"/sse", "--transport", "sse", "--method", "prompts/list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "everything-simple-prompt") {
		t.Errorf("inspector prompts/list over SSE: %s", out)
	}
}

// TestSettingsEditReachesClients adds and removes a server in the file and
// expects connected clients to hear list_changed and see the change, while
// the untouched server keeps its process.
func TestSettingsEditReachesClients(t *testing.T) {
	cmd, args := testpeers.EverythingStdio(t)
	first := settingsJSON(map[string]any{"everything": stdioServer(cmd, args...)})
	h := startHub(t, first)
	h.waitConnected("everything")
	pid := h.waitStatus("everything", time.Second, func(s ServerStatus) bool { return s.PID != 0 }).PID
	c, notes := h.connect("/mcp", false)
	sc, sseNotes := h.connect("/sse", true)
	if slices.Contains(toolNames(t, c), "extra-echo") {
		t.Fatal("extra-echo before it was added")
	}

	h.writeSettings(settingsJSON(map[string]any{
		"everything": stdioServer(cmd, args...),
		"extra":      stdioServer(testServerBin, "stdio"),
	}))
	h.waitConnected("extra")
	notes.waitCount(t, "notifications/tools/list_changed", 1, 5*time.Second)
	sseNotes.waitCount(t, "notifications/tools/list_changed", 1, 5*time.Second)
	waitListed(t, c, "extra-echo", true)
	waitListed(t, sc, "extra-echo", true)
	if got := resultText(callTool(t, c, "extra-echo", map[string]any{"text": "new"})); got != "new" {
		t.Errorf("extra-echo: %q", got)
	}
	if now, _ := h.hub.Details("everything"); now.PID != pid {
		t.Errorf("the untouched server was restarted: pid %d, then %d", pid, now.PID)
	}

	before := notes.count("notifications/tools/list_changed")
	h.writeSettings(first)
	notes.waitCount(t, "notifications/tools/list_changed", before+1, 5*time.Second)
	waitListed(t, c, "extra-echo", false)
	if _, found := h.hub.Details("extra"); found {
		t.Error("the removed server is still in the status")
	}

	// An upstream's own list_changed reaches clients too.
	h.writeSettings(settingsJSON(map[string]any{
		"everything": stdioServer(cmd, args...),
		"extra":      stdioServer(testServerBin, "stdio"),
	}))
	h.waitConnected("extra")
	waitListed(t, c, "extra-add_tool", true)
	before = notes.count("notifications/tools/list_changed")
	callTool(t, c, "extra-add_tool", nil)
	notes.waitCount(t, "notifications/tools/list_changed", before+1, 5*time.Second)
	waitListed(t, c, "extra-added_1", true)
}

// TestToolOverrides hides and renames tools with MCPHub's tools block, with
// no reconnect.
func TestToolOverrides(t *testing.T) {
	srv := stdioServer(testServerBin, "stdio")
	h := startHub(t, settingsJSON(map[string]any{"t": srv}))
	h.waitConnected("t")
	pid := h.waitStatus("t", time.Second, func(s ServerStatus) bool { return s.PID != 0 }).PID
	c, notes := h.connect("/mcp", false)
	srv["tools"] = map[string]any{
		"huge": map[string]any{"enabled": false},
		"echo": map[string]any{"enabled": true, "description": "Says it back"},
	}
	waitListed(t, c, "t-huge", true)
	before := notes.count("notifications/tools/list_changed")
	h.writeSettings(settingsJSON(map[string]any{"t": srv}))
	notes.waitCount(t, "notifications/tools/list_changed", before+1, 5*time.Second)
	waitListed(t, c, "t-huge", false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		if tool.Name == "t-huge" {
			t.Error("a disabled tool is listed")
		}
		if tool.Name == "t-echo" && tool.Description != "Says it back" {
			t.Errorf("description override not applied: %q", tool.Description)
		}
	}
	if _, err := callToolErr(c, "t-huge", map[string]any{"mib": 1}); err == nil {
		t.Error("a disabled tool can be called")
	}
	if d, _ := h.hub.Details("t"); d.PID != pid {
		t.Error("changing tool overrides reconnected the server")
	}
}

// TestKilledStdioServerComesBack kills server-everything and expects the
// hub to start it again and its tools to work again.
func TestKilledStdioServerComesBack(t *testing.T) {
	cmd, args := testpeers.EverythingStdio(t)
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(cmd, args...)}))
	h.waitConnected("t")
	c, _ := h.connect("/mcp", false)
	pid := h.waitStatus("t", time.Second, func(s ServerStatus) bool { return s.PID != 0 }).PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitStatus("t", 5*time.Second, func(s ServerStatus) bool { return s.State != StateConnected || s.PID != pid })
	st := h.waitStatus("t", 20*time.Second, func(s ServerStatus) bool { return s.State == StateConnected && s.PID != pid })
	if st.PID == 0 {
		t.Fatal("no new process")
	}
	waitListed(t, c, "t-echo", true)
	if got := resultText(callTool(t, c, "t-echo", map[string]any{"message": "back"})); got != "Echo: back" {
		t.Errorf("after the restart: %q", got)
	}
	d, _ := h.hub.Details("t")
	var sawLoss bool
	for _, e := range d.Events {
		if strings.Contains(e.Message, "connection lost") {
			sawLoss = true
		}
	}
	if !sawLoss {
		t.Errorf("no event tells of the lost connection: %+v", d.Events)
	}
}

// TestDeadServersDoNotDelayTheOthers has a refused URL and a URL that
// accepts connections and never answers beside a working server: the working
// one connects while the hanging one is still trying.
func TestDeadServersDoNotDelayTheOthers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, conn) // never answered
		}
	}()
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedURL := "http://" + refused.Addr().String() + "/mcp"
	refused.Close()
	everything, everythingArgs := testpeers.EverythingStdio(t)
	h := startHub(t, settingsJSON(map[string]any{
		"hangs": map[string]any{"url": "http://" + ln.Addr().String() + "/mcp"},
		"dead":  map[string]any{"url": refusedURL},
		"ok":    stdioServer(everything, everythingArgs...),
	}))
	h.waitConnected("ok")
	if d, _ := h.hub.Details("hangs"); d.State != StateConnecting {
		t.Errorf("the hanging server is %s; the working one should not have waited for it", d.State)
	}
	st := h.waitStatus("dead", 10*time.Second, func(s ServerStatus) bool { return s.State == StateError && !s.RetryAt.IsZero() })
	if !strings.Contains(st.Error, "refused") {
		t.Errorf("dead server error %q does not say why", st.Error)
	}
	c, _ := h.connect("/mcp", false)
	waitListed(t, c, "ok-echo", true)
	if got := resultText(callTool(t, c, "ok-echo", map[string]any{"message": "fine"})); got != "Echo: fine" {
		t.Errorf("ok-echo: %q", got)
	}
	if _, err := callToolErr(c, "dead-echo", nil); err == nil {
		t.Error("a tool of a dead server can be called")
	}
}

// TestCallsPassThrough checks isError, progress, cancellation and the
// per-call timeout against the Go test server.
func TestCallsPassThrough(t *testing.T) {
	slow := stdioServer(testServerBin, "stdio")
	slow["options"] = map[string]any{"timeout": 300}
	h := startHub(t, settingsJSON(map[string]any{
		"t":    stdioServer(testServerBin, "stdio"),
		"slow": slow,
	}))
	h.waitConnected("t", "slow")
	c, notes := h.connect("/mcp", false)
	waitListed(t, c, "t-fail", true)
	waitListed(t, c, "slow-sleep", true)

	res := callTool(t, c, "t-fail", nil)
	if !res.IsError || resultText(res) != "it failed as asked" {
		t.Errorf("isError result: %+v", res)
	}

	req := mcp.CallToolRequest{}
	req.Params.Name = "t-progress"
	req.Params.Arguments = map[string]any{"steps": 3}
	req.Params.Meta = &mcp.Meta{ProgressToken: "client-token-7"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if _, err := c.CallTool(ctx, req); err != nil {
		t.Fatal(err)
	}
	cancel()
	notes.waitCount(t, "notifications/progress", 3, 5*time.Second)
	for _, n := range notes.all("notifications/progress") {
		if n.Params.AdditionalFields["progressToken"] != "client-token-7" {
			t.Errorf("progress reached the client with token %v", n.Params.AdditionalFields["progressToken"])
		}
	}

	// A client that gives up cancels the upstream call.
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	req = mcp.CallToolRequest{}
	req.Params.Name = "t-sleep"
	req.Params.Arguments = map[string]any{"ms": 10000}
	_, err := c.CallTool(ctx, req)
	cancel()
	if err == nil {
		t.Fatal("the call outlived its context")
	}
	waitText(t, c, "t-cancellations", "1")

	// The per-call timeout (options.timeout 300 ms) answers with an error and
	// cancels upstream.
	start := time.Now()
	_, err = callToolErr(c, "slow-sleep", map[string]any{"ms": 10000})
	if err == nil || !strings.Contains(err.Error(), "did not answer within 300ms") {
		t.Errorf("timeout error: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the timed-out call took %v", time.Since(start))
	}
	waitText(t, c, "slow-cancellations", "1")
}

func waitText(t *testing.T, c interface {
	CallTool(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error)
}, tool, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req := mcp.CallToolRequest{}
		req.Params.Name = tool
		res, err := c.CallTool(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got = resultText(res); got == want {
			return
		}
	}
	t.Fatalf("%s = %q, want %q", tool, got, want)
}

// TestBadInput: malformed JSON-RPC from a client, garbage and huge results
// from an upstream, and a settings file broken half-way: each gives a clear
// error and the hub keeps serving.
func TestBadInput(t *testing.T) {
	good := settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")})
	h := startHub(t, good)
	h.waitConnected("t")
	c, _ := h.connect("/mcp", false)
	waitListed(t, c, "t-noise", true)

	// Malformed messages, outside a session and in one (where the fast
	// path reads them first): a JSON-RPC error for each, with the id of the
	// request when it has a readable one (JSON-RPC 2.0 §5), and a 400 when
	// the body is no message at all. Valid JSON that is not a valid
	// request is TestNotARequestIsAnInvalidRequest's.
	in, out := newRawSession(t, h.base+"/mcp"), &rawSession{t: t, url: h.base + "/mcp"}
	for _, m := range []struct {
		name, body string
		inSession  bool
		status     int
		id         string
		code       int
	}{
		{"cut short", `{"jsonrpc": "2.0", "id": 1, "method": `, false, 400, "null", -32700},
		{"cut short", `{"jsonrpc": "2.0", "id": 1, "method": `, true, 400, "null", -32700},
		{"a cut-short tools/call", `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t-echo","arguments":{"text":"x"}`, true, 400, "null", -32700},
		{"nested too deep", strings.Repeat("[", 100000), false, 400, "null", -32700},
		{"nested too deep", strings.Repeat("[", 100000), true, 400, "null", -32700},
		{"empty", ``, false, 400, "null", -32700},
		{"empty", ``, true, 400, "null", -32700},
		{"JSON-RPC 1.0", `{"jsonrpc":"1.0","id":11,"method":"tools/list"}`, true, 200, "11", -32600},
		{"JSON-RPC 1.0 tools/call", `{"jsonrpc":"1.0","id":12,"method":"tools/call","params":{"name":"t-echo","arguments":{"text":"x"}}}`, true, 200, "12", -32600},
	} {
		s := out
		if m.inSession {
			s = in
		}
		resp := s.post(m.body)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var a rpcAnswer
		err := json.Unmarshal(body, &a)
		if code := resp.StatusCode; code != m.status || err != nil || a.JSONRPC != "2.0" || string(a.ID) != m.id || a.Error == nil || a.Error.Code != m.code || a.Result != nil {
			t.Errorf("%s (in a session: %v): %d %.300s; want %d and a JSON-RPC error %d for id %s", m.name, m.inSession, resp.StatusCode, body, m.status, m.code, m.id)
		}
	}

	if got := resultText(callTool(t, c, "t-noise", nil)); got != "made noise" {
		t.Errorf("noise: %q", got)
	}
	if d, _ := h.hub.Details("t"); !slices.ContainsFunc(d.Events, func(e Event) bool { return strings.Contains(e.Message, "not JSON-RPC") }) {
		t.Error("garbage on stdout left no event")
	}

	// 80 MiB is over the 64 MiB bound: the call fails clearly, and the
	// server is restarted.
	_, err := callToolErr(c, "t-huge", map[string]any{"mib": 80})
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("an 80 MiB result: %v, want an error that says it is too large", err)
	}
	waitFor(t, 5*time.Second, func() bool {
		d, _ := h.hub.Details("t")
		return slices.ContainsFunc(d.Events, func(e Event) bool { return strings.Contains(e.Message, "too large") })
	})
	h.waitConnected("t")
	waitListed(t, c, "t-echo", true)
	if got := resultText(callTool(t, c, "t-echo", map[string]any{"text": "alive"})); got != "alive" {
		t.Errorf("after the huge result: %q", got)
	}
	if res := callTool(t, c, "t-huge", map[string]any{"mib": 2}); len(resultText(res)) != 2<<20 {
		t.Errorf("a 2 MiB result came back with %d bytes", len(resultText(res)))
	}

	// A settings file saved half-way.
	h.writeSettings(good[:len(good)/2])
	waitFor(t, 3*time.Second, func() bool { return h.hub.SettingsError() != nil })
	var list ServerList
	h.do("GET", "/api/servers", nil, &list)
	if !strings.Contains(list.SettingsError, ":") || len(list.Servers) != 1 {
		t.Errorf("API during the broken file: %+v", list)
	}
	if got := resultText(callTool(t, c, "t-echo", map[string]any{"text": "still"})); got != "still" {
		t.Errorf("during the broken file: %q", got)
	}
	h.writeSettings(good)
	waitFor(t, 3*time.Second, func() bool { return h.hub.SettingsError() == nil })
}

// TestNotARequestIsAnInvalidRequest: valid JSON that is no JSON-RPC
// message, or a request whose id is neither a string nor an integer, is
// refused: with an HTTP error status (MCP 2025-06-18, basic/transports:
// "If the server cannot accept the input, it MUST return an HTTP error
// status code") and, when there is a body, the JSON-RPC error -32600
// Invalid Request (JSON-RPC 2.0 §5.1; -32700 is for what is not JSON). A
// request with such an id is not run (basic: "Requests MUST include a
// string or integer ID").
//
// It fails today: mcp-go answers [1,2,3] and "hello" with -32700, and
// {"id": {}} with 202 Accepted; and both mcp-go and the hub's fast path run
// a tools/call whose id is an object, and echo that id back.
func TestNotARequestIsAnInvalidRequest(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("t")
	c, _ := h.connect("/mcp", false)
	waitListed(t, c, "t-echo", true)
	in, out := newRawSession(t, h.base+"/mcp"), &rawSession{t: t, url: h.base + "/mcp"}
	for _, m := range []struct {
		name, body string
		inSession  bool
	}{
		{"an array of numbers", `[1, 2, 3]`, false},
		{"an array of numbers", `[1, 2, 3]`, true},
		{"a string", `"hello"`, false},
		{"a string", `"hello"`, true},
		{"an object id and nothing else", `{"id": {}}`, false},
		{"an object id and nothing else", `{"id": {}}`, true},
		{"tools/call with an object id", `{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{"name":"t-echo","arguments":{"text":"ran"}}}`, true},
		{"tools/list with an array id", `{"jsonrpc":"2.0","id":[1],"method":"tools/list"}`, true},
	} {
		s := out
		if m.inSession {
			s = in
		}
		resp := s.post(m.body)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var a rpcAnswer
		answered := json.Unmarshal(body, &a) == nil
		switch {
		case a.Result != nil:
			t.Errorf("%s (in a session: %v) was run: %d %.200s", m.name, m.inSession, resp.StatusCode, body)
		case len(body) > 0 && (!answered || a.Error == nil || a.Error.Code != -32600):
			t.Errorf("%s (in a session: %v): %d %.200s; want the JSON-RPC error -32600", m.name, m.inSession, resp.StatusCode, body)
		case len(body) == 0 && resp.StatusCode < 400:
			t.Errorf("%s (in a session: %v): %d with no body; want an HTTP error status", m.name, m.inSession, resp.StatusCode)
		}
	}
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
	}
}

// TestProtection checks bearer keys; TestHostOriginMatrix checks
// DNS-rebinding protection.
func TestProtection(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("t")

	keyed := settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}, map[string]any{
		"groups": []any{map[string]any{"id": "g1", "name": "team", "servers": []any{"t"}}},
		"bearerKeys": []any{
			map[string]any{"id": "1", "name": "all", "token": "key-all-0000", "enabled": true, "accessType": "all"},
			map[string]any{"id": "2", "name": "team", "token": "key-team-0000", "enabled": true, "accessType": "groups", "allowedGroups": []any{"team"}},
		},
	})
	h.writeSettings(keyed)
	waitFor(t, 3*time.Second, func() bool { return len(h.store.Current().ActiveBearerKeys()) == 2 })
	for _, c := range []struct {
		path, key string
		want      int
	}{
		{"/api/servers", "", 401},
		{"/api/servers", "wrong", 401},
		{"/api/servers", "key-all-0000", 200},
		{"/api/servers", "key-team-0000", 401},
		{"/api/health", "", 200},
	} {
		hdr := map[string]string{}
		if c.key != "" {
			hdr["Authorization"] = "Bearer " + c.key
		}
		if got := h.do("GET", c.path, hdr, nil); got != c.want {
			t.Errorf("%s with %q: %d, want %d", c.path, c.key, got, c.want)
		}
	}
	for _, c := range []struct {
		path, key string
		want      int
	}{
		{"/mcp/team", "key-team-0000", 200},
		{"/mcp/g1", "key-team-0000", 200},
		{"/mcp", "key-team-0000", 401},
		{"/mcp/t", "key-team-0000", 401},
		{"/mcp", "key-all-0000", 200},
	} {
		got, err := postRawHeaders(h.base+c.path, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`, map[string]string{"Authorization": "Bearer " + c.key})
		if err != nil || got != c.want {
			t.Errorf("POST %s with %s: %d %v, want %d", c.path, c.key, got, err, c.want)
		}
	}
}

// TestRouteKeyMatrix: a bearer key opens what the route serves, not what
// its name looks like. A server key naming a group (or a group key naming a
// server) opens nothing; every route is tried with every key (issue 11).
func TestRouteKeyMatrix(t *testing.T) {
	servers := map[string]any{"a": stdioServer(testServerBin, "stdio"), "b": stdioServer(testServerBin, "stdio")}
	key := func(token, access string, srv, grp []any) map[string]any {
		return map[string]any{"id": token, "name": token, "token": token, "enabled": true, "accessType": access, "allowedServers": srv, "allowedGroups": grp}
	}
	h := startHub(t, settingsJSON(servers, map[string]any{
		"groups": []any{
			map[string]any{"id": "g1", "name": "team", "servers": []any{"a", "b"}},
			map[string]any{"id": "g2", "name": "solo", "servers": []any{"b"}},
		},
		"bearerKeys": []any{
			key("k-all", "all", nil, nil),
			key("k-srv-a", "servers", []any{"a"}, nil),
			key("k-srv-team", "servers", []any{"team", "g1"}, nil),
			key("k-grp-team", "groups", nil, []any{"team"}),
			key("k-grp-g2", "groups", nil, []any{"g2"}),
			key("k-grp-a", "groups", nil, []any{"a"}),
			key("k-custom", "custom", []any{"b"}, []any{"team"}),
		},
	}))
	h.waitConnected("a", "b")
	routes := []string{"/mcp", "/mcp/a", "/mcp/b", "/mcp/team", "/mcp/g1", "/mcp/solo", "/mcp/g2", "/sse/a", "/api/servers"}
	// opens lists, per key, the routes it opens; every other route is 401.
	opens := map[string][]string{
		"k-all":      routes,
		"k-srv-a":    {"/mcp/a", "/sse/a"},
		"k-srv-team": nil,
		"k-grp-team": {"/mcp/team", "/mcp/g1"},
		"k-grp-g2":   {"/mcp/solo", "/mcp/g2"},
		"k-grp-a":    nil,
		"k-custom":   {"/mcp/b", "/mcp/team", "/mcp/g1"},
		"":           nil,
		"k-unknown":  nil,
	}
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	for k, open := range opens {
		for _, route := range routes {
			method, body := "POST", initialize
			if !strings.HasPrefix(route, "/mcp") {
				method, body = "GET", ""
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			req, _ := http.NewRequestWithContext(ctx, method, h.base+route, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if k != "" {
				req.Header.Set("Authorization", "Bearer "+k)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				cancel()
				t.Fatalf("%s %s: %v", method, route, err)
			}
			resp.Body.Close() // the headers are the answer; an SSE stream ends here
			cancel()
			want := http.StatusUnauthorized
			if slices.Contains(open, route) {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s with key %q: %d, want %d", method, route, k, resp.StatusCode, want)
			}
		}
	}
}

// TestListenRules: a second hub on the same address says the first runs;
// a non-loopback address needs bearer keys.
func TestListenRules(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{}))
	other, err := New(Config{Settings: h.store, Listen: h.hub.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	err = other.Listen()
	var running *AlreadyRunningError
	if !errors.As(err, &running) || running.PID == 0 {
		t.Fatalf("second Listen: %v, want *AlreadyRunningError", err)
	}
	if !strings.Contains(err.Error(), "already running") {
		t.Errorf("message %q", err)
	}

	wide, _ := New(Config{Settings: h.store, Listen: "0.0.0.0:0"})
	if err := wide.Listen(); err == nil || !strings.Contains(err.Error(), "bearer keys") {
		t.Errorf("listening on 0.0.0.0 without keys: %v", err)
	}
}

// TestControlAPI disables, enables and reconnects a server through the API.
func TestControlAPI(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}))
	h.waitConnected("t")
	var st ServerStatus
	if code := h.do("POST", "/api/servers/t/disable", nil, &st); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	h.waitStatus("t", 5*time.Second, func(s ServerStatus) bool { return s.State == StateDisabled })
	if !strings.Contains(readFile(t, h.path), `"enabled": false`) {
		t.Error("disable did not reach the settings file")
	}
	if code := h.do("POST", "/api/servers/t/enable", nil, &st); code != 200 {
		t.Fatalf("enable: %d", code)
	}
	h.waitConnected("t")
	pid := h.waitStatus("t", time.Second, func(s ServerStatus) bool { return s.PID != 0 }).PID
	if code := h.do("POST", "/api/servers/t/reconnect", nil, &st); code != 200 {
		t.Fatalf("reconnect: %d", code)
	}
	h.waitStatus("t", 20*time.Second, func(s ServerStatus) bool { return s.State == StateConnected && s.PID != pid })
	var d ServerDetails
	if code := h.do("GET", "/api/servers/t", nil, &d); code != 200 || len(d.Events) == 0 {
		t.Errorf("details: %d %+v", code, d)
	}
	if code := h.do("POST", "/api/servers/nope/reconnect", nil, nil); code != 404 {
		t.Errorf("unknown server: %d", code)
	}
	if code := h.do("GET", "/api/servers/nope", nil, nil); code != 404 {
		t.Errorf("unknown server details: %d", code)
	}
}

// TestShutdownLeavesNoChild stops the hub and checks that the stdio server
// and its children are gone.
func TestShutdownLeavesNoChild(t *testing.T) {
	cmd, args := testpeers.EverythingStdio(t)
	h := startHub(t, settingsJSON(map[string]any{
		"t":  stdioServer(testServerBin, "stdio"),
		"ev": stdioServer(cmd, args...),
	}))
	h.waitConnected("t", "ev")
	var pids []int
	for _, s := range h.hub.Snapshot() {
		pids = append(pids, s.PID)
	}
	h.shutdown()
	for _, pid := range pids {
		if err := syscall.Kill(-pid, 0); err == nil {
			t.Errorf("process group %d still runs after the hub stopped", pid)
		}
	}
}

// TestUnsetVariableAndBadNames shows configuration errors in the state.
func TestUnsetVariableAndBadNames(t *testing.T) {
	h := startHub(t, settingsJSON(map[string]any{
		"needs-env": map[string]any{"command": testServerBin, "args": []string{"stdio"}, "env": map[string]any{"KEY": "${MCPTRAY_TEST_SURELY_UNSET}"}},
		"bad name":  stdioServer(testServerBin, "stdio"),
		"ok":        map[string]any{"command": testServerBin, "args": []string{"stdio"}, "env": map[string]any{"KEY": "${MCPTRAY_TEST_SET}"}},
	}), func(c *Config) {
		c.LookupEnv = func(k string) (string, bool) {
			if k == "MCPTRAY_TEST_SET" {
				return "v", true
			}
			return "", false
		}
	})
	h.waitConnected("ok")
	st := h.waitStatus("needs-env", 5*time.Second, func(s ServerStatus) bool { return s.State == StateError })
	if !strings.Contains(st.Error, "MCPTRAY_TEST_SURELY_UNSET") {
		t.Errorf("unset variable error: %q", st.Error)
	}
	st = h.waitStatus("bad name", 5*time.Second, func(s ServerStatus) bool { return s.State == StateError })
	if !strings.Contains(st.Error, "cannot prefix MCP tool names") {
		t.Errorf("bad name error: %q", st.Error)
	}
}
