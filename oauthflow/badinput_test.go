package oauthflow

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestBadAuthorizationServerAtSignIn: an authorization server that answers
// garbage, redirects in a loop, grants nothing or changes its issuer: the
// user's sign-in ends with a clear state and reason, and at most one
// browser tab.
func TestBadAuthorizationServerAtSignIn(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(as *fakeAS)
		state string // the state it ends in
		want  string // in the reason
		tabs  int
	}{
		{"garbage metadata", func(as *fakeAS) { as.garbage = "metadata" }, StateFailed, "JSON that cannot be read", 0},
		{"metadata redirect loop", func(as *fakeAS) { as.redirectLoop = "metadata" }, StateFailed, "redirects in a loop", 0},
		{"garbage token answer", func(as *fakeAS) { as.garbage = "token" }, StateFailed, "the answer is not JSON", 1},
		{"token redirect loop", func(as *fakeAS) { as.redirectLoop = "token" }, StateFailed, "307 Temporary Redirect, not an OAuth answer", 1},
		{"grants nothing", func(as *fakeAS) { as.grantNothing = true }, StateNeedsAuthorization, "granted nothing; the server needs mcp:tools", 1},
		{"another issuer", func(as *fakeAS) { as.issuerFlip.Store(true) }, StateFailed, "RFC 8414 §3.3", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			as := newFakeAS(t)
			as.resourceScopes = []string{"mcp:tools"}
			c.setup(as)
			h := newHarness(t, as)
			u := h.startUser()
			cfg := h.cfg()
			_, _ = h.call("s", cfg) // the 401 and its scope
			_, err := h.m.Authorize(context.Background(), "s", true)
			if c.tabs == 0 && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("Authorize: %v, want %q", err, c.want)
			}
			if c.tabs > 0 {
				if err != nil {
					t.Fatal(err)
				}
				h.waitSignIn("s", 5*time.Second)
			}
			sum := h.m.Summary("s")
			if sum.State != c.state || !strings.Contains(sum.Reason, c.want) {
				t.Errorf("summary %s %q, want %s with %q", sum.State, sum.Reason, c.state, c.want)
			}
			if n := as.metadataHits.Load(); n > 3*maxMetadataRedirects {
				t.Errorf("%d metadata requests: no bound", n)
			}
			_, _ = h.call("s", cfg) // the client retries
			time.Sleep(100 * time.Millisecond)
			if n := int(u.tabs.Load()); n != c.tabs {
				t.Errorf("%d tabs, want %d", n, c.tabs)
			}
		})
	}
}

// TestBadAuthorizationServerAtRefresh: the same, once signed in: the
// renewal fails with the reason, and the stored tokens stay.
func TestBadAuthorizationServerAtRefresh(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(as *fakeAS)
		want  string
	}{
		{"garbage token answer", func(as *fakeAS) { as.garbage = "token" }, "the answer is not JSON"},
		{"token redirect loop", func(as *fakeAS) { as.redirectLoop = "token" }, "not an OAuth answer"},
		{"garbage metadata", func(as *fakeAS) { as.garbage = "metadata" }, "JSON that cannot be read"},
		{"another issuer", func(as *fakeAS) { as.issuerFlip.Store(true) }, "RFC 8414 §3.3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			as := newFakeAS(t)
			h := newHarness(t, as)
			cfg := h.cfg()
			h.signIn("s", cfg)
			before := *h.bundle("s").Token
			c.setup(as)
			h.m.server("s").forgetDiscovery()
			h.clock.Store(int64(2 * time.Hour)) // expired: only a renewal helps
			_, err := h.call("s", cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("call: %v, want %q", err, c.want)
			}
			if errors.Is(err, ErrAuthorizationRequired) {
				t.Errorf("a broken server made the user sign in again: %v", err)
			}
			after := h.bundle("s").Token
			if after == nil || after.RefreshToken != before.RefreshToken || after.AccessToken != before.AccessToken {
				t.Error("the stored tokens were lost")
			}
			if len(h.opened) != 0 {
				t.Error("a browser opened")
			}
		})
	}
}
