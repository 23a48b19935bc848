//go:build unix

package hub

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
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
// protect lets it through: the status, and a piece of the body that only
// that handler writes (so a 404 of the catch-all cannot pass for it).
type matrixRoute struct {
	method, path, body string
	status             int
	says               string
	// anyOrigin: the answer carries Access-Control-Allow-Origin: * instead
	// of the request's origin. mcp-go's SSE handler sets it on the stream
	// (sse.go, handleSSE, unless WithSSECORS is used); only origins protect
	// allowed get that far.
	anyOrigin bool
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"matrix","version":"1"}}}`

// The servers of the matrix: t runs, off is disabled. The actions are
// chosen to change nothing when let through (enable what is enabled,
// disable what is disabled, reconnect the disabled one, sign in and out of
// a stdio server), so that every cell sees the same hub.
var matrixRoutes = map[string]matrixRoute{
	"POST /mcp":                          {"POST", "/mcp", initializeBody, 200, `"protocolVersion"`, false},
	"POST /mcp/{name}":                   {"POST", "/mcp/t", initializeBody, 200, `"protocolVersion"`, false},
	"GET /sse":                           {"GET", "/sse", "", 200, "event: endpoint", false},
	"GET /sse/{name}":                    {"GET", "/sse/t", "", 200, "event: endpoint", false},
	"POST /messages":                     {"POST", "/messages", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 400, "sessionId", false},
	"POST /sse/{name}/messages":          {"POST", "/sse/t/messages", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 400, "sessionId", false},
	"POST /api/servers/{name}/reconnect": {"POST", "/api/servers/off/reconnect", "", 409, "is disabled", false},
	"POST /api/servers/{name}/enable":    {"POST", "/api/servers/t/enable", "", 200, `"state"`, false},
	"POST /api/servers/{name}/disable":   {"POST", "/api/servers/off/disable", "", 200, `"disabled"`, false},
	"POST /api/servers/{name}/authorize": {"POST", "/api/servers/t/authorize?browser=false", "", 409, "OAuth does not apply", false},
	"POST /api/servers/{name}/signout":   {"POST", "/api/servers/t/signout", "", 409, "OAuth does not apply", false},
	"GET /api/servers":                   {"GET", "/api/servers", "", 200, `"servers"`, false},
	"GET /api/servers/{name}":            {"GET", "/api/servers/t", "", 200, `"events"`, false},
	"GET /api/health":                    {"GET", "/api/health", "", 200, `"mcptray"`, false},
	"GET /oauth/callback":                {"GET", "/oauth/callback?state=forged~t&code=x", "", 400, "Sign-in failed", false},
}

// protectionMatrix is what the hub answers for each route, Host and Origin:
// "ok" for the route's own answer, "403" for a refusal. ours holds one
// verdict per matrixOrigins column for a Host that names the hub, foreign
// for one that does not. Each cell is one entry here, to change when the
// rules change (state-changing requests are to require the hub's own
// origin: scheme, host and port).
//
// Today any loopback origin is allowed, whatever its port, so that the MCP
// Inspector (http://localhost:6274) can connect; so is the base URL's
// origin, exactly.
var protectionMatrix = []struct {
	ours, foreign string
	route         string
}{
	// none base 127  lh   lo:* b:*  b-s  evil null
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "POST /mcp"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "POST /mcp/{name}"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "GET /sse"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "GET /sse/{name}"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "POST /messages"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "POST /sse/{name}/messages"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "POST /api/servers/{name}/reconnect"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "POST /api/servers/{name}/enable"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "POST /api/servers/{name}/disable"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "POST /api/servers/{name}/authorize"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "POST /api/servers/{name}/signout"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "GET /api/servers"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "GET /api/servers/{name}"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "GET /api/health"},
	{"ok   ok   ok   ok   ok   403  403  403  403", all403, "GET /oauth/callback"},
}

// all403 is the row of a Host that does not name the hub: DNS rebinding
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
		for _, host := range matrixHosts {
			verdicts := strings.Fields(row.foreign)
			if host.ours {
				verdicts = strings.Fields(row.ours)
			}
			if len(verdicts) != len(matrixOrigins) {
				t.Fatalf("%s: %d verdicts for %d origins", row.route, len(verdicts), len(matrixOrigins))
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
					case rt.anyOrigin && originHdr != "" && acao != "*":
						t.Errorf("%s: Access-Control-Allow-Origin %q, want mcp-go's *", cell, acao)
					case !rt.anyOrigin && acao != originHdr:
						t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", cell, acao, originHdr)
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
	if rt.body != "" {
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
