//go:build unix

package oauthflow

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	mcptransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcptray/mcptray/settings"
	"github.com/mcptray/mcptray/testpeers"
)

// peers is a Manager signing in to real authorization servers: its
// callback on 127.0.0.1, the browser stand-in as its browser, secrets in
// memory, and Run going.
type peers struct {
	t     *testing.T
	m     *Manager
	store *memStore
	cb    *httptest.Server
	logs  *logBuffer
	user  string
	pass  string

	mu      sync.Mutex // guards browser
	browser *testpeers.Browser
}

// use makes a new browser stand-in the manager's browser, answering
// with decision and unticking untick, and returns it.
func (p *peers) use(decision testpeers.Decision, untick ...string) *testpeers.Browser {
	b := testpeers.NewBrowser(p.t, p.user, p.pass)
	b.Decision, b.Untick = decision, untick
	p.mu.Lock()
	p.browser = b
	p.mu.Unlock()
	return b
}

func (p *peers) current() *testpeers.Browser {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.browser
}

func newPeers(t *testing.T, user, password string, opt func(*Options)) *peers {
	p := &peers{t: t, store: &memStore{}, logs: &logBuffer{}, user: user, pass: password}
	p.use(testpeers.Approve)
	o := Options{
		Store:       p.store,
		OpenBrowser: func(ctx context.Context, u string) error { return p.current().Open(ctx, u) },
		Logger:      slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Presets:     []Preset{},
	}
	if opt != nil {
		opt(&o)
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	p.m = m
	p.cb = httptest.NewServer(m)
	t.Cleanup(p.cb.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Cleanup(func() {
		if t.Failed() {
			b := p.current()
			t.Logf("browser:\n%s\nerrors: %v\nmanager log:\n%s", b.Pages(), b.Errors(), p.logs.String())
		}
	})
	return p
}

func (p *peers) redirect() string { return p.cb.URL + "/oauth/callback" }

// configure tells the manager of a server, as the hub does.
func (p *peers) configure(name, url string, o settings.OAuthConfig) {
	p.t.Helper()
	o.RedirectURI = p.redirect()
	if err := p.m.Configure(context.Background(), name, &Config{ServerURL: url, Configured: true, OAuthConfig: o}); err != nil {
		p.t.Fatal(err)
	}
}

// connect initializes an MCP session through the manager's transport, as
// the hub's upstream does.
func (p *peers) connect(name, url string) (*mcpclient.Client, error) {
	c, err := mcpclient.NewStreamableHttpClient(url, mcptransport.WithHTTPBasicClient(&http.Client{Transport: p.m.Transport(name, http.DefaultTransport)}))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		c.Close()
		return nil, err
	}
	p.t.Cleanup(func() { c.Close() })
	return c, nil
}

// call calls a tool and returns its text.
func call(c *mcpclient.Client, tool string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, item := range res.Content {
		if tc, ok := item.(mcp.TextContent); ok {
			out.WriteString(tc.Text)
		}
	}
	return out.String(), nil
}

// signIn is the user choosing Authorize…, and the sign-in's end.
func (p *peers) signIn(name string) *SignIn {
	p.t.Helper()
	wait := p.m.Changes()
	if _, err := p.m.Authorize(context.Background(), name, true); err != nil {
		p.t.Fatalf("Authorize %s: %v", name, err)
	}
	return p.waitEnd(name, wait)
}

// waitEnd waits for the server's sign-in to end.
func (p *peers) waitEnd(name string, wait <-chan struct{}) *SignIn {
	p.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if s := p.m.Summary(name); s != nil && s.SignIn != nil && s.SignIn.Status != SignInWaiting {
			return s.SignIn
		}
		select {
		case <-wait:
			wait = p.m.Changes()
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			p.t.Fatalf("the sign-in of %s did not end within 60 s: %+v", name, p.m.Summary(name))
		}
	}
}

