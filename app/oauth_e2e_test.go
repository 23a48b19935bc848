//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/testpeers"
)

// testBrowser is the user at the browser: it follows every redirect, and
// so consents wherever the authorization server lets it.
type testBrowser struct {
	t   *testing.T
	jar http.CookieJar

	mu     sync.Mutex // guards opened and pages
	opened []string
	pages  []string
	wg     sync.WaitGroup
}

func newTestBrowser(t *testing.T) *testBrowser {
	jar, _ := cookiejar.New(nil)
	b := &testBrowser{t: t, jar: jar}
	t.Cleanup(b.wg.Wait)
	return b
}

func (b *testBrowser) open(_ context.Context, u string) error {
	b.mu.Lock()
	b.opened = append(b.opened, u)
	b.mu.Unlock()
	b.wg.Go(func() {
		resp, err := (&http.Client{Jar: b.jar, Timeout: 30 * time.Second}).Get(u)
		page := ""
		if err != nil {
			page = "error: " + err.Error()
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page = fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
		b.mu.Lock()
		b.pages = append(b.pages, page)
		b.mu.Unlock()
	})
	return nil
}

func (b *testBrowser) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.opened)
}

// startInstance runs mcptray in the test, with b as its browser; with b
// nil, it has none (as with --no-browser).
func startInstance(t *testing.T, settingsFile string, b *testBrowser, logs *testpeers.Buffer) (*instance, func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var open func(context.Context, string) error
	if b != nil {
		open = b.open
	}
	in, err := newInstance(options{settings: settingsFile, listen: "127.0.0.1:0"}, log, open)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.hub.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- in.run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Error("mcptray did not stop within 20 s")
			}
		})
	}
	t.Cleanup(stop)
	return in, stop
}

func waitState(t *testing.T, h *hub.Hub, name string, want hub.State, limit time.Duration) hub.ServerStatus {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ch := h.Changes()
		d, _ := h.Details(name)
		if d.State == want {
			return d.ServerStatus
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %s (%s), want %s, after %v; events: %+v", name, d.State, d.Error, want, limit, d.Events)
		}
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func callTool(t *testing.T, endpoint, tool string, args map[string]any) string {
	t.Helper()
	c, err := client.NewStreamableHttpClient(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-06-18"
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = tool, args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	var out strings.Builder
	for _, item := range res.Content {
		if tc, ok := item.(mcp.TextContent); ok {
			out.WriteString(tc.Text)
		}
	}
	return out.String()
}

// storedBundle is the part of a server's bundle the tests read.
type storedBundle struct {
	Clients map[string]*struct {
		ClientID string `json:"clientId"`
	} `json:"clients"`
	Token *struct {
		AccessToken  string    `json:"accessToken"`
		RefreshToken string    `json:"refreshToken"`
		Expiry       time.Time `json:"expiry"`
	} `json:"token"`
}

// readBundle reads the server's bundle as secret-tool sees it.
func readBundle(t *testing.T, name string) (storedBundle, bool) {
	t.Helper()
	var b storedBundle
	raw, found := keychainSession.Lookup(keychain.Service, name)
	if found {
		_ = json.Unmarshal([]byte(raw), &b)
	}
	return b, found
}

// storedTokens reads the server's tokens as secret-tool sees them.
func storedTokens(t *testing.T, name string) (access, refresh string, ok bool) {
	t.Helper()
	b, found := readBundle(t, name)
	if b.Token == nil {
		return "", "", found
	}
	return b.Token.AccessToken, b.Token.RefreshToken, true
}

// asEndpoints are the endpoints of the oidc-provider peer, from its metadata.
type asEndpoints struct {
	Token         string `json:"token_endpoint"`
	Introspection string `json:"introspection_endpoint"`
}

func discoverAS(t *testing.T, as *testpeers.OAuthServer) asEndpoints {
	t.Helper()
	resp, err := http.Get(as.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e asEndpoints
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Token == "" || e.Introspection == "" {
		t.Fatalf("authorization server metadata: %v %+v", err, e)
	}
	return e
}

// postForm posts form to an endpoint of the authorization server as the
// public client clientID and decodes the JSON answer.
func postForm(t *testing.T, endpoint, clientID string, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("client_id", clientID)
	resp, err := http.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// refreshTokenActive asks the authorization server (RFC 7662
// introspection) whether a refresh token still works.
func refreshTokenActive(t *testing.T, e asEndpoints, clientID, token string) bool {
	t.Helper()
	code, out := postForm(t, e.Introspection, clientID, url.Values{"token": {token}, "token_type_hint": {"refresh_token"}})
	if code != 200 {
		t.Fatalf("introspection: %d %v", code, out["error"])
	}
	return out["active"] == true
}

// assertNoSecretIn fails when a token shows up in any file of dir or in the
// logs.
func assertNoSecretIn(t *testing.T, dir, logs string, secrets ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(path)
		for _, s := range secrets {
			if s != "" && bytes.Contains(data, []byte(s)) {
				t.Errorf("%s contains a token", path) // the token itself stays out of the output
			}
		}
		return nil
	})
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Error("the log contains a token")
		}
	}
}

