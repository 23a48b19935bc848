package oauthflow

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRegistrationAsksForTheScopes: a server that lets a client ask only
// for the scopes it registered (Ory Hydra) gets them in the registration
// (RFC 7591 scope), worked out before it: the 401's scope and
// offline_access, which it lists.
func TestRegistrationAsksForTheScopes(t *testing.T) {
	as := newFakeAS(t)
	as.registeredOnly = true
	as.resourceScopes = []string{"mcp:tools"}
	as.scopesSupport = []string{"mcp:tools", "offline_access"}
	h := newHarness(t, as)
	cfg := h.cfg()
	if _, err := h.call("s", cfg); !errors.Is(err, ErrAuthorizationRequired) {
		t.Fatal(err)
	}
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	if got := as.registrations[0]["scope"]; got != "mcp:tools offline_access" {
		t.Errorf("registered scope %v, want mcp:tools offline_access", got)
	}
	if c := h.bundle("s").Clients[as.issuer()]; !slices.Equal(c.Scopes, []string{"mcp:tools", "offline_access"}) {
		t.Errorf("stored scopes %v", c.Scopes)
	}
}

// TestStepUpUpdatesTheRegistration: a step-up to a scope outside the
// registered ones updates the registration first, with RFC 7592 where the
// server offers it (the client id stays), else with a new registration
// that replaces the old one only when the sign-in completes.
func TestStepUpUpdatesTheRegistration(t *testing.T) {
	for _, rfc7592 := range []bool{true, false} {
		name := "RFC 7592"
		if !rfc7592 {
			name = "new registration"
		}
		t.Run(name, func(t *testing.T) {
			as := newFakeAS(t)
			as.registeredOnly, as.rfc7592 = true, rfc7592
			as.resourceScopes = []string{"read"}
			h := newHarness(t, as)
			cfg := h.cfg()
			h.signIn("s", cfg)
			first := h.bundle("s").Clients[as.issuer()].ClientID
			as.needScope = "admin"
			h.startUser()
			h.expectOK("s", cfg)
			c := h.bundle("s").Clients[as.issuer()]
			if !slices.Contains(c.Scopes, "admin") {
				t.Errorf("registered scopes %v lack admin", c.Scopes)
			}
			if rfc7592 && (c.ClientID != first || as.registrationsN.Load() != 1) {
				t.Errorf("RFC 7592: client %s (was %s), %d registrations", c.ClientID, first, as.registrationsN.Load())
			}
			if !rfc7592 && (c.ClientID == first || as.registrationsN.Load() != 2) {
				t.Errorf("client %s (was %s), %d registrations", c.ClientID, first, as.registrationsN.Load())
			}
			if tok := h.bundle("s").Token; tok.ClientID != c.ClientID {
				t.Errorf("the token belongs to %s, the stored client is %s", tok.ClientID, c.ClientID)
			}
		})
	}
}