// firstConnection is a server configured by URL alone connecting: the 401,
// the automatic sign-in in the browser, its end.
func (p *peers) firstConnection(name, url string) *SignIn {
	p.t.Helper()
	p.configure(name, url, settings.OAuthConfig{})
	wait := p.m.Changes()
	if _, err := p.connect(name, url); !errors.Is(err, ErrAuthorizationRequired) {
		p.t.Fatalf("the first connection: %v, want an authorization error", err)
	}
	return p.waitEnd(name, wait)
}

func (p *peers) bundle(name string) *bundle {
	raw, ok, _ := p.store.Get(context.Background(), name)
	if !ok {
		return nil
	}
	var b bundle
	json.Unmarshal(raw, &b)
	return &b
}

// TestRealHydra: Ory Hydra grants a client only the scopes it registered and
// forgets its clients when it restarts. mcptray registers the scopes it
// uses, stops at an unticked scope, steps up within bounds (updating its
// registration with RFC 7592), reports a declined sign-in at once, and
// registers anew when Hydra forgot it.
func TestRealHydra(t *testing.T) {
	h := testpeers.StartHydra(t, testpeers.HydraOptions{Scopes: []string{"mcp:tools", "mcp:admin"}})
	rs := testpeers.StartResourceServer(t, testpeers.ResourceOptions{
		AuthorizationServers: []string{h.Issuer},
		Scopes:               []string{"mcp:tools"},
		ToolScopes:           map[string]string{"admin": "mcp:admin"},
		Verify:               testpeers.Introspection(h.IntrospectionURL(), nil),
	})
	p := newPeers(t, testpeers.HydraUser, testpeers.HydraPassword, nil)

	t.Run("registered scopes", func(t *testing.T) {
		if si := p.firstConnection("hydra", rs.URL); si.Status != SignInCompleted {
			t.Fatalf("sign-in %+v", si)
		}
		c, err := p.connect("hydra", rs.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := call(c, "whoami"); err != nil || !strings.Contains(got, "mcp:tools") {
			t.Errorf("whoami: %q %v", got, err)
		}
		if cl := p.bundle("hydra").Clients[h.Issuer]; !slices.Contains(cl.Scopes, "mcp:tools") || cl.RegistrationURI == "" {
			t.Errorf("registration %+v", cl.Scopes)
		}
	})

	t.Run("step-up", func(t *testing.T) {
		id := p.bundle("hydra").Clients[h.Issuer].ClientID
		c, err := p.connect("hydra", rs.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := call(c, "admin"); err != nil || got != "done with mcp:admin" {
			t.Fatalf("admin after step-up: %q %v", got, err)
		}
		if cl := p.bundle("hydra").Clients[h.Issuer]; cl.ClientID != id || !slices.Contains(cl.Scopes, "mcp:admin") {
			t.Errorf("registration %s %v (was %s): not updated in place (RFC 7592)", cl.ClientID, cl.Scopes, id)
		}
	})

	t.Run("unticked at consent", func(t *testing.T) {
		b := p.use(testpeers.Approve, "mcp:tools")
		defer p.use(testpeers.Approve)
		si := p.firstConnection("unticked", rs.URL)
		const want = "granted offline_access; the server needs mcp:tools"
		if si.Status != SignInFailed || si.Error != want {
			t.Fatalf("sign-in %+v", si)
		}
		if s := p.m.Summary("unticked"); s.State != StateNeedsAuthorization || s.Reason != want {
			t.Errorf("summary %+v", s)
		}
		for range 3 {
			_, _ = p.connect("unticked", rs.URL)
		}
		time.Sleep(500 * time.Millisecond)
		if n := len(b.Opened()); n != 1 {
			t.Errorf("%d tabs, want 1", n)
		}
	})

	t.Run("step-up unticked, bounded", func(t *testing.T) {
		if si := p.firstConnection("bounded", rs.URL); si.Status != SignInCompleted {
			t.Fatalf("sign-in %+v", si)
		}
		b := p.use(testpeers.Approve, "mcp:admin")
		defer p.use(testpeers.Approve)
		for i := range 4 {
			c, err := p.connect("bounded", rs.URL) // a new connection each time
			if err != nil {
				t.Fatal(err)
			}
			if _, err := call(c, "admin"); err == nil || !strings.Contains(err.Error(), "the server needs") {
				t.Errorf("call %d: %v", i, err)
			}
			if got, err := call(c, "whoami"); err != nil || !strings.Contains(got, "mcp:tools") {
				t.Errorf("the server stopped working: %q %v", got, err)
			}
		}
		if n := len(b.Opened()); n != 1 {
			t.Errorf("%d tabs for four calls on four connections, want 1", n)
		}
		if s := p.m.Summary("bounded"); s.State != StateAuthorized || !slices.Equal(s.SignIn.Missing, []string{"mcp:admin"}) {
			t.Errorf("summary %+v %+v", s, s.SignIn)
		}
	})

	t.Run("declined", func(t *testing.T) {
		p.use(testpeers.Decline)
		defer p.use(testpeers.Approve)
		si := p.firstConnection("declined", rs.URL)
		if si.Status != SignInFailed || !strings.Contains(si.Error, "access_denied") || !strings.Contains(si.Error, "the user denied the request") {
			t.Fatalf("sign-in %+v", si)
		}
		if s := p.m.Summary("declined"); s.State != StateFailed {
			t.Errorf("summary %+v", s)
		}
	})

	t.Run("restart forgets the client", func(t *testing.T) {
		// Signed out before the restart: Authorize checks the stored
		// registration (RFC 7592) and registers anew.
		p.configure("out", rs.URL, settings.OAuthConfig{})
		if si := p.signIn("out"); si.Status != SignInCompleted {
			t.Fatalf("sign-in %+v", si)
		}
		if err := p.m.SignOut(context.Background(), "out"); err != nil {
			t.Fatal(err)
		}
		old := p.bundle("hydra").Clients[h.Issuer].ClientID
		oldOut := p.bundle("out").Clients[h.Issuer].ClientID
		h.Restart(t)
		// Signed in before: the next request finds the token refused,
		// and the refresh the client unknown.
		if _, err := p.connect("hydra", rs.URL); !errors.Is(err, ErrAuthorizationRequired) {
			t.Fatalf("after the restart: %v", err)
		}
		if si := p.signIn("hydra"); si.Status != SignInCompleted {
			t.Fatalf("sign-in after the restart %+v", si)
		}
		if _, err := p.connect("hydra", rs.URL); err != nil {
			t.Fatal(err)
		}
		if si := p.signIn("out"); si.Status != SignInCompleted {
			t.Fatalf("sign-in after sign-out and restart %+v", si)
		}
		if p.bundle("hydra").Clients[h.Issuer].ClientID == old || p.bundle("out").Clients[h.Issuer].ClientID == oldOut {
			t.Error("a forgotten registration was reused")
		}
		if _, err := p.connect("out", rs.URL); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRealZitadel: zitadel/oidc's provider knows pre-registered clients only:
// a configured client id signs in; a configured client with a wrong
// secret is reported as such; the device flow it advertises works.
func TestRealZitadel(t *testing.T) {
	p := newPeers(t, testpeers.ZitadelUser, testpeers.ZitadelPassword, nil)
	z := testpeers.StartZitadel(t, testpeers.ZitadelOptions{
		Clients: []testpeers.ZitadelClient{
			{ID: "mcptray", RedirectURIs: []string{"http://127.0.0.1/oauth/callback"}},
			{ID: "mcptray-web", Secret: "web-secret", RedirectURIs: []string{p.redirect()}},
		},
		Scopes: []string{"mcp:tools"},
	})
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	resp, err := http.Get(z.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	rs := testpeers.StartResourceServer(t, testpeers.ResourceOptions{
		AuthorizationServers: []string{z.Issuer},
		Scopes:               []string{"openid", "mcp:tools"},
		Verify:               testpeers.JWTVerifier(z.Issuer, meta.JWKS),
	})

	t.Run("configured client", func(t *testing.T) {
		p.configure("zitadel", rs.URL, settings.OAuthConfig{ClientID: "mcptray"})
		if si := p.signIn("zitadel"); si.Status != SignInCompleted {
			t.Fatalf("sign-in %+v", si)
		}
		c, err := p.connect("zitadel", rs.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := call(c, "whoami"); err != nil || !strings.Contains(got, "client mcptray") {
			t.Errorf("whoami: %q %v", got, err)
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		p.configure("web", rs.URL, settings.OAuthConfig{ClientID: "mcptray-web", ClientSecret: "not-the-secret"})
		si := p.signIn("web")
		if si.Status != SignInFailed || !strings.Contains(si.Error, "refused the client credentials") || !strings.Contains(si.Error, "check oauth.clientId and oauth.clientSecret") {
			t.Fatalf("sign-in %+v", si)
		}
		if s := p.m.Summary("web"); s.State != StateFailed || strings.Contains(s.Reason, "no longer knows") {
			t.Errorf("summary %+v", s)
		}
		if strings.Contains(p.logs.String(), "not-the-secret") {
			t.Error("the secret reached the log")
		}
		p.configure("web", rs.URL, settings.OAuthConfig{ClientID: "mcptray-web", ClientSecret: "web-secret"})
		if si := p.signIn("web"); si.Status != SignInCompleted {
			t.Fatalf("with the right secret: %+v", si)
		}
	})

	t.Run("device flow", func(t *testing.T) {
		p.configure("device", rs.URL, settings.OAuthConfig{ClientID: "mcptray"})
		wait := p.m.Changes()
		si, err := p.m.AuthorizeDevice(context.Background(), "device")
		if err != nil {
			t.Fatal(err)
		}
		if si.UserCode == "" || !strings.HasPrefix(si.VerificationURI, z.Issuer) || si.Flow != FlowDevice {
			t.Fatalf("device sign-in %+v", si)
		}
		if s := p.m.Summary("device"); s.SignIn.UserCode != si.UserCode || s.Endpoints.Device == "" {
			t.Errorf("summary %+v %+v", s.SignIn, s.Endpoints)
		}
		// The user, on another device.
		if err := p.current().Open(context.Background(), si.URL); err != nil {
			t.Fatal(err)
		}
		if si := p.waitEnd("device", wait); si.Status != SignInCompleted {
			t.Fatalf("sign-in %+v", si)
		}
		c, err := p.connect("device", rs.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := call(c, "whoami"); err != nil || !strings.Contains(got, "mcp:tools") {
			t.Errorf("whoami: %q %v", got, err)
		}
	})
}

// TestRealCIMD: oidc-provider knowing clients by Client ID Metadata Document
// only, fetched over https: mcptray identifies with its own document (the
// repository's, published on a local https host), with no client
// configured.
func TestRealCIMD(t *testing.T) {
	host := testpeers.StartCIMDHost(t)
	as := testpeers.StartCIMD(t, host)
	docURL := host.URL + "/mcptray/client-metadata.json"
	p := newPeers(t, "cimd-user", "any", func(o *Options) { o.ClientMetadataURL = docURL })
	p.m.cimdURIs = []string{p.redirect()}
	raw, err := os.ReadFile("../docs/oauth/client-metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// The repository's document, at the test host's URL with the test's
	// callback: what a company publishing its own changes.
	doc["client_id"], doc["redirect_uris"] = docURL, []string{p.redirect()}
	host.Publish("/mcptray/client-metadata.json", doc)

	si := p.firstConnection("cimd", as.Resource.URL)
	if si.Status != SignInCompleted {
		t.Fatalf("sign-in %+v", si)
	}
	c, err := p.connect("cimd", as.Resource.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := call(c, "whoami"); err != nil || !strings.Contains(got, docURL) {
		t.Errorf("whoami: %q %v", got, err)
	}
	if s := p.m.Summary("cimd"); s.Registration != "cimd" || s.ClientID != docURL {
		t.Errorf("summary %+v", s)
	}
	if host.Fetches("/mcptray/client-metadata.json") == 0 {
		t.Error("the authorization server never fetched the document")
	}

	p.use(testpeers.Decline)
	if si := p.firstConnection("declined", as.Resource.URL); si.Status != SignInFailed || !strings.Contains(si.Error, "access_denied") {
		t.Errorf("declined: %+v", si)
	}
}
