package oauthflow

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/settings"
)

// preset returns the built-in preset name, matching the test servers'
// host (127.0.0.1) as well as its own.
func preset(t *testing.T, name string) Preset {
	t.Helper()
	for _, p := range builtinPresets() {
		if p.Name == name {
			p.Hosts = append(slices.Clone(p.Hosts), "127.0.0.1")
			return p
		}
	}
	t.Fatalf("no preset %q", name)
	return Preset{}
}

// withPreset is a harness whose manager knows the named preset only.
func withPreset(t *testing.T, as *fakeAS, name string) *harness {
	p := preset(t, name)
	return newHarnessWith(t, as, func(o *Options) { o.Presets = []Preset{p} })
}

// TestPresetsMatchTheirProviders: the table knows the providers by their
// hosts (and Keycloak by its issuer path).
func TestPresetsMatchTheirProviders(t *testing.T) {
	m, err := New(Options{Store: &memStore{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ issuer, server, want string }{
		{"https://github.com/login/oauth", "", "GitHub"},
		{"", "https://api.githubcopilot.com/mcp/", "GitHub"},
		{"https://login.microsoftonline.com/common/v2.0", "", "Microsoft Entra ID"},
		{"https://cf.mcp.atlassian.com", "https://mcp.atlassian.com/v1/sse", "Atlassian"},
		{"https://slack.com", "", "Slack"},
		{"https://mcp.notion.com", "https://mcp.notion.com/mcp", "Notion"},
		{"https://mcp.linear.app", "https://mcp.linear.app/mcp", "Linear"},
		{"https://accounts.google.com", "", "Google"},
		{"https://sso.example.com/realms/mcp", "https://mcp.example.com/mcp", "Keycloak"},
		{"https://dev-123.us.auth0.com/", "", "Auth0"},
		{"https://example.okta.com/oauth2/default", "", "Okta"},
		{"https://auth.example.com", "https://mcp.example.com/mcp", ""},
		{"https://notgithub.com", "", ""},
	} {
		got := ""
		if p := m.presetFor(c.issuer, c.server); p != nil {
			got = p.Name
		}
		if got != c.want {
			t.Errorf("preset for %q, %q: %q, want %q", c.issuer, c.server, got, c.want)
		}
	}
}

// TestREADMEListsThePresets: the README's table shows every preset.
func TestREADMEListsThePresets(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range builtinPresets() {
		if !strings.Contains(string(readme), "| "+p.Name+" |") {
			t.Errorf("the README's preset table lacks %s", p.Name)
		}
	}
}

// TestPresetGitHub: no registration (the user brings an OAuth app, and the
// error says how), no resource, errors answered with HTTP 200, its scopes
// when the server names none.
func TestPresetGitHub(t *testing.T) {
	as := newFakeAS(t)
	as.noRegistration, as.errorsAs200, as.refuseResource = true, true, true
	h := withPreset(t, as, "GitHub")
	cfg := h.cfg()
	h.configure("s", cfg)
	_, err := h.m.Authorize(context.Background(), "s", false)
	if !errors.Is(err, ErrNoClient) || !strings.Contains(err.Error(), "https://github.com/settings/applications/new") || !strings.Contains(err.Error(), cfg.RedirectURI) {
		t.Fatalf("no client: %v", err)
	}
	as.addClient(fakeClient{id: "Iv1.app", secret: "right", redirects: []string{cfg.RedirectURI}})
	cfg.ClientID, cfg.ClientSecret = "Iv1.app", "wrong"
	h.configure("s", cfg)
	u, err := h.m.Authorize(context.Background(), "s", true)
	if err != nil {
		t.Fatal(err)
	}
	<-h.opened
	h.visit(u)
	if s := h.m.Summary("s"); s.State != StateFailed || !strings.Contains(s.Reason, "check oauth.clientId and oauth.clientSecret") {
		t.Errorf("a refusal answered with 200: %+v", s)
	}
	cfg.ClientSecret = "right"
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	q := as.authRequests[len(as.authRequests)-1]
	if q.Has("resource") || q.Get("scope") != "repo read:org" {
		t.Errorf("authorization request %v", q)
	}
}

// TestPresetEntra: no resource (AADSTS9010010), no
// code_challenge_methods_supported, an issuer template in the multi-tenant
// metadata. Without the preset the same server cannot be used.
func TestPresetEntra(t *testing.T) {
	setup := func() *fakeAS {
		as := newFakeAS(t)
		as.noRegistration, as.refuseResource, as.methods = true, true, nil
		as.issuerPath, as.asAt, as.issMode = "/common/v2.0", "oidc-appended", "missing"
		as.issuerTemplate = as.url() + "/{tenantid}/v2.0"
		return as
	}
	configure := func(h *harness) Config {
		cfg := h.cfg()
		h.as.addClient(fakeClient{id: "entra-app", redirects: []string{cfg.RedirectURI}})
		cfg.ClientID = "entra-app"
		return cfg
	}
	as := setup()
	h := withPreset(t, as, "Microsoft Entra ID")
	cfg := configure(h)
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	if q := as.authRequests[0]; q.Has("resource") {
		t.Errorf("resource sent: %v", q)
	}
	if strings.Contains(h.events(), "does not say whether it supports PKCE") {
		t.Error("warned about the PKCE methods Entra never lists")
	}
	if s := h.m.Summary("s"); s.Preset != "Microsoft Entra ID" || s.Issuer != as.issuer() {
		t.Errorf("summary %+v", s)
	}

	bare := newHarness(t, setup())
	bare.configure("s", configure(bare))
	if _, err := bare.m.Authorize(context.Background(), "s", false); err == nil || !strings.Contains(err.Error(), "RFC 8414") {
		t.Errorf("without the preset: %v, want the issuer refused", err)
	}
}

// TestPresetAtlassian: the issuer on one host, its endpoints on another.
func TestPresetAtlassian(t *testing.T) {
	as, endpoints := newFakeAS(t), newFakeAS(t)
	as.endpointsAt, as.trust = endpoints, []*fakeAS{endpoints}
	endpoints.issMode = "missing"
	h := withPreset(t, as, "Atlassian")
	cfg := h.cfg()
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	if len(endpoints.registrations) != 1 || len(as.registrations) != 0 {
		t.Errorf("registrations: %d at the endpoints' host, %d at the issuer's", len(endpoints.registrations), len(as.registrations))
	}
}

// TestPresetSlack: a refusal with HTTP 200 and "ok": false, no resource.
func TestPresetSlack(t *testing.T) {
	as := newFakeAS(t)
	as.noRegistration, as.errorsAs200, as.refuseResource = true, true, true
	h := withPreset(t, as, "Slack")
	cfg := h.cfg()
	h.configure("s", cfg)
	if _, err := h.m.Authorize(context.Background(), "s", false); !errors.Is(err, ErrNoClient) || !strings.Contains(err.Error(), "api.slack.com/apps") {
		t.Fatalf("no client: %v", err)
	}
	as.addClient(fakeClient{id: "slack-app", secret: "s3", redirects: []string{cfg.RedirectURI}})
	cfg.ClientID, cfg.ClientSecret = "slack-app", "s3"
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	as.mu.Lock()
	as.refresh = map[string]fakeGrant{} // revoked
	as.mu.Unlock()
	h.clock.Store(int64(2 * time.Hour))
	if _, err := h.call("s", cfg); !errors.Is(err, ErrAuthorizationRequired) {
		t.Errorf("a refused refresh answered with 200: %v", err)
	}
	if s := h.m.Summary("s"); !strings.Contains(s.Reason, "invalid_grant") {
		t.Errorf("summary %+v", s)
	}
}

// TestPresetNotion: a spent refresh token revokes the grant; concurrent
// calls at renewal time send the refresh token once.
func TestPresetNotion(t *testing.T) {
	as := newFakeAS(t)
	as.familyRevoke = true
	h := withPreset(t, as, "Notion")
	cfg := h.cfg()
	h.signIn("s", cfg)
	for round := 1; round <= 3; round++ {
		h.clock.Store(int64(time.Duration(round) * 55 * time.Minute))
		done := make(chan error, 10)
		for range 10 {
			go func() {
				resp, err := h.call("s", cfg)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
		}
		for range 10 {
			if err := <-done; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	if n := as.refreshes.Load(); n != 3 {
		t.Errorf("%d refreshes in 3 rounds", n)
	}
}

// TestPresetLinear: a strict redirect URI match: a new callback URL gets a
// new registration.
func TestPresetLinear(t *testing.T) {
	as := newFakeAS(t)
	h := withPreset(t, as, "Linear")
	cfg := h.cfg()
	h.signIn("s", cfg)
	moved := cfg
	moved.RedirectURI = strings.Replace(cfg.RedirectURI, "127.0.0.1", "localhost", 1)
	h.signIn("s", moved)
	h.expectOK("s", moved)
	if n := len(as.registrations); n != 2 {
		t.Errorf("%d registrations, want one per redirect URI", n)
	}
}

// TestPresetGoogle: no offline_access (Google refuses it), access_type and
// prompt for a refresh token, no resource.
func TestPresetGoogle(t *testing.T) {
	as := newFakeAS(t)
	as.noRegistration, as.offlineRefused, as.refuseResource = true, true, true
	as.scopesSupport = []string{"openid", "email", "offline_access"}
	h := withPreset(t, as, "Google")
	cfg := h.cfg()
	as.addClient(fakeClient{id: "desktop.apps.googleusercontent.com", secret: "not-secret", redirects: []string{cfg.RedirectURI}})
	cfg.ClientID, cfg.ClientSecret, cfg.Scopes = "desktop.apps.googleusercontent.com", "not-secret", []string{"openid", "email"}
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	q := as.authRequests[0]
	if q.Get("access_type") != "offline" || q.Get("prompt") != "consent" || strings.Contains(q.Get("scope"), "offline_access") || q.Has("resource") {
		t.Errorf("authorization request %v", q)
	}
}

// TestPresetKeycloak: an issuer under /realms/, a registration refused
// without an initial access token (the error says where to get one), and
// offline_access asked for though the metadata does not list it.
func TestPresetKeycloak(t *testing.T) {
	as := newFakeAS(t)
	as.issuerPath, as.asAt, as.requireIAT = "/realms/mcp", "oidc-appended", "keycloak-iat"
	h := withPreset(t, as, "Keycloak")
	cfg := h.cfg()
	h.configure("s", cfg)
	if _, err := h.m.Authorize(context.Background(), "s", false); err == nil || !strings.Contains(err.Error(), "Trusted Hosts") {
		t.Fatalf("refused registration: %v", err)
	}
	cfg.DynamicRegistration = &settings.DynamicRegistration{InitialAccessToken: "keycloak-iat"}
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	if q := as.authRequests[0]; !strings.Contains(q.Get("scope"), "offline_access") {
		t.Errorf("scope %q", q.Get("scope"))
	}
}

// TestPresetAuth0: the resource goes as audience too.
func TestPresetAuth0(t *testing.T) {
	as := newFakeAS(t)
	as.needAudience = true
	h := withPreset(t, as, "Auth0")
	cfg := h.cfg()
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	if q := as.authRequests[0]; q.Get("audience") != as.mcpURL() {
		t.Errorf("audience %q", q.Get("audience"))
	}

	bare := newHarness(t, as)
	bare.configure("s", bare.cfg())
	u, err := bare.m.Authorize(context.Background(), "s", true)
	if err != nil {
		t.Fatal(err)
	}
	<-bare.opened
	if code, _ := bare.visit(u); code == 200 {
		t.Error("without the preset, Auth0 signed in without an audience")
	}
}

// TestPresetOkta: the initial access token goes with the SSWS scheme.
func TestPresetOkta(t *testing.T) {
	as := newFakeAS(t)
	as.requireIAT, as.iatScheme = "okta-api-token", "SSWS"
	h := withPreset(t, as, "Okta")
	cfg := h.cfg()
	cfg.DynamicRegistration = &settings.DynamicRegistration{InitialAccessToken: "okta-api-token"}
	h.signIn("s", cfg)
	h.expectOK("s", cfg)

	bare := newHarness(t, as)
	bare.configure("s", cfg)
	if _, err := bare.m.Authorize(context.Background(), "s", false); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without the preset: %v, want the Bearer token refused", err)
	}
}
