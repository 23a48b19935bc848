//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/testpeers"
)

// app is a whole mcptray (settings file, the private Secret Service,
// OAuth, the hub) with the browser stand-in as its browser.
type app struct {
	t        *testing.T
	in       *instance
	settings string
	logs     *testpeers.Buffer

	mu      sync.Mutex // guards browser
	browser *testpeers.Browser
}

// startApp writes settings and runs mcptray on listen ("127.0.0.1:0" for
// any port) until the test ends, with b as its browser (nil: none, as
// over SSH or with --no-browser).
func startApp(t *testing.T, settingsJSON, listen string, b *testpeers.Browser) *app {
	t.Helper()
	dir := t.TempDir()
	a := &app{t: t, settings: filepath.Join(dir, "mcp_settings.json"), logs: &testpeers.Buffer{}}
	if err := os.WriteFile(a.settings, []byte(settingsJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var open func(context.Context, string) error
	if b != nil {
		a.use(b)
		open = func(ctx context.Context, u string) error { return a.current().Open(ctx, u) }
	} else {
		a.use(testpeers.NewBrowser(t, "", "")) // opened by nobody; for the failure log only
	}
	in, err := newInstance(options{settings: a.settings, listen: listen}, log, open)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.hub.Listen(); err != nil {
		t.Fatal(err)
	}
	a.in = in
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("mcptray did not stop within 20 s")
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			b := a.current()
			t.Logf("browser:\n%s\nerrors: %v\nmcptray log:\n%s", b.Pages(), b.Errors(), a.logs.String())
		}
	})
	return a
}

func (a *app) use(b *testpeers.Browser) *testpeers.Browser {
	a.mu.Lock()
	a.browser = b
	a.mu.Unlock()
	return b
}

func (a *app) current() *testpeers.Browser {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.browser
}

// cli runs mcptray's command line against the instance, with stdin, and
// returns its exit code and output.
func (a *app) cli(stdinText io.Reader, stdout io.Writer, args ...string) (int, string) {
	var stderr bytes.Buffer
	stdin = stdinText
	defer func() { stdin = os.Stdin }()
	args = append(args, "--listen", a.in.hub.Addr(), "--settings", a.settings)
	code := run(args, stdout, &stderr)
	return code, stderr.String()
}

// lineWriter hands each line the CLI writes to lines.
type lineWriter struct {
	mu    sync.Mutex // guards buf and all
	buf   bytes.Buffer
	all   strings.Builder
	lines chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 100)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.lines <- strings.TrimSpace(line)
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// waitLine waits for a line the CLI printed that matches re.
func waitLine(t *testing.T, w *lineWriter, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-w.lines:
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("the CLI printed no line matching %s:\n%s", re, w.String())
		}
	}
}

var urlLine = regexp.MustCompile(`^(http://\S+)$`)

