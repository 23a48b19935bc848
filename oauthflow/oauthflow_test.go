package oauthflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcptray/mcptray/settings"
)

// harness is a Manager with a callback server, a browser that follows
// redirects like a user who always consents, and an in-memory store.
type harness struct {
	t      *testing.T
	as     *fakeAS
	m      *Manager
	store  *memStore
	cb     *httptest.Server
	opened chan string
	clock  atomic.Int64 // added to time.Now, in ns
	logs   *logBuffer   // what the Manager logged
}

// logBuffer is the Manager's log, for tests that check what reached it.
type logBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newHarness(t *testing.T, as *fakeAS) *harness {
	return newHarnessWith(t, as, nil)
}

// newHarnessWith is newHarness with the manager's options changed by opt.
func newHarnessWith(t *testing.T, as *fakeAS, opt func(*Options)) *harness {
	h := &harness{t: t, as: as, store: &memStore{}, opened: make(chan string, 16), logs: &logBuffer{}}
	o := Options{
		Store:       h.store,
		OpenBrowser: func(_ context.Context, u string) error { h.opened <- u; return nil },
		Logger:      slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:         func() time.Time { return time.Now().Add(time.Duration(h.clock.Load())) },
		// No preset matches the test servers unless a test says so.
		Presets: []Preset{},
	}
	if opt != nil {
		opt(&o)
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	h.cb = httptest.NewServer(m)
	t.Cleanup(h.cb.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("events:\n%s", h.events())
		}
	})
	return h
}

func (h *harness) cfg() Config {
	return Config{ServerURL: h.as.mcpURL(), OAuthConfig: settings.OAuthConfig{RedirectURI: h.cb.URL + "/oauth/callback"}}
}

// configure tells the manager of a server, as the hub does.
func (h *harness) configure(name string, cfg Config) {
	h.t.Helper()
	if err := h.m.Configure(context.Background(), name, &cfg); err != nil {
		h.t.Fatal(err)
	}
}

// transport is the server's transport, as the hub makes it.
func (h *harness) transport(name string, cfg Config) http.RoundTripper {
	h.configure(name, cfg)
	return h.m.Transport(name, http.DefaultTransport)
}

// call sends one request to the protected server through the transport.
func (h *harness) call(name string, cfg Config) (*http.Response, error) {
	c := &http.Client{Transport: h.transport(name, cfg)}
	return c.Get(h.as.mcpURL())
}

// events is every server's trace, as its details show it.
func (h *harness) events() string {
	var lines []string
	h.m.mu.Lock()
	names := slices.Sorted(maps.Keys(h.m.servers))
	h.m.mu.Unlock()
	for _, n := range names {
		for _, st := range h.m.Trace(n) {
			lines = append(lines, st.Level+": "+st.Message)
		}
	}
	return strings.Join(lines, "\n")
}