// TestStepUpWithANewRegistrationKeepsTheOldUntilItCompletes: while the
// step-up's sign-in waits, the tokens held still renew with the client
// they were issued to.
func TestStepUpWithANewRegistrationKeepsTheOldUntilItCompletes(t *testing.T) {
	as := newFakeAS(t)
	as.registeredOnly = true
	as.resourceScopes = []string{"read"}
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	first := h.bundle("s").Clients[as.issuer()].ClientID
	h.configure("s", cfg)
	s := h.m.server("s")
	if _, _, err := s.authorize(context.Background(), stepUp, false, []string{"admin"}, h.bundle("s").Token.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Nobody visits it.
	if c := h.bundle("s").Clients[as.issuer()]; c.ClientID != first {
		t.Fatalf("the stored client became %s before the sign-in completed", c.ClientID)
	}
	h.clock.Store(int64(50 * time.Minute))
	h.expectOK("s", cfg) // renewed with the first client
	if as.refreshes.Load() != 1 {
		t.Errorf("%d refreshes", as.refreshes.Load())
	}
}

// TestInvalidScopeRegistersTheScopesNext: a registration made without
// scopes (by an older mcptray) gets invalid_scope at such a server; the
// sign-in says mcptray registers them, and the next one does.
func TestInvalidScopeRegistersTheScopesNext(t *testing.T) {
	as := newFakeAS(t)
	as.registeredOnly, as.rfc7592 = true, true
	as.resourceScopes = []string{"mcp:tools"}
	h := newHarness(t, as)
	cfg := h.cfg()
	h.configure("s", cfg)
	s := h.m.server("s")
	// What an older mcptray registered: no scope, none stored.
	d, err := s.discovery(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.register(context.Background(), d, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Scopes = nil
	s.saveClient(context.Background(), d.issuer, c)

	u, err := h.m.Authorize(context.Background(), "s", true)
	if err != nil {
		t.Fatal(err)
	}
	<-h.opened
	if code, page := h.visit(u); code != 400 || !strings.Contains(page, "invalid_scope") {
		t.Fatalf("%d %s", code, page)
	}
	if si := h.m.Summary("s").SignIn; si.Status != SignInFailed || !strings.Contains(si.Error, "registers these scopes") {
		t.Errorf("sign-in %+v", si)
	}
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
}

// TestAForgottenRegistrationIsNotReused: the authorization server lost its
// clients (its database was reset). Sign out and Authorize register anew
// instead of sending the browser with the dead client id: RFC 7592's read
// says so where the server offers it, a token request otherwise.
func TestAForgottenRegistrationIsNotReused(t *testing.T) {
	for _, rfc7592 := range []bool{true, false} {
		name := "RFC 7592"
		if !rfc7592 {
			name = "token endpoint"
		}
		t.Run(name, func(t *testing.T) {
			as := newFakeAS(t)
			as.rfc7592 = rfc7592
			h := newHarness(t, as)
			cfg := h.cfg()
			h.signIn("s", cfg)
			as.forget()
			if err := h.m.SignOut(context.Background(), "s"); err != nil {
				t.Fatal(err)
			}
			h.signIn("s", cfg) // fails at the authorization endpoint with a dead client id
			h.expectOK("s", cfg)
			if n := as.registrationsN.Load(); n != 2 {
				t.Errorf("%d registrations, want 2", n)
			}
			if !strings.Contains(h.events(), "no longer knows mcptray's registration") {
				t.Errorf("the trace does not say why:\n%s", h.events())
			}
		})
	}
	// A registration the server still knows is reused.
	as := newFakeAS(t)
	as.rfc7592 = true
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	h.signIn("s", cfg)
	if n := as.registrationsN.Load(); n != 1 {
		t.Errorf("%d registrations for a known client, want 1", n)
	}
}

// TestWrongClientSecret: a configured client the token endpoint refuses is
// the user's to fix, and the state says so; nothing registers in its place.
func TestWrongClientSecret(t *testing.T) {
	as := newFakeAS(t)
	as.noRegistration = true
	h := newHarness(t, as)
	cfg := h.cfg()
	as.addClient(fakeClient{id: "configured", secret: "right-secret", redirects: []string{cfg.RedirectURI}})
	cfg.ClientID, cfg.ClientSecret = "configured", "wrong-secret"
	h.configure("s", cfg)
	u, err := h.m.Authorize(context.Background(), "s", true)
	if err != nil {
		t.Fatal(err)
	}
	<-h.opened
	code, page := h.visit(u)
	const want = "refused the client credentials (invalid_client); check oauth.clientId and oauth.clientSecret"
	if code != 502 || !strings.Contains(page, want) {
		t.Errorf("%d %s", code, page)
	}
	sum := h.m.Summary("s")
	if sum.State != StateFailed || !strings.Contains(sum.Reason, want) || strings.Contains(sum.Reason, "no longer knows") {
		t.Errorf("summary %+v", sum)
	}
	if strings.Contains(h.logs.String(), "wrong-secret") || strings.Contains(h.events(), "wrong-secret") {
		t.Error("the secret reached the log or the trace")
	}
	// Fixed in the settings: the next sign-in works.
	cfg.ClientSecret = "right-secret"
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
}

// TestAConfiguredClientStaysWithItsAuthorizationServer: pre-registered
// credentials are not sent to the authorization server a server moved to
// (2026-07-28, "Authorization Server Binding").
func TestAConfiguredClientStaysWithItsAuthorizationServer(t *testing.T) {
	as, other := newFakeAS(t), newFakeAS(t)
	as.noRegistration = true
	h := newHarness(t, as)
	cfg := h.cfg()
	as.addClient(fakeClient{id: "configured", redirects: []string{cfg.RedirectURI}})
	cfg.ClientID = "configured"
	h.signIn("s", cfg)
	as.prmIssuer, as.trust = other.issuer(), []*fakeAS{other}
	h.m.server("s").forgetDiscovery()
	_, err := h.m.Authorize(context.Background(), "s", false)
	if !errors.Is(err, ErrNoClient) || !strings.Contains(err.Error(), "was registered at "+as.issuer()) {
		t.Fatalf("Authorize at the new authorization server: %v", err)
	}
	if other.tokenSeen("configured") || len(other.authRequests) != 0 {
		t.Error("the configured client went to the new authorization server")
	}
}