// TestOAuthWithARealAuthorizationServer runs mcptray against oidc-provider
// and an MCP server it protects, configured by URL alone: discovery,
// registration, the browser sign-in, tokens in the real Secret Service and
// nowhere else, a silent refresh across the access token's expiry (the peer
// refuses one without the RFC 8707 resource), reuse after a restart, a
// keychain item deleted by hand, sign-out with the refresh token revoked at
// the authorization server.
func TestOAuthWithARealAuthorizationServer(t *testing.T) {
	verifyEvery = 300 * time.Millisecond
	defer func() { verifyEvery = time.Minute }()
	as := testpeers.StartOAuthServer(t, 5)
	dir := t.TempDir()
	settingsFile := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(settingsFile, []byte(fmt.Sprintf(`{"mcpServers": {"protected": {"url": %q}}}`, as.MCPURL)), 0o600)
	b := newTestBrowser(t)
	logs := &testpeers.Buffer{}
	in, stop := startInstance(t, settingsFile, b, logs)
	defer func() {
		if t.Failed() {
			t.Logf("mcptray log:\n%s", logs.String())
		}
	}()

	// The first connection asks for a sign-in; the browser opens by itself.
	waitState(t, in.hub, "protected", hub.StateConnected, 60*time.Second)
	if b.count() != 1 {
		t.Fatalf("the browser opened %d times, want 1", b.count())
	}
	if got := callTool(t, in.hub.Endpoint(), "protected-whoami", nil); !strings.Contains(got, "mcp:tools") {
		t.Errorf("whoami: %q", got)
	}
	access, refresh, ok := storedTokens(t, "protected")
	if !ok || access == "" || refresh == "" {
		t.Fatal("secret-tool does not find the tokens in the Secret Service")
	}
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(readFile(t, settingsFile), `"authorizedAt"`) })
	set := readFile(t, settingsFile)
	for _, want := range []string{`"issuer": "` + as.Issuer + `"`, `"registration": "dynamic"`, `"registeredClientId"`, `"grantedScopes"`, `"tokenStore": "keychain"`, `"tokenEndpoint"`} {
		if !strings.Contains(set, want) {
			t.Errorf("the settings file lacks %s:\n%s", want, set)
		}
	}
	if strings.Contains(set, `"expiresAt"`) {
		t.Errorf("the settings file has the expiry, which changes with every renewal:\n%s", set)
	}
	assertNoSecretIn(t, dir, logs.String(), access, refresh)

	// The access token lives 5 s: calls go on across its expiry, renewed
	// without a browser, the refresh token rotated. Poll until a call made
	// after the first token expired has worked and a renewed token is
	// stored.
	first, _ := readBundle(t, "protected")
	if first.Token == nil || first.Token.Expiry.IsZero() {
		t.Fatal("the stored token has no expiry")
	}
	var access2, refresh2 string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		expired := time.Now().After(first.Token.Expiry)
		if got := callTool(t, in.hub.Endpoint(), "protected-echo", map[string]any{"text": "across expiry"}); got != "across expiry" {
			t.Fatalf("echo while the token is renewed: %q", got)
		}
		access2, refresh2, _ = storedTokens(t, "protected")
		if expired && access2 != first.Token.AccessToken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no renewed token stored within 60 s of the first one's expiry")
		}
	}
	if refresh2 == first.Token.RefreshToken {
		t.Error("the refresh token did not rotate with the renewal")
	}
	if b.count() != 1 {
		t.Errorf("a renewal opened the browser")
	}

	// A restart reuses the tokens in the keychain.
	stop()
	in, stop = startInstance(t, settingsFile, b, logs)
	waitState(t, in.hub, "protected", hub.StateConnected, 30*time.Second)
	if b.count() != 1 {
		t.Errorf("the restart opened the browser")
	}

	// The user deletes the item by hand: the server needs authorization,
	// and no browser pops up by surprise.
	if err := keychainSession.Clear(keychain.Service, "protected"); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, in.hub, "protected", hub.StateNeedsAuthorization, 30*time.Second)
	if b.count() != 1 {
		t.Errorf("losing credentials opened the browser")
	}
	if !strings.Contains(st.Error, "deleted") {
		t.Errorf("the state does not say the secrets were deleted: %q", st.Error)
	}

	// Authorize… again, through the control API.
	resp, err := http.Post("http://"+in.hub.Addr()+"/api/servers/protected/authorize", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var a oauthflow.Authorization
	json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	if !strings.HasPrefix(a.URL, as.Issuer) {
		t.Errorf("authorization URL %q", a.URL)
	}
	waitState(t, in.hub, "protected", hub.StateConnected, 30*time.Second)
	if got := callTool(t, in.hub.Endpoint(), "protected-echo", map[string]any{"text": "back"}); got != "back" {
		t.Errorf("echo after re-authorization: %q", got)
	}

	// Sign out: revoked at the authorization server (RFC 7009), deleted,
	// metadata kept. The refresh token mcptray holds works until then.
	endpoints := discoverAS(t, as)
	signedIn, _ := readBundle(t, "protected")
	client := signedIn.Clients[as.Issuer]
	if client == nil || signedIn.Token == nil || signedIn.Token.RefreshToken == "" {
		t.Fatal("no client or refresh token in the keychain before sign-out")
	}
	liveRefresh := signedIn.Token.RefreshToken
	if !refreshTokenActive(t, endpoints, client.ClientID, liveRefresh) {
		t.Fatal("the authorization server says mcptray's refresh token is not active before sign-out")
	}
	resp, err = http.Post("http://"+in.hub.Addr()+"/api/servers/protected/signout", "application/json", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("signout: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	waitState(t, in.hub, "protected", hub.StateNeedsAuthorization, 30*time.Second)
	if a, _, _ := storedTokens(t, "protected"); a != "" {
		t.Error("tokens remain in the keychain after sign-out")
	}
	if refreshTokenActive(t, endpoints, client.ClientID, liveRefresh) {
		t.Error("the refresh token is still active at the authorization server after sign-out: it was not revoked")
	}
	code, out := postForm(t, endpoints.Token, client.ClientID, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {liveRefresh}, "resource": {as.MCPURL}})
	if code != 400 || out["error"] != "invalid_grant" {
		t.Errorf("a refresh with the signed-out refresh token: %d %v, want 400 invalid_grant", code, out["error"])
	}
	if !strings.Contains(readFile(t, settingsFile), `"registeredClientId"`) {
		t.Error("sign-out removed the non-secret metadata")
	}
	assertNoSecretIn(t, dir, logs.String(), access, refresh, access2, refresh2, liveRefresh)
}

// TestSDKExampleServerByURLAlone signs in to the TypeScript SDK's example
// OAuth server, configured by nothing but its URL.
func TestSDKExampleServerByURLAlone(t *testing.T) {
	url := testpeers.StartSDKOAuthExample(t)
	dir := t.TempDir()
	settingsFile := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(settingsFile, []byte(fmt.Sprintf(`{"mcpServers": {"sdk": {"url": %q}}}`, url)), 0o600)
	b := newTestBrowser(t)
	logs := &testpeers.Buffer{}
	in, _ := startInstance(t, settingsFile, b, logs)
	defer func() {
		if t.Failed() {
			t.Logf("mcptray log:\n%s", logs.String())
		}
	}()
	waitState(t, in.hub, "sdk", hub.StateConnected, 60*time.Second)
	if got := callTool(t, in.hub.Endpoint(), "sdk-greet", map[string]any{"name": "mcptray"}); !strings.Contains(got, "mcptray") {
		t.Errorf("greet: %q", got)
	}
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
