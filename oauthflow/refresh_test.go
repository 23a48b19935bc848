package oauthflow

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRefreshOwnedByNoCaller: the call that needed a refresh gives up
// while the server rotates the refresh token; the refresh goes on, the
// rotated token is saved, and the next refresh uses it (a server that
// revokes the whole grant when a spent token comes back would otherwise
// end the sign-in).
func TestRefreshOwnedByNoCaller(t *testing.T) {
	as := newFakeAS(t)
	as.familyRevoke = true
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	spent := h.bundle("s").Token.RefreshToken
	h.clock.Store(int64(50 * time.Minute)) // due
	as.slowRefresh = 700 * time.Millisecond
	as.rotated = make(chan struct{}, 1)

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-as.rotated; cancel() }() // the caller gives up mid-rotation
	req, _ := http.NewRequestWithContext(ctx, "GET", as.mcpURL(), nil)
	if _, err := (&http.Client{Transport: h.transport("s", cfg)}).Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("the call that gave up: %v", err)
	}
	waitFor(t, 5*time.Second, func() bool {
		b := h.bundle("s")
		return b != nil && b.Token != nil && b.Token.RefreshToken != spent
	})
	as.slowRefresh = 0
	h.clock.Store(int64(110 * time.Minute)) // due again
	h.expectOK("s", cfg)
	if n := as.refreshes.Load(); n != 2 {
		t.Errorf("%d refreshes, want 2", n)
	}
	if s := h.m.Summary("s"); s.State != StateAuthorized {
		t.Errorf("summary %+v", s)
	}
}

// TestRunWaitsForTheRefresh: Run owns the background refresh and waits
// for it when it ends.
func TestRunWaitsForTheRefresh(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	h.clock.Store(int64(50 * time.Minute))
	as.slowRefresh = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.m.Run(ctx); close(done) }()
	callCtx, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	req, _ := http.NewRequestWithContext(callCtx, "GET", as.mcpURL(), nil)
	_, _ = (&http.Client{Transport: h.transport("s", cfg)}).Do(req)
	cancel()
	<-done
	// Run returned: the refresh it owned has ended (cancelled or done).
	s := h.m.server("s")
	s.mu.Lock()
	running := s.refreshing != nil
	s.mu.Unlock()
	if running {
		t.Error("Run returned while a refresh was still running")
	}
}

// TestMigrationToAnotherAuthorizationServer: the resource metadata moves
// the server to another authorization server (2026-07-28). mcptray
// registers there and signs in there when the user asks (credentials that
// worked get no surprise browser), and never sends the old server's
// tokens to the new one.
func TestMigrationToAnotherAuthorizationServer(t *testing.T) {
	old, next := newFakeAS(t), newFakeAS(t)
	h := newHarness(t, old)
	cfg := h.cfg()
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	tok := h.bundle("s").Token
	refreshes := old.refreshes.Load()

	old.prmIssuer, old.trust = next.issuer(), []*fakeAS{next}
	_, err := h.call("s", cfg)
	if !errors.Is(err, ErrAuthorizationRequired) || !strings.Contains(err.Error(), "moved to the authorization server "+next.issuer()) {
		t.Fatalf("after the move: %v", err)
	}
	if len(h.opened) != 0 {
		t.Error("a browser opened by itself")
	}
	if old.refreshes.Load() != refreshes {
		t.Error("the old authorization server was asked to renew a token for the moved server")
	}
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	if len(next.registrations) != 1 {
		t.Errorf("%d registrations at the new authorization server", len(next.registrations))
	}
	for what, secret := range map[string]string{"access token": tok.AccessToken, "refresh token": tok.RefreshToken} {
		if next.tokenSeen(secret) {
			t.Errorf("the old %s reached the new authorization server", what)
		}
	}
	b := h.bundle("s")
	if b.Token.Issuer != next.issuer() || b.Clients[next.issuer()] == nil || b.Clients[old.issuer()] == nil {
		t.Errorf("bundle: token of %s, clients %v", b.Token.Issuer, b.Clients)
	}
	if err := h.m.SignOut(context.Background(), "s"); err != nil {
		t.Fatal(err)
	}
	if old.tokenSeen(b.Token.RefreshToken) {
		t.Error("the new server's refresh token reached the old one")
	}
}

// TestLegacyFallbackTakesAnotherIssuer: a 2025-03-26 server without
// resource metadata, whose origin's metadata names another issuer, is
// used with a warning; with resource metadata, the issuer check stays
// strict (RFC 8414 §3.3).
func TestLegacyFallbackTakesAnotherIssuer(t *testing.T) {
	as := newFakeAS(t)
	as.prmAt = ""
	as.issuerTemplate = as.url() + "/oauth2/default"
	as.issMode = "missing"
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	h.expectOK("s", cfg)
	if !strings.Contains(h.events(), "2025-03-26") || !strings.Contains(h.events(), "warn") {
		t.Errorf("no warning:\n%s", h.events())
	}
	if s := h.m.Summary("s"); s.Issuer != as.url()+"/oauth2/default" {
		t.Errorf("issuer %q", s.Issuer)
	}

	strict := newFakeAS(t)
	strict.issuerTemplate = strict.url() + "/oauth2/default"
	h2 := newHarness(t, strict)
	h2.configure("s", h2.cfg())
	if _, err := h2.m.Authorize(context.Background(), "s", true); err == nil || !strings.Contains(err.Error(), "RFC 8414") {
		t.Fatalf("a wrong issuer with resource metadata: %v", err)
	}
	if s := h2.m.Summary("s"); s.State != StateFailed || !strings.Contains(s.Reason, "RFC 8414") {
		t.Errorf("summary %+v", s)
	}
}