// visit is the user's browser: it follows every redirect and returns the
// last page.
func (h *harness) visit(authURL string) (int, string) {
	h.t.Helper()
	resp, err := http.Get(authURL)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// signIn authorizes name with cfg and checks that it worked.
func (h *harness) signIn(name string, cfg Config) {
	h.t.Helper()
	h.configure(name, cfg)
	u, err := h.m.Authorize(context.Background(), name, true)
	if err != nil {
		h.t.Fatal(err)
	}
	if got := <-h.opened; got != u {
		h.t.Errorf("the browser opened %s, want %s", got, u)
	}
	code, page := h.visit(u)
	if code != 200 || !strings.Contains(page, "You can close this tab") {
		h.t.Fatalf("sign-in page: %d %s", code, page)
	}
}

func (h *harness) expectOK(name string, cfg Config) {
	h.t.Helper()
	resp, err := h.call(name, cfg)
	if err != nil {
		h.t.Fatalf("call: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		h.t.Fatalf("call: %d", resp.StatusCode)
	}
}

func (h *harness) bundle(name string) *bundle {
	raw, ok, _ := h.store.Get(context.Background(), name)
	if !ok {
		return nil
	}
	var b bundle
	json.Unmarshal(raw, &b)
	return &b
}

func TestURLOnlyDiscoversAndRegisters(t *testing.T) {
	as := newFakeAS(t)
	as.resourceScopes = []string{"mcp:tools"}
	h := newHarness(t, as)
	cfg := h.cfg()

	_, err := h.call("linear", cfg)
	var ae *AuthorizationError
	if !errors.As(err, &ae) || !errors.Is(err, ErrAuthorizationRequired) {
		t.Fatalf("first call: %v, want an AuthorizationError", err)
	}
	if s := h.m.Summary("linear"); s == nil || s.State != StateNeedsAuthorization {
		t.Fatalf("summary %+v", s)
	}
	h.signIn("linear", cfg)
	h.expectOK("linear", cfg)

	if len(as.registrations) != 1 {
		t.Fatalf("%d registrations", len(as.registrations))
	}
	reg := as.registrations[0]
	if reg["application_type"] != "native" || reg["token_endpoint_auth_method"] != "none" || reg["client_name"] != "mcptray" {
		t.Errorf("registration metadata %v", reg)
	}
	if !slices.Equal(toStrings(reg["grant_types"]), []string{"authorization_code", "refresh_token"}) || !slices.Equal(toStrings(reg["redirect_uris"]), []string{cfg.RedirectURI}) {
		t.Errorf("registration metadata %v", reg)
	}
	q := as.authRequests[0]
	if q.Get("resource") != as.mcpURL() || q.Get("code_challenge_method") != "S256" || q.Get("scope") != "mcp:tools" {
		t.Errorf("authorization request %v", q)
	}
	tr := as.tokenRequests[0]
	if tr.Get("resource") != as.mcpURL() || tr.Get("code_verifier") == "" {
		t.Errorf("token request %v", tr)
	}
	b := h.bundle("linear")
	if b == nil || b.Token == nil || b.Token.RefreshToken == "" || b.Clients[as.issuer()] == nil || b.Pending != nil {
		t.Fatalf("stored bundle %+v", b)
	}
	meta := h.m.Summary("linear").Mirror()
	if meta.Issuer != as.issuer() || meta.Registration != "dynamic" || meta.RegisteredClient != "client-1" || meta.ExpiresAt != "" || meta.AuthorizedAt == "" {
		t.Errorf("mirrored metadata %+v", meta)
	}
	sum := h.m.Summary("linear")
	if sum.State != StateAuthorized || sum.Issuer != as.issuer() || !slices.Equal(sum.Scopes, []string{"mcp:tools"}) {
		t.Errorf("summary %+v", sum)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestDiscoveryVariants(t *testing.T) {
	for _, prm := range []string{"header", "path", "root", ""} {
		for _, asAt := range []string{"oauth", "oidc", "oidc-appended", ""} {
			for _, issPath := range []string{"", "/tenant1"} {
				if (prm == "" || asAt == "") && issPath != "" {
					continue // the fallbacks have no path
				}
				if asAt == "oidc-appended" && issPath == "" {
					continue // the appended form exists only with a path
				}
				t.Run(prm+"/"+asAt+issPath, func(t *testing.T) {
					as := newFakeAS(t)
					as.prmAt, as.asAt, as.issuerPath = prm, asAt, issPath
					h := newHarness(t, as)
					cfg := h.cfg()
					if _, err := h.call("s", cfg); !errors.Is(err, ErrAuthorizationRequired) {
						t.Fatalf("first call: %v", err)
					}
					h.signIn("s", cfg)
					h.expectOK("s", cfg)
				})
			}
		}
	}
}

func TestIssuerMismatchStopsDiscovery(t *testing.T) {
	as := newFakeAS(t)
	as.wrongIssuer = true
	h := newHarness(t, as)
	h.configure("s", h.cfg())
	_, err := h.m.Authorize(context.Background(), "s", true)
	if err == nil || !strings.Contains(err.Error(), "RFC 8414") {
		t.Fatalf("Authorize with a lying issuer: %v", err)
	}
	if len(h.opened) != 0 {
		t.Error("the browser opened anyway")
	}
}

func TestResourceMetadataForAnotherServerIsRefused(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	cfg.ServerURL = as.url() + "/other"
	h.configure("s", cfg)
	// The challenge points at metadata for /mcp, not /other.
	h.m.server("s").noteChallenge(Challenge{ResourceMetadata: as.prmURL()})
	_, err := h.m.Authorize(context.Background(), "s", false)
	if err == nil || !strings.Contains(err.Error(), "not for") {
		t.Fatalf("metadata of another resource: %v", err)
	}
}

func TestPKCE(t *testing.T) {
	as := newFakeAS(t)
	as.methods = []string{"plain"}
	h := newHarness(t, as)
	h.configure("s", h.cfg())
	if _, err := h.m.Authorize(context.Background(), "s", false); err == nil || !strings.Contains(err.Error(), "S256") {
		t.Fatalf("plain-only PKCE: %v", err)
	}

	as2 := newFakeAS(t)
	as2.methods = nil // Entra, Cognito
	h2 := newHarness(t, as2)
	h2.signIn("s", h2.cfg())
	h2.expectOK("s", h2.cfg())
	if !strings.Contains(h2.events(), "does not say whether it supports PKCE") {
		t.Error("no warning about the missing code_challenge_methods_supported")
	}
}

func TestStateIsCheckedAndSingleUse(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.configure("s", cfg)
	u, err := h.m.Authorize(context.Background(), "s", false)
	if err != nil {
		t.Fatal(err)
	}
	// The authorization server's redirect, caught before the callback.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	cbURL, _ := url.Parse(callback)
	state := cbURL.Query().Get("state")

	forged := strings.Replace(callback, url.QueryEscape(state), url.QueryEscape("forged~s"), 1)
	if code, page := h.visit(forged); code != 400 || !strings.Contains(page, "unknown") {
		t.Errorf("forged state: %d %s", code, page)
	}
	if code, _ := h.visit(callback); code != 200 {
		t.Fatalf("the real callback: %d", code)
	}
	// The completed sign-in's callback, loaded again, says it is done.
	if code, page := h.visit(callback); code != 200 || !strings.Contains(page, "already completed") {
		t.Errorf("reused state: %d %s", code, page)
	}

	// Expired: the user comes back after 11 minutes.
	u, _ = h.m.Authorize(context.Background(), "s", false)
	resp, _ = noFollow.Get(u)
	resp.Body.Close()
	h.clock.Store(int64(11 * time.Minute))
	if code, page := h.visit(resp.Header.Get("Location")); code != 400 || !strings.Contains(page, "10 minutes") {
		t.Errorf("expired state: %d %s", code, page)
	}
}

func TestIssuerOfTheResponse(t *testing.T) {
	for _, c := range []struct {
		name      string
		supported bool
		mode      string
		ok        bool
	}{
		{"matching", true, "right", true},
		{"wrong", false, "wrong", false},
		{"missing but promised", true, "missing", false},
		{"missing, not promised", false, "missing", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			as := newFakeAS(t)
			as.issSupported, as.issMode = c.supported, c.mode
			h := newHarness(t, as)
			h.configure("s", h.cfg())
			u, err := h.m.Authorize(context.Background(), "s", false)
			if err != nil {
				t.Fatal(err)
			}
			code, page := h.visit(u + "&x=1")
			if c.ok != (code == 200) {
				t.Fatalf("%d %s", code, page)
			}
			if !c.ok && !strings.Contains(page, "did not come from the authorization server") {
				t.Errorf("page: %s", page)
			}
		})
	}
}

// TestWrongIssuerHidesTheAttackersText: an error response that fails the
// RFC 9207 issuer check may come from an attacker's server (a mix-up
// attack, RFC 9207 §1), so its error_description, which would tell the user
// where to go, reaches neither the page, the events, the summary nor the log.
func TestWrongIssuerHidesTheAttackersText(t *testing.T) {
	const lure = "Your session expired: sign in again at evil.example/login"
	for _, c := range []struct {
		name      string
		supported bool                      // the metadata promises iss
		iss       func(as *fakeAS) []string // nil: none sent
	}{
		{"wrong issuer", false, func(*fakeAS) []string { return []string{"https://evil.example"} }},
		{"two issuers", false, func(as *fakeAS) []string { return []string{as.issuer(), "https://evil.example"} }},
		{"missing but promised", true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			as := newFakeAS(t)
			as.issSupported = c.supported
			h := newHarness(t, as)
			h.configure("s", h.cfg())
			u, err := h.m.Authorize(context.Background(), "s", false)
			if err != nil {
				t.Fatal(err)
			}
			authURL, _ := url.Parse(u)
			q := url.Values{
				"state": {authURL.Query().Get("state")},
				"error": {"access_denied"}, "error_description": {lure},
				"error_uri": {"https://evil.example/help"},
			}
			if c.iss != nil {
				q["iss"] = c.iss(as)
			}
			code, page := h.visit(h.cb.URL + "/oauth/callback?" + q.Encode())
			if code != 400 || !strings.Contains(page, "did not come from the authorization server") {
				t.Errorf("%d %s", code, page)
			}
			sum := h.m.Summary("s")
			for where, text := range map[string]string{"the page": page, "the events": h.events(), "the log": h.logs.String(), "the summary": sum.Reason} {
				for _, bad := range []string{"evil.example", "session expired", "access_denied"} {
					if strings.Contains(text, bad) || strings.Contains(text, url.QueryEscape(bad)) {
						t.Errorf("the unverified response's %q reached %s:\n%s", bad, where, text)
					}
				}
			}
			if sum.State != StateFailed || !strings.Contains(sum.Reason, "wrong authorization server") {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

func TestErrorFromTheAuthorizationServerIsShownEscaped(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	h.configure("s", h.cfg())
	u, _ := h.m.Authorize(context.Background(), "s", false)
	state, _ := url.Parse(u)
	cb := h.cb.URL + "/oauth/callback?" + url.Values{
		"state": {state.Query().Get("state")}, "iss": {as.issuer()},
		"error": {"access_denied"}, "error_description": {"<script>alert(1)</script>"},
	}.Encode()
	code, page := h.visit(cb)
	if code != 400 || strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;") {
		t.Errorf("%d %s", code, page)
	}
	if s := h.m.Summary("s"); s.State != StateFailed || !strings.Contains(s.Reason, "access_denied") {
		t.Errorf("summary %+v", s)
	}
}

func TestInvalidClientRegistersAgain(t *testing.T) {
	as := newFakeAS(t)
	as.accessTTL = time.Hour
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	as.mu.Lock()
	as.clients = map[string]fakeClient{} // the server forgot its registrations
	as.mu.Unlock()
	h.clock.Store(int64(50 * time.Minute)) // the token is due
	_, err := h.call("s", cfg)
	if !errors.Is(err, ErrAuthorizationRequired) {
		t.Fatalf("after invalid_client: %v", err)
	}
	if b := h.bundle("s"); b != nil && b.Clients[as.issuer()] != nil {
		t.Error("the forgotten registration was kept")
	}
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	if len(as.registrations) != 2 {
		t.Errorf("%d registrations, want 2", len(as.registrations))
	}
}

func TestRefreshRotationWithConcurrentCalls(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	before := h.bundle("s").Token.RefreshToken
	h.clock.Store(int64(49 * time.Minute)) // past 80% of an hour

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			resp, err := h.call("s", cfg)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- errors.New(resp.Status)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := as.refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes for 50 concurrent calls, want 1", n)
	}
	after := h.bundle("s").Token
	if after.RefreshToken == before || after.RefreshToken == "" {
		t.Error("the rotated refresh token was not saved")
	}
	rt := as.tokenRequests[len(as.tokenRequests)-1]
	if rt.Get("grant_type") != "refresh_token" || rt.Get("resource") != as.mcpURL() {
		t.Errorf("refresh request %v: the resource indicator is missing", rt)
	}
}

func TestRefusedRefreshAsksForAuthorizationWithoutABrowser(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	as.mu.Lock()
	as.refresh = map[string]fakeGrant{} // revoked at the server
	as.mu.Unlock()
	h.clock.Store(int64(2 * time.Hour))
	_, err := h.call("s", cfg)
	if !errors.Is(err, ErrAuthorizationRequired) {
		t.Fatalf("after invalid_grant: %v", err)
	}
	if b := h.bundle("s"); b.Token != nil {
		t.Error("the refused tokens were kept")
	}
	if s := h.m.Summary("s"); s.State != StateNeedsAuthorization || !strings.Contains(s.Reason, "invalid_grant") {
		t.Errorf("summary %+v", s)
	}
	h.m.nextAutomatic(context.Background())
	if len(h.opened) != 0 {
		t.Error("a browser opened for credentials that stopped working")
	}
}

func TestStepUpAsksForTheUnionOfScopes(t *testing.T) {
	as := newFakeAS(t)
	as.resourceScopes = []string{"read"}
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	as.needScope = "admin"
	go func() { // the user consents when the browser opens
		u := <-h.opened
		h.visit(u)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", as.mcpURL(), nil)
	resp, err := (&http.Client{Transport: h.transport("s", cfg)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after step-up: %d", resp.StatusCode)
	}
	last := as.authRequests[len(as.authRequests)-1]
	if got := strings.Fields(last.Get("scope")); !slices.Contains(got, "read") || !slices.Contains(got, "admin") {
		t.Errorf("step-up asked for %v, want read and admin", got)
	}
}

func TestStepUpGivesUpWhenTheUserDoesNot(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	as.needScope = "admin"
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", as.mcpURL(), nil)
	_, err := (&http.Client{Transport: h.transport("s", cfg)}).Do(req)
	if !errors.Is(err, ErrAuthorizationRequired) || !strings.Contains(err.Error(), "more permission") {
		t.Fatalf("unanswered step-up: %v", err)
	}
}

func TestSignOutRevokes(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	tok := h.bundle("s").Token
	if err := h.m.SignOut(context.Background(), "s"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(as.revoked, tok.RefreshToken) {
		t.Errorf("revoked %v", as.revoked)
	}
	if b := h.bundle("s"); b != nil && b.Token != nil {
		t.Error("tokens kept after sign-out")
	}
	if s := h.m.Summary("s"); s.State != StateNeedsAuthorization {
		t.Errorf("summary %+v", s)
	}
	if _, err := h.call("s", cfg); !errors.Is(err, ErrAuthorizationRequired) {
		t.Errorf("call after sign-out: %v", err)
	}
	h.m.nextAutomatic(context.Background())
	if len(h.opened) != 0 {
		t.Error("a browser opened after sign-out")
	}
}

func TestStaticClientWithoutRegistration(t *testing.T) {
	as := newFakeAS(t)
	as.noRegistration = true
	h := newHarness(t, as)
	cfg := h.cfg()
	as.addClient(fakeClient{id: "Iv1.fakegithubapp", secret: "fake-github-secret", redirects: []string{cfg.RedirectURI}})
	res := as.mcpURL()
	cfg.ClientID, cfg.ClientSecret, cfg.Scopes, cfg.Resource = "Iv1.fakegithubapp", "fake-github-secret", []string{"repo", "read:org"}, &res
	h.signIn("gh", cfg)
	h.expectOK("gh", cfg)
	if len(as.registrations) != 0 {
		t.Error("registered though a client was configured")
	}
	if q := as.authRequests[0]; q.Get("scope") != "repo read:org" || q.Get("client_id") != "Iv1.fakegithubapp" {
		t.Errorf("authorization request %v", q)
	}
	if meta := h.m.Summary("gh").Mirror(); meta.Registration != "static" || meta.RegisteredClient != "" {
		t.Errorf("mirror %+v: a configured client id is not mirrored", meta)
	}

	// Without a configured client, the same server cannot be used.
	h2 := newHarness(t, as)
	h2.configure("gh2", h2.cfg())
	if _, err := h2.m.Authorize(context.Background(), "gh2", false); !errors.Is(err, ErrNoClient) {
		t.Errorf("no client, no registration: %v", err)
	}
}

func TestStaticEndpointsAndClient(t *testing.T) {
	as := newFakeAS(t)
	as.prmAt, as.asAt = "", ""
	h := newHarness(t, as)
	cfg := h.cfg()
	as.addClient(fakeClient{id: "static", secret: "fake-static-secret", redirects: []string{cfg.RedirectURI}})
	cfg.ClientID, cfg.ClientSecret = "static", "fake-static-secret"
	cfg.AuthorizationEndpoint, cfg.TokenEndpoint = as.url()+"/authorize", as.url()+"/token"
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
}

func TestDynamicRegistrationBlock(t *testing.T) {
	as := newFakeAS(t)
	as.prmAt = "" // only the configured issuer leads to the server
	as.issuerPath = ""
	as.requireIAT = "fake-initial-access-token"
	h := newHarness(t, as)
	cfg := h.cfg()
	cfg.DynamicRegistration = &settings.DynamicRegistration{
		Issuer:             as.issuer(),
		Metadata:           map[string]any{"client_name": "mcptray on my laptop", "contacts": []string{"me@example.com"}},
		InitialAccessToken: "fake-initial-access-token",
	}
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	if reg := as.registrations[0]; reg["client_name"] != "mcptray on my laptop" || reg["contacts"] == nil || reg["application_type"] != "native" {
		t.Errorf("registration %v", reg)
	}
}

func TestAutomaticSignInOnlyForAFirstConnectionOneAtATime(t *testing.T) {
	as1, as2 := newFakeAS(t), newFakeAS(t)
	h := newHarness(t, as1)
	cfg1 := h.cfg()
	cfg2 := Config{ServerURL: as2.mcpURL(), OAuthConfig: settings.OAuthConfig{RedirectURI: cfg1.RedirectURI}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { h.m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	call := func(name string, cfg Config) {
		c := &http.Client{Transport: h.transport(name, cfg)}
		if _, err := c.Get(cfg.ServerURL); !errors.Is(err, ErrAuthorizationRequired) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	call("a", cfg1)
	call("a", cfg1) // a retry does not open a second tab
	call("b", cfg2)
	first := <-h.opened
	select {
	case u := <-h.opened:
		t.Fatalf("a second tab opened before the first sign-in ended: %s", u)
	case <-time.After(300 * time.Millisecond):
	}
	h.visit(first)
	select {
	case second := <-h.opened:
		if strings.HasPrefix(second, as1.url()) {
			t.Fatal("the same server opened twice")
		}
		h.visit(second)
	case <-time.After(5 * time.Second):
		t.Fatal("the second server's sign-in did not open after the first")
	}

	// A server that was authorized before gets no tab.
	as3 := newFakeAS(t)
	cfg3 := Config{ServerURL: as3.mcpURL(), OAuthConfig: settings.OAuthConfig{RedirectURI: cfg1.RedirectURI}, AuthorizedBefore: true}
	call("c", cfg3)
	select {
	case u := <-h.opened:
		t.Fatalf("a tab opened for credentials that stopped working: %s", u)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestParseChallenge(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Basic realm="x", Bearer realm="mcp", resource_metadata="https://a.example/.well-known/oauth-protected-resource/mcp", scope="files:read files:write", error="insufficient_scope", error_description="needs \"write\""`)
	ch, ok := ParseChallenge(h)
	if !ok || ch.ResourceMetadata != "https://a.example/.well-known/oauth-protected-resource/mcp" || !slices.Equal(ch.Scopes, []string{"files:read", "files:write"}) || ch.Error != "insufficient_scope" || ch.Description != `needs "write"` {
		t.Errorf("%+v", ch)
	}
	h = http.Header{}
	h.Add("WWW-Authenticate", `Bearer error=invalid_token`)
	if ch, ok := ParseChallenge(h); !ok || ch.Error != "invalid_token" {
		t.Errorf("token value: %+v", ch)
	}
	if _, ok := ParseChallenge(http.Header{"Www-Authenticate": {`Basic realm="x"`}}); ok {
		t.Error("a Basic challenge read as Bearer")
	}
}

func TestCanonicalResource(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://MCP.Example.com/mcp":      "https://mcp.example.com/mcp",
		"https://mcp.example.com:443/mcp":  "https://mcp.example.com/mcp",
		"https://mcp.example.com/":         "https://mcp.example.com",
		"https://mcp.example.com/mcp#frag": "https://mcp.example.com/mcp",
		"http://127.0.0.1:8080/mcp/":       "http://127.0.0.1:8080/mcp/",
	} {
		if got := CanonicalResource(in); got != want {
			t.Errorf("CanonicalResource(%q) = %q, want %q", in, got, want)
		}
	}
	if resourceMatches("https://a.example/mcp", "https://a.example/mcp/sub") != nil || resourceMatches("https://a.example", "https://a.example/mcp") != nil {
		t.Error("a prefix resource was refused")
	}
	if resourceMatches("https://a.example/mc", "https://a.example/mcp") == nil || resourceMatches("https://b.example/mcp", "https://a.example/mcp") == nil {
		t.Error("a resource of another server was accepted")
	}
	if checkSecureURL("http://auth.example/token") == nil || checkSecureURL("http://127.0.0.1:9/token") != nil {
		t.Error("http outside loopback must be refused, and allowed on it")
	}
}

// failingStore refuses every save, as a locked keychain does.
type failingStore struct{ memStore }

func (*failingStore) Set(context.Context, string, []byte) error {
	return errors.New("the keychain is locked")
}

// TestAFailedSaveIsReportedOnce: the store reports its own failure; the
// manager notes what it means in the server's trace, and logs nothing more.
func TestAFailedSaveIsReportedOnce(t *testing.T) {
	as := newFakeAS(t)
	var logs bytes.Buffer
	m, err := New(Options{Store: &failingStore{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ServerURL: as.mcpURL(), OAuthConfig: settings.OAuthConfig{RedirectURI: "http://127.0.0.1:1/oauth/callback"}}
	if err := m.Configure(context.Background(), "s", &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authorize(context.Background(), "s", false); err != nil {
		t.Fatal(err)
	}
	noted := 0
	for _, st := range m.Trace("s") {
		if strings.Contains(st.Message, "could not be saved") {
			noted++
		}
	}
	if noted == 0 {
		t.Error("the server's trace does not say that its secrets could not be saved")
	}
	if strings.Contains(logs.String(), "could not be saved") || strings.Contains(logs.String(), "keychain is locked") {
		t.Errorf("the manager logged the store's failure again:\n%s", logs.String())
	}
}