// TestHydraThroughTheApp: a server configured by URL alone, behind an
// authorization server that lets a client ask only for the scopes it
// registered: the first connection registers with its scopes and signs
// in; the details show discovery, registration and authorization; the
// settings file gets the sign-in's facts once, and renewals write nothing
// and restart nothing (an expiresAt an earlier mcptray wrote goes).
func TestHydraThroughTheApp(t *testing.T) {
	h := testpeers.StartHydra(t, testpeers.HydraOptions{Scopes: []string{"mcp:tools", "mcp:admin"}, AccessTTL: 6 * time.Second})
	rs := testpeers.StartResourceServer(t, testpeers.ResourceOptions{
		AuthorizationServers: []string{h.Issuer},
		Scopes:               []string{"mcp:tools"},
		Verify:               testpeers.Introspection(h.IntrospectionURL(), nil),
	})
	a := startApp(t, fmt.Sprintf(`{"mcpServers": {"hydra-app": {"url": %q}, "hydra-old": {"url": %q, "oauth": {"expiresAt": "2020-01-01T00:00:00Z"}}}}`, rs.URL, rs.URL),
		"127.0.0.1:0", testpeers.NewBrowser(t, testpeers.HydraUser, testpeers.HydraPassword))

	waitState(t, a.in.hub, "hydra-app", hub.StateConnected, 60*time.Second)
	waitState(t, a.in.hub, "hydra-old", hub.StateConnected, 60*time.Second)
	if got := callTool(t, a.in.hub.Endpoint(), "hydra-app-whoami", nil); !strings.Contains(got, "mcp:tools") {
		t.Errorf("whoami: %q", got)
	}
	waitFor(t, 10*time.Second, func() bool {
		s := readFile(t, a.settings)
		return strings.Count(s, `"authorizedAt"`) == 2 && !strings.Contains(s, "expiresAt")
	})
	time.Sleep(time.Second) // let the file settle, and its reload
	before, _ := os.Stat(a.settings)
	content := readFile(t, a.settings)

	// The first sign-in wrote an oauth block into the file: the server
	// kept its connection (one reconnection, for the sign-in), and its
	// details show the sign-in's steps.
	settled, _ := a.in.hub.Details("hydra-app")
	var trace strings.Builder
	connecting, signedIn := 0, false
	for _, e := range settled.Events {
		trace.WriteString(e.Message + "\n")
		signedIn = signedIn || strings.HasPrefix(e.Message, "oauth: signed in")
		if signedIn && strings.HasPrefix(e.Message, "connecting") {
			connecting++
		}
	}
	for _, want := range []string{"oauth: protected resource metadata from " + rs.MetadataURL, "oauth: authorization server metadata from", "oauth: registered with " + h.Issuer, "scopes mcp:tools offline_access", "oauth: authorization URL", "oauth: signed in"} {
		if !strings.Contains(trace.String(), want) {
			t.Errorf("the details lack %q:\n%s", want, trace.String())
		}
	}
	if connecting != 1 {
		t.Errorf("%d connections after the sign-in, want 1: the settings write restarted the server?\n%s", connecting, trace.String())
	}

	// Renewals: the access token lives 6 s; calls across three lifetimes.
	first, _ := readBundle(t, "hydra-app")
	renewals, last := 0, first.Token.RefreshToken
	for deadline := time.Now().Add(60 * time.Second); renewals < 2; time.Sleep(400 * time.Millisecond) {
		if got := callTool(t, a.in.hub.Endpoint(), "hydra-app-echo", map[string]any{"text": "x"}); got != "x" {
			t.Fatalf("echo: %q", got)
		}
		if b, _ := readBundle(t, "hydra-app"); b.Token != nil && b.Token.RefreshToken != last {
			renewals, last = renewals+1, b.Token.RefreshToken
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d renewals in 60 s", renewals)
		}
	}
	after, _ := os.Stat(a.settings)
	if !after.ModTime().Equal(before.ModTime()) || readFile(t, a.settings) != content {
		t.Errorf("a renewal wrote the settings file:\n%s", readFile(t, a.settings))
	}
	d, _ := a.in.hub.Details("hydra-app")
	settledAt := settled.Events[len(settled.Events)-1].Time
	if !d.ConnectedAt.Equal(settled.ConnectedAt) || slices.ContainsFunc(d.Events, func(e hub.Event) bool { return e.Time.After(settledAt) && strings.HasPrefix(e.Message, "connecting") }) {
		t.Errorf("the server reconnected during the renewals: %+v", d.Events)
	}
	if sum := d.OAuth; sum == nil || sum.ExpiresAt.IsZero() {
		t.Errorf("the API lost the expiry: %+v", sum)
	}
	if n := len(a.current().Opened()); n != 2 {
		t.Errorf("%d browser tabs, want one per server", n)
	}
	// The tokens and the RFC 7592 registration token are in the keychain
	// only.
	raw, _ := keychainSession.Lookup(keychain.Service, "hydra-app")
	var b struct {
		Clients map[string]struct {
			RegistrationToken string `json:"registrationToken"`
		} `json:"clients"`
	}
	json.Unmarshal([]byte(raw), &b)
	reg := b.Clients[h.Issuer].RegistrationToken
	if reg == "" {
		t.Error("no RFC 7592 registration token kept")
	}
	assertNoSecretIn(t, filepath.Dir(a.settings), a.logs.String(), first.Token.AccessToken, first.Token.RefreshToken, last, reg)
}

