//go:build unix

package hub

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDashboardWithBearerKeys: with bearer keys in the settings, the
// dashboard opens only through a one-time link, which gives the browser a
// session in an HttpOnly, SameSite=Strict cookie; the link works once; a
// form needs the session's token and the hub's own origin; the session
// opens the dashboard, not the control API.
func TestDashboardWithBearerKeys(t *testing.T) {
	keys := map[string]any{"bearerKeys": []any{map[string]any{"id": "1", "name": "k", "token": "dash-key", "enabled": true, "accessType": "all"}}}
	h := startHub(t, settingsJSON(map[string]any{"t": stdioServer(testServerBin, "stdio")}, keys))
	h.waitConnected("t")
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string, *http.Response) {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b), resp
	}

	if code, body, _ := get(h.base + "/"); code != http.StatusUnauthorized || !strings.Contains(body, "Open the dashboard from mcptray") {
		t.Errorf("the dashboard without a session: %d %.200s", code, body)
	}
	link := strings.Replace(h.hub.DashboardURL("/servers/t"), "http://localhost:", "http://127.0.0.1:", 1)
	if !strings.Contains(link, "/ui/login?t=") {
		t.Fatalf("the link %s is no one-time link", link)
	}
	code, _, resp := get(link)
	if code != http.StatusSeeOther || resp.Header.Get("Location") != "/servers/t" {
		t.Fatalf("the link: %d to %q", code, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Path != "/" || cookies[0].Domain != "" {
		t.Errorf("the session cookie: %+v", cookies)
	}
	if code, body, _ := get(link); code != http.StatusForbidden || !strings.Contains(body, "works once") {
		t.Errorf("the link a second time: %d %.200s", code, body)
	}
	code, page, _ := get(h.base + "/servers/t")
	if code != http.StatusOK || !strings.Contains(page, "connected (8 tools)") {
		t.Fatalf("the server's page with the session: %d %.300s", code, page)
	}
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if token == nil {
		t.Fatal("the page's forms carry no token")
	}
	post := func(path, origin string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", h.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	own := h.base
	if code, body := post("/ui/servers/t/tool", own, url.Values{"tool": {"echo"}, "enabled": {"false"}}); code != http.StatusForbidden || !strings.Contains(body, "token") {
		t.Errorf("a form without its token: %d %s", code, body)
	}
	if code, body := post("/ui/servers/t/tool", "http://127.0.0.1:1", url.Values{"csrf": {token[1]}, "tool": {"echo"}, "enabled": {"false"}}); code != http.StatusForbidden || !strings.Contains(body, "not allowed") {
		t.Errorf("a form from another origin: %d %s", code, body)
	}
	if tools, _ := h.hub.Tools("t"); !toolOn(tools, "echo") {
		t.Fatal("a refused form turned the tool off")
	}
	if code, _ := post("/ui/servers/t/tool", own, url.Values{"csrf": {token[1]}, "tool": {"echo"}, "enabled": {"false"}}); code != http.StatusSeeOther {
		t.Fatalf("turning a tool off: %d", code)
	}
	if tools, _ := h.hub.Tools("t"); toolOn(tools, "echo") {
		t.Error("echo is still on")
	}
	if b, _ := os.ReadFile(h.path); !strings.Contains(string(b), `"tools": {"echo": {"enabled": false}}`) && !strings.Contains(strings.Join(strings.Fields(string(b)), ""), `"tools":{"echo":{"enabled":false}}`) {
		t.Errorf("the settings file after turning echo off:\n%s", b)
	}
	if _, page, _ := get(h.base + "/servers/t"); !strings.Contains(page, "Turned off echo.") || !strings.Contains(page, `data-tool="echo" class="off"`) {
		t.Errorf("the page after turning echo off: %.2000s", page)
	}
	if code, _ := post("/ui/servers/t/tool", own, url.Values{"csrf": {token[1]}, "tool": {"echo"}, "enabled": {"true"}}); code != http.StatusSeeOther {
		t.Fatalf("turning a tool on: %d", code)
	}
	if b, _ := os.ReadFile(h.path); strings.Contains(string(b), `"echo"`) {
		t.Errorf("turning echo on again left its override:\n%s", b)
	}
	// The session opens the dashboard, not the control API.
	if code, _, _ := get(h.base + "/api/servers"); code != http.StatusUnauthorized {
		t.Errorf("the control API with the dashboard's session: %d", code)
	}
	// A command with the key gets a link.
	req, _ := http.NewRequest("POST", h.base+"/api/dashboard/link?path=/clients", nil)
	req.Header.Set("Authorization", "Bearer dash-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "/ui/login?t=") {
		t.Errorf("a link for a command: %d %s", resp.StatusCode, b)
	}
}

func toolOn(tools []Tool, name string) bool {
	for _, tl := range tools {
		if tl.Name == name {
			return tl.Enabled
		}
	}
	return false
}
