//go:build unix

package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcptray/mcptray/settings"
	"github.com/mcptray/mcptray/testpeers"
)

// testServerBin is the Go test MCP server (testpeers/goserver), built once.
var testServerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcptray-hub-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testServerBin = filepath.Join(dir, "testserver")
	build := exec.Command("go", "build", "-o", testServerBin, "../testpeers/goserver")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build testserver:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// harness is a hub running on a free loopback port with its own settings.
type harness struct {
	t        *testing.T
	path     string
	store    *settings.Store
	hub      *Hub
	base     string // http://127.0.0.1:PORT
	logs     *testpeers.Buffer
	stop     context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

// startHub writes settingsJSON to a fresh folder and runs a hub on it.
func startHub(t *testing.T, settingsJSON string, mod ...func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp_settings.json")
	if err := os.WriteFile(path, []byte(settingsJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testpeers.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := settings.Open(path, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Settings: store, Listen: "127.0.0.1:0", Logger: log, Version: "test"}
	for _, m := range mod {
		m(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs := &harness{t: t, path: path, store: store, hub: h, base: "http://" + h.Addr(), logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() {
		watched := make(chan struct{})
		go func() { store.Run(ctx); close(watched) }()
		err := h.Run(ctx)
		<-watched
		hs.done <- err
	}()
	t.Cleanup(func() {
		hs.shutdown()
		if t.Failed() {
			t.Logf("hub log:\n%s", logs.String())
		}
	})
	return hs
}

// shutdown stops the hub and waits for it, at most 20 s.
func (h *harness) shutdown() {
	h.stopOnce.Do(func() {
		h.stop()
		select {
		case <-h.done:
		case <-time.After(20 * time.Second):
			h.t.Error("the hub did not stop within 20 s")
		}
	})
}

// writeSettings replaces the settings file as an editor would.
func (h *harness) writeSettings(content string) {
	h.t.Helper()
	tmp := h.path + ".edit"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, h.path); err != nil {
		h.t.Fatal(err)
	}
}

// waitStatus waits up to limit for a server's status to satisfy ok.
func (h *harness) waitStatus(name string, limit time.Duration, ok func(ServerStatus) bool) ServerStatus {
	h.t.Helper()
	var last ServerStatus
	deadline := time.Now().Add(limit)
	for {
		changed := h.hub.Changes()
		d, found := h.hub.Details(name)
		last = d.ServerStatus
		if found && ok(last) {
			return last
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("server %s: status %+v did not get there within %v", name, last, limit)
		}
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (h *harness) waitConnected(names ...string) {
	h.t.Helper()
	for _, n := range names {
		h.waitStatus(n, 60*time.Second, func(s ServerStatus) bool { return s.State == StateConnected })
	}
}

// notifications records the notifications a client received.
type notifications struct {
	mu   sync.Mutex // guards list
	list []mcp.JSONRPCNotification
	ch   chan struct{}
}

func (n *notifications) add(x mcp.JSONRPCNotification) {
	n.mu.Lock()
	n.list = append(n.list, x)
	n.mu.Unlock()
	select {
	case n.ch <- struct{}{}:
	default:
	}
}

func (n *notifications) count(method string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, x := range n.list {
		if x.Method == method {
			c++
		}
	}
	return c
}

func (n *notifications) all(method string) []mcp.JSONRPCNotification {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []mcp.JSONRPCNotification
	for _, x := range n.list {
		if x.Method == method {
			out = append(out, x)
		}
	}
	return out
}

// waitCount waits up to limit until method has arrived at least want times.
func (n *notifications) waitCount(t *testing.T, method string, want int, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for n.count(method) < want {
		select {
		case <-n.ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d %s notifications within %v, want %d", n.count(method), method, limit, want)
		}
	}
}

// connect opens an initialized MCP client to the hub at path, over
// streamable HTTP (with the GET stream for notifications) or SSE.
func (h *harness) connect(path string, sse bool) (*client.Client, *notifications) {
	h.t.Helper()
	var c *client.Client
	var err error
	if sse {
		c, err = client.NewSSEMCPClient(h.base + path)
	} else {
		c, err = client.NewStreamableHttpClient(h.base+path, transport.WithContinuousListening())
	}
	if err != nil {
		h.t.Fatal(err)
	}
	n := &notifications{ch: make(chan struct{}, 1)}
	c.OnNotification(n.add)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "hub-test", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		h.t.Fatalf("initialize %s: %v", path, err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c, n
}

func toolNames(t *testing.T, c *client.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

func callTool(t *testing.T, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := callToolErr(c, name, args)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

func callToolErr(c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	return c.CallTool(ctx, req)
}

func resultText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// getJSON sends a request to the hub and decodes the answer.
func (h *harness) do(method, path string, hdr map[string]string, out any) int {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(body, out); err != nil {
			h.t.Fatalf("%s %s: %v in %s", method, path, err, body)
		}
	}
	return resp.StatusCode
}

// settingsJSON builds a settings file from server entries.
func settingsJSON(servers map[string]any, extra ...map[string]any) string {
	doc := map[string]any{"mcpServers": servers}
	for _, e := range extra {
		for k, v := range e {
			doc[k] = v
		}
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return string(b)
}

func stdioServer(cmd string, args ...string) map[string]any {
	return map[string]any{"command": cmd, "args": args}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// postRawHeaders posts body to url as a client's JSON-RPC message with
// the headers hdr and returns the status code.
func postRawHeaders(url, body string, hdr map[string]string) (int, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// rpcAnswer is a JSON-RPC response as a test reads it.
type rpcAnswer struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// waitListed waits until the client's tool list has (or lacks) tool: the
// views follow a server's connection within a few milliseconds.
func waitListed(t *testing.T, c *client.Client, tool string, want bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if slices.Contains(toolNames(t, c), tool) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tool %s listed: %v, want %v, after 5 s", tool, !want, want)
		}
	}
}