// TestUntickedAndDeclinedThroughTheApp: an unticked scope leaves the
// server waiting with "granted X; the server needs Y" and one tab; a
// declined sign-in is the state at once, and mcptray authorize exits
// non-zero with the reason as soon as it is.
func TestUntickedAndDeclinedThroughTheApp(t *testing.T) {
	h := testpeers.StartHydra(t, testpeers.HydraOptions{Scopes: []string{"mcp:tools"}})
	rs := testpeers.StartResourceServer(t, testpeers.ResourceOptions{
		AuthorizationServers: []string{h.Issuer},
		Scopes:               []string{"mcp:tools"},
		Verify:               testpeers.Introspection(h.IntrospectionURL(), nil),
	})
	b := testpeers.NewBrowser(t, testpeers.HydraUser, testpeers.HydraPassword)
	b.Untick = []string{"mcp:tools"}
	a := startApp(t, fmt.Sprintf(`{"mcpServers": {"unticked-app": {"url": %q}}}`, rs.URL), "127.0.0.1:0", b)

	const want = "granted offline_access; the server needs mcp:tools"
	waitFor(t, 60*time.Second, func() bool {
		d, _ := a.in.hub.Details("unticked-app")
		return d.State == hub.StateNeedsAuthorization && d.Error == want
	})
	time.Sleep(time.Second)
	if n := len(b.Opened()); n != 1 {
		t.Errorf("%d tabs, want 1", n)
	}
	var status bytes.Buffer
	if code, errs := a.cli(nil, &status, "status"); code != 0 || !strings.Contains(status.String(), want) {
		t.Errorf("mcptray status: %d %s\n%s", code, errs, status.String())
	}

	// mcptray authorize, declined in the browser.
	d := a.use(testpeers.NewBrowser(t, testpeers.HydraUser, testpeers.HydraPassword))
	d.Decision = testpeers.Decline
	out := newLineWriter()
	exit := make(chan [2]any, 1)
	go func() {
		code, errs := a.cli(nil, out, "authorize", "unticked-app")
		exit <- [2]any{code, errs}
	}()
	u := waitLine(t, out, urlLine)[1]
	if err := d.Open(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	declined := time.Now()
	select {
	case r := <-exit:
		code, errs := r[0].(int), r[1].(string)
		if code == 0 || !strings.Contains(errs, "access_denied") {
			t.Errorf("mcptray authorize: exit %d, %q", code, errs)
		}
		if took := time.Since(declined); took > 10*time.Second {
			t.Errorf("mcptray authorize took %v to exit", took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("mcptray authorize did not exit after the decline")
	}
	dd, _ := a.in.hub.Details("unticked-app")
	if dd.State != hub.StateNeedsAuthorization || !strings.Contains(dd.Error, "access_denied") || dd.OAuth.State != oauthflow.StateNeedsAuthorization && dd.OAuth.State != oauthflow.StateFailed {
		t.Errorf("details %s %q %+v", dd.State, dd.Error, dd.OAuth)
	}
}

// TestPasteAndDeviceThroughTheApp: mcptray authorize --paste with a
// browser that cannot reach mcptray (the test takes the address it was
// sent to without loading it), and --device at an authorization server
// that offers the device flow.
func TestPasteAndDeviceThroughTheApp(t *testing.T) {
	z := testpeers.StartZitadel(t, testpeers.ZitadelOptions{
		Clients: []testpeers.ZitadelClient{{ID: "mcptray", RedirectURIs: []string{"http://localhost/oauth/callback"}}},
		Scopes:  []string{"mcp:tools"},
	})
	resp, err := http.Get(z.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	rs := testpeers.StartResourceServer(t, testpeers.ResourceOptions{
		AuthorizationServers: []string{z.Issuer},
		Scopes:               []string{"openid", "mcp:tools"},
		Verify:               testpeers.JWTVerifier(z.Issuer, meta.JWKS),
	})
	// mcptray has no browser to open here (over SSH, say).
	a := startApp(t, fmt.Sprintf(`{"mcpServers": {"pasted": {"url": %q, "oauth": {"clientId": "mcptray"}}, "device": {"url": %q, "oauth": {"clientId": "mcptray"}}}}`, rs.URL, rs.URL),
		"127.0.0.1:0", nil)
	waitState(t, a.in.hub, "pasted", hub.StateNeedsAuthorization, 60*time.Second)

	t.Run("paste", func(t *testing.T) {
		out := newLineWriter()
		pr, pw := io.Pipe()
		exit := make(chan int, 1)
		var errs string
		go func() {
			var code int
			code, errs = a.cli(pr, out, "authorize", "pasted", "--paste")
			exit <- code
		}()
		u := waitLine(t, out, urlLine)[1]
		b := testpeers.NewBrowser(t, testpeers.ZitadelUser, testpeers.ZitadelPassword)
		landed, err := b.Authorize(context.Background(), u, a.in.hub.BaseURL()+"/oauth/callback")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(pw, landed.String())
		select {
		case code := <-exit:
			if code != 0 || !strings.Contains(out.String(), "Signed in to pasted") {
				t.Fatalf("exit %d %s\n%s", code, errs, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("mcptray authorize --paste did not end")
		}
		waitState(t, a.in.hub, "pasted", hub.StateConnected, 30*time.Second)
	})

	t.Run("device", func(t *testing.T) {
		out := newLineWriter()
		exit := make(chan int, 1)
		go func() {
			code, _ := a.cli(nil, out, "authorize", "device", "--device")
			exit <- code
		}()
		code := waitLine(t, out, regexp.MustCompile(`enter the code:\s+(\S+)`))[1]
		var complete string
		for complete == "" {
			l := waitLine(t, out, regexp.MustCompile(`^\(or open (\S+), which has the code in it\)$`))
			complete = l[1]
		}
		if !strings.Contains(complete, code) {
			t.Errorf("the URL %s lacks the code %s", complete, code)
		}
		if err := testpeers.NewBrowser(t, testpeers.ZitadelUser, testpeers.ZitadelPassword).Open(context.Background(), complete); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-exit:
			if c != 0 || !strings.Contains(out.String(), "Signed in to device") {
				t.Fatalf("exit %d\n%s", c, out.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatal("mcptray authorize --device did not end")
		}
		waitState(t, a.in.hub, "device", hub.StateConnected, 30*time.Second)
		if got := callTool(t, a.in.hub.Endpoint(), "device-whoami", nil); !strings.Contains(got, "mcp:tools") {
			t.Errorf("whoami: %q", got)
		}
	})
}

// TestOwnClientMetadataDocumentThroughTheApp: an authorization server
// that knows clients by Client ID Metadata Document only, and no client
// configured: mcptray identifies with its own document.
func TestOwnClientMetadataDocumentThroughTheApp(t *testing.T) {
	host := testpeers.StartCIMDHost(t)
	as := testpeers.StartCIMD(t, host)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	callback := fmt.Sprintf("http://localhost:%d/oauth/callback", port)
	docURL := host.URL + "/mcptray/client-metadata.json"
	raw, err := os.ReadFile("../docs/oauth/client-metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	doc["client_id"], doc["redirect_uris"] = docURL, []string{callback}
	host.Publish("/mcptray/client-metadata.json", doc)
	// What a build with -ldflags -X sets.
	defer func(u, r string) {
		oauthflow.DefaultClientMetadataURL, oauthflow.DefaultClientMetadataRedirectURIs = u, r
	}(oauthflow.DefaultClientMetadataURL, oauthflow.DefaultClientMetadataRedirectURIs)
	oauthflow.DefaultClientMetadataURL, oauthflow.DefaultClientMetadataRedirectURIs = docURL, callback

	a := startApp(t, fmt.Sprintf(`{"mcpServers": {"cimd-app": {"url": %q}}}`, as.Resource.URL), fmt.Sprintf("127.0.0.1:%d", port), testpeers.NewBrowser(t, "cimd-user", "any"))
	waitState(t, a.in.hub, "cimd-app", hub.StateConnected, 60*time.Second)
	if got := callTool(t, a.in.hub.Endpoint(), "cimd-app-whoami", nil); !strings.Contains(got, docURL) {
		t.Errorf("whoami: %q", got)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(readFile(t, a.settings), `"registration": "cimd"`) })
}
