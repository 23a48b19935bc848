//go:build unix

package hub

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
)

// withOAuth gives the hub a real oauthflow.Manager (secrets in a file), so
// that /oauth/callback and the sign-in actions are served as in mcptray.
func withOAuth(t *testing.T) func(*Config) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	secrets, err := keychain.Open(keychain.Options{Mode: keychain.ModeFile, File: filepath.Join(t.TempDir(), "secrets.json"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := oauthflow.New(oauthflow.Options{Store: secrets, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) { c.Auth, c.Secrets = auth, secrets }
}

// matrixHost is a Host header of the protection matrix; ours says whether
// it names the hub (a loopback name or the base URL's host).
type matrixHost struct {
	name  string
	value string // PORT is replaced by the hub's port
	ours  bool
}

var matrixHosts = []matrixHost{
	{"127.0.0.1", "127.0.0.1:PORT", true},
	{"localhost", "localhost:PORT", true},
	{"[::1]", "[::1]:PORT", true},
	{"another loopback address", "127.0.0.2:PORT", true},
	{"the base URL's host", "mcptray.test:PORT", true},
	{"a foreign host", "evil.example:PORT", false},
	{"a rebinding name", "attacker.localhost.evil.example", false},
	{"the base URL's host as a suffix", "mcptray.test.evil.example:PORT", false},
}

// matrixOrigins are the Origin headers of the matrix, in the order of the
// verdicts in protectionMatrix. PORT is the hub's port; the base URL is
// http://mcptray.test:PORT.
var matrixOrigins = []struct{ name, value string }{
	{"no Origin", ""}, // none
	{"the base URL's origin", "http://mcptray.test:PORT"},                   // base
	{"the listen address's origin", "http://127.0.0.1:PORT"},                // 127
	{"localhost on the hub's port", "http://localhost:PORT"},                // lh
	{"loopback on another port (the Inspector's)", "http://localhost:6274"}, // lo:*
	{"the base URL's host on another port", "http://mcptray.test:1"},        // b:*
	{"the base URL's host over https", "https://mcptray.test:PORT"},         // b-s
	{"a foreign origin", "https://evil.example"},                            // evil
	{"null", "null"}, // null
}

// matrixRoute is a request of the matrix and what its handler answers once
// admit lets it through: the status, and a piece of the body that only
// that handler writes (so a 404 of the catch-all cannot pass for it).
type matrixRoute struct {
	method, path, body string
	status             int
	says               string
	// mcp: an MCP endpoint, which answers pages of loopback origins with
	// CORS; the other routes answer only the hub's own pages, without.
	mcp bool
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"matrix","version":"1"}}}`

// The servers of the matrix: t runs, off is disabled. The actions are
// chosen to change nothing when let through (enable what is enabled,
// disable what is disabled, reconnect the disabled one, sign in and out of
// a stdio server, add a server by a name in use, remove one that is not
// there), so that every cell sees the same hub.
var matrixRoutes = map[string]matrixRoute{
	"POST /mcp":                          {"POST", "/mcp", initializeBody, 200, `"protocolVersion"`, true},
	"POST /mcp/{name}":                   {"POST", "/mcp/t", initializeBody, 200, `"protocolVersion"`, true},
	"GET /sse":                           {"GET", "/sse", "", 200, "event: endpoint", true},
	"GET /sse/{name}":                    {"GET", "/sse/t", "", 200, "event: endpoint", true},
	"POST /messages":                     {"POST", "/messages", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 400, "sessionId", true},
	"POST /sse/{name}/messages":          {"POST", "/sse/t/messages", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 400, "sessionId", true},
	"POST /api/servers":                  {"POST", "/api/servers", `{"name":"t","server":{"command":"x"}}`, 409, "configured already", false},
	"DELETE /api/servers/{name}":         {"DELETE", "/api/servers/nosuch", "", 404, "no such server", false},
	"POST /api/servers/{name}/reconnect": {"POST", "/api/servers/off/reconnect", "", 409, "is disabled", false},
	"POST /api/servers/{name}/enable":    {"POST", "/api/servers/t/enable", "", 200, `"state"`, false},
	"POST /api/servers/{name}/disable":   {"POST", "/api/servers/off/disable", "", 200, `"disabled"`, false},
	"POST /api/servers/{name}/authorize": {"POST", "/api/servers/t/authorize?browser=false", "", 409, "OAuth does not apply", false},
	"POST /api/servers/{name}/signout":   {"POST", "/api/servers/t/signout", "", 409, "OAuth does not apply", false},
	"GET /api/servers":                   {"GET", "/api/servers", "", 200, `"servers"`, false},
	"GET /api/servers/{name}":            {"GET", "/api/servers/t", "", 200, `"events"`, false},
	"GET /api/health":                    {"GET", "/api/health", "", 200, `"mcptray"`, false},
	"GET /oauth/callback":                {"GET", "/oauth/callback?state=forged~t&code=x", "", 400, "Sign-in failed", false},
	"GET /":                              {"GET", "/", "", 200, `id="live"`, false},
	"GET /servers/{name}":                {"GET", "/servers/t", "", 200, `id="state"`, false},
	"GET /clients":                       {"GET", "/clients", "", 200, "AI clients", false},
	"GET /ui/events":                     {"GET", "/ui/events", "", 200, "retry: 2000", false},
	"POST /ui/servers/{name}/{action}":   {"POST", "/ui/servers/t/disable", "csrf=forged", 403, "form's token is missing or stale", false},
	"POST /ui/servers":                   {"POST", "/ui/servers", "csrf=forged&name=x&command=touch", 403, "form's token is missing or stale", false},
}

// protectionMatrix is what the hub answers for each route, Host and Origin.
// Each route has one line per Host of matrixHosts, in its order, and each
// line one verdict per Origin of matrixOrigins: "ok" for the route's own
// answer, "403" for a refusal of admit, "page" for the route's own refusal
// of a request a web page sent (it adds no command to run). Each cell is
// one entry here, to change when the rules change.
//
// The MCP endpoints answer pages of any loopback origin, whatever its port,
// so that the MCP Inspector (http://localhost:6274) can connect, and the
// base URL's origin exactly. Every other route answers only the hub's own
// pages: the request's own origin (so http://127.0.0.1:PORT with Host
// 127.0.0.1:PORT, not with Host localhost:PORT) and the base URL's.
var protectionMatrix = []struct {
	route string
	hosts [8]string
}{
	// none base 127  lh   lo:* b:*  b-s  evil null
	{"POST /mcp", [8]string{mcpOurs, mcpOurs, mcpOurs, mcpOurs, mcpOurs, all403, all403, all403}},
	{"POST /mcp/{name}", [8]string{mcpOurs, mcpOurs, mcpOurs, mcpOurs, mcpOurs, all403, all403, all403}},
	{"GET /sse", [8]string{mcpOurs, mcpOurs, mcpOurs, mcpOurs, mcpOurs, all403, all403, all403}},
	{"GET /sse/{name}", [8]string{mcpOurs, mcpOurs, mcpOurs, mcpOurs, mcpOurs, all403, all403, all403}},
	{"POST /messages", [8]string{mcpOurs, mcpOurs, mcpOurs, mcpOurs, mcpOurs, all403, all403, all403}},
	{"POST /sse/{name}/messages", [8]string{mcpOurs, mcpOurs, mcpOurs, mcpOurs, mcpOurs, all403, all403, all403}},
	{"POST /api/servers", [8]string{
		"ok   page page 403  403  403  403  403  403", // Host 127.0.0.1
		"ok   page 403  page 403  403  403  403  403", // Host localhost
		"ok   page 403  403  403  403  403  403  403", // Host [::1]
		"ok   page 403  403  403  403  403  403  403", // Host 127.0.0.2
		"ok   page 403  403  403  403  403  403  403", // Host mcptray.test, the base URL's
		all403, all403, all403}},
	{"DELETE /api/servers/{name}", [8]string{
		"ok   page page 403  403  403  403  403  403",
		"ok   page 403  page 403  403  403  403  403",
		"ok   page 403  403  403  403  403  403  403",
		"ok   page 403  403  403  403  403  403  403",
		"ok   page 403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"POST /api/servers/{name}/reconnect", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"POST /api/servers/{name}/enable", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"POST /api/servers/{name}/disable", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"POST /api/servers/{name}/authorize", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"POST /api/servers/{name}/signout", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"GET /api/servers", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"GET /api/servers/{name}", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"GET /api/health", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"GET /oauth/callback", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	// The dashboard: its pages, its live updates and its forms (without a
	// session's token here, which the route refuses: a form changes
	// nothing without one).
	{"GET /", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"GET /servers/{name}", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"GET /clients", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"GET /ui/events", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"POST /ui/servers/{name}/{action}", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
	{"POST /ui/servers", [8]string{
		"ok   ok   ok   403  403  403  403  403  403",
		"ok   ok   403  ok   403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		"ok   ok   403  403  403  403  403  403  403",
		all403, all403, all403}},
}

// mcpOurs is the line of an MCP endpoint for a Host that names the hub:
// every loopback origin and the base URL's origin get in.
const mcpOurs = "ok   ok   ok   ok   ok   403  403  403  403"

// all403 is the line of a Host that does not name the hub: DNS rebinding
// protection refuses it on every route, whatever the Origin.
const all403 = "403  403  403  403  403  403  403  403  403"

// TestHostOriginMatrix sends every route with every Host and Origin and
// expects the answer protectionMatrix gives: DNS-rebinding protection on
// every route, the OAuth callback and the control API included.
func TestHostOriginMatrix(t *testing.T) {
	off := stdioServer(testServerBin, "stdio")
	off["enabled"] = false
	servers := map[string]any{"t": stdioServer(testServerBin, "stdio"), "off": off}
	h := startHub(t, settingsJSON(servers), withOAuth(t))
	h.waitConnected("t")
	_, port, _ := net.SplitHostPort(h.hub.Addr())
	h.writeSettings(settingsJSON(servers, map[string]any{"systemConfig": map[string]any{"install": map[string]any{"baseUrl": "http://mcptray.test:" + port}}}))
	waitFor(t, 3*time.Second, func() bool { return h.hub.BaseURL() == "http://mcptray.test:"+port })

	if len(protectionMatrix) != len(matrixRoutes) {
		t.Fatalf("the matrix has %d rows for %d routes", len(protectionMatrix), len(matrixRoutes))
	}
	cells := 0
	for _, row := range protectionMatrix {
		rt, ok := matrixRoutes[row.route]
		if !ok {
			t.Fatalf("no route %q", row.route)
		}
		for hi, host := range matrixHosts {
			verdicts := strings.Fields(row.hosts[hi])
			if len(verdicts) != len(matrixOrigins) {
				t.Fatalf("%s: %d verdicts for %d origins", row.route, len(verdicts), len(matrixOrigins))
			}
			if !host.ours && slices.ContainsFunc(verdicts, func(v string) bool { return v != "403" }) {
				t.Fatalf("%s: Host %s does not name the hub, yet its line is %q", row.route, host.name, row.hosts[hi])
			}
			for i, origin := range matrixOrigins {
				cells++
				hostHdr := strings.ReplaceAll(host.value, "PORT", port)
				originHdr := strings.ReplaceAll(origin.value, "PORT", port)
				code, acao, body := h.matrixRequest(rt, hostHdr, originHdr)
				cell := row.route + " with Host " + hostHdr + " (" + host.name + ") and " + origin.name + " " + originHdr
				switch verdicts[i] {
				case "ok":
					if code != rt.status || !strings.Contains(body, rt.says) {
						t.Errorf("%s: %d %.200q, want the route's %d with %q", cell, code, body, rt.status, rt.says)
					}
					switch {
					case rt.mcp && acao != originHdr:
						t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", cell, acao, originHdr)
					case !rt.mcp && acao != "":
						t.Errorf("%s: Access-Control-Allow-Origin %q, want none: only the hub's own pages use this route", cell, acao)
					}
				case "page":
					if code != http.StatusForbidden || !strings.Contains(body, "not from a web page") {
						t.Errorf("%s: %d %.200q, want the route's 403 for a web page", cell, code, body)
					}
				case "403":
					if code != http.StatusForbidden || !strings.Contains(body, "not allowed") {
						t.Errorf("%s: %d %.200q, want 403", cell, code, body)
					}
					if acao != "" {
						t.Errorf("%s: refused, yet Access-Control-Allow-Origin %q", cell, acao)
					}
				default:
					t.Fatalf("%s: verdict %q", row.route, verdicts[i])
				}
			}
		}
	}
	t.Logf("%d cells", cells)

	// A state-changing request without Origin that the browser marks as
	// coming from another site (Sec-Fetch-Site) is refused too; one of the
	// same origin, or one the user made (none), is not.
	for site, want := range map[string]int{"cross-site": 403, "same-site": 403, "same-origin": 200, "none": 200} {
		req, _ := http.NewRequest("POST", h.base+"/api/servers/off/disable", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Sec-Fetch-Site %s: %d, want %d", site, resp.StatusCode, want)
		}
	}

	// Nothing a refused request asked for happened, and the let-through
	// actions changed nothing either.
	if d, _ := h.hub.Details("t"); d.State != StateConnected {
		t.Errorf("t is %s after the matrix", d.State)
	}
	if d, _ := h.hub.Details("off"); d.State != StateDisabled {
		t.Errorf("off is %s after the matrix", d.State)
	}
}

// matrixRequest sends one cell's request and returns the status, the
// Access-Control-Allow-Origin header and the start of the body. An SSE
// stream is read up to its first event, then closed.
func (h *harness) matrixRequest(rt matrixRoute, host, origin string) (int, string, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var body io.Reader
	if rt.body != "" {
		body = strings.NewReader(rt.body)
	}
	req, err := http.NewRequestWithContext(ctx, rt.method, h.base+rt.path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Host = host
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	switch {
	case strings.HasPrefix(rt.path, "/ui/"):
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case rt.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", rt.method, rt.path, err)
	}
	defer resp.Body.Close()
	var b []byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") && rt.method == "GET" {
		buf := make([]byte, 512)
		for !strings.Contains(string(b), "\n\n") && !strings.Contains(string(b), "\r\n\r\n") {
			n, err := resp.Body.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		cancel() // the stream stays open otherwise
	} else {
		b, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
	return resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), string(b)
}
