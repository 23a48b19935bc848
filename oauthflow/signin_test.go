package oauthflow

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// user is the person at the browser: it visits every URL the manager
// opens, and counts the tabs.
type user struct {
	h    *harness
	tabs atomic.Int32
	mu   sync.Mutex // guards urls and pages
	urls []string
	// pages are the callback pages the tabs ended on.
	pages []string
	wg    sync.WaitGroup
}

// startUser visits the opened URLs until the test ends.
func (h *harness) startUser() *user {
	u := &user{h: h}
	done := make(chan struct{})
	u.wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case url := <-h.opened:
				u.tabs.Add(1)
				resp, err := http.Get(url)
				page := ""
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					page = string(b)
				}
				u.mu.Lock()
				u.urls = append(u.urls, url)
				u.pages = append(u.pages, page)
				u.mu.Unlock()
			}
		}
	})
	h.t.Cleanup(func() { close(done); u.wg.Wait() })
	return u
}

func (u *user) lastPage() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.pages) == 0 {
		return ""
	}
	return u.pages[len(u.pages)-1]
}

// waitSignIn waits for the server's sign-in to end and returns it.
func (h *harness) waitSignIn(name string, limit time.Duration) *SignIn {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ch := h.m.Changes()
		if s := h.m.Summary(name); s != nil && s.SignIn != nil && s.SignIn.Status != SignInWaiting {
			return s.SignIn
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the sign-in of %s did not end within %v; summary %+v", name, limit, h.m.Summary(name))
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// run runs the manager's background work until the test ends.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.m.Run(ctx); close(done) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// TestDeclinedSignInIsTheStateAtOnce: an access_denied becomes the state
// and its reason, the sign-in says it failed, the page names the server
// and the next step, and mcptray opens no browser by itself again.
func TestDeclinedSignInIsTheStateAtOnce(t *testing.T) {
	as := newFakeAS(t)
	as.deny = true
	h := newHarness(t, as)
	h.run()
	u := h.startUser()
	cfg := h.cfg()
	if _, err := h.call("s", cfg); !errors.Is(err, ErrAuthorizationRequired) {
		t.Fatal(err)
	}
	si := h.waitSignIn("s", 5*time.Second)
	sum := h.m.Summary("s")
	if si.Status != SignInFailed || !strings.Contains(si.Error, "access_denied") || !strings.Contains(si.Error, "The resource owner denied the request") {
		t.Errorf("sign-in %+v", si)
	}
	if sum.State != StateFailed || sum.Reason != si.Error {
		t.Errorf("summary %+v", sum)
	}
	if !si.BrowserOpened || si.ByUser {
		t.Errorf("the automatic sign-in: %+v", si)
	}
	waitFor(t, time.Second, func() bool { return strings.Contains(u.lastPage(), "refused") })
	if p := u.lastPage(); !strings.Contains(p, "Sign-in to s refused") || !strings.Contains(p, "mcptray authorize s") {
		t.Errorf("the page does not name the server and the next step: %s", p)
	}
	// The client retries, reconnects: no second tab, the reason stays.
	for range 3 {
		if _, err := h.call("s", cfg); err == nil || !strings.Contains(err.Error(), "access_denied") {
			t.Errorf("retry: %v", err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := u.tabs.Load(); n != 1 {
		t.Errorf("%d tabs, want 1", n)
	}
	// The user asks: one tab, and this time consents.
	as.deny = false
	if _, err := h.m.Authorize(context.Background(), "s", true); err != nil {
		t.Fatal(err)
	}
	if si := h.waitSignIn("s", 5*time.Second); si.Status != SignInCompleted || !si.ByUser {
		t.Fatalf("sign-in %+v", si)
	}
	h.expectOK("s", cfg)
	if s := h.m.Summary("s"); s.State != StateAuthorized || s.Reason != "" {
		t.Errorf("summary %+v", s)
	}
}

// TestAFailureBeforeTheBrowserIsTheState: a sign-in that cannot start
// (the registration is refused) says why in the state, and Authorize
// returns the reason.
func TestAFailureBeforeTheBrowserIsTheState(t *testing.T) {
	as := newFakeAS(t)
	as.requireIAT = "needed"
	h := newHarness(t, as)
	h.configure("s", h.cfg())
	_, err := h.m.Authorize(context.Background(), "s", true)
	if err == nil || !strings.Contains(err.Error(), "register at") || !strings.Contains(err.Error(), "invalid_token") {
		t.Fatalf("Authorize: %v", err)
	}
	sum := h.m.Summary("s")
	if sum.State != StateFailed || sum.Reason != err.Error() || sum.SignIn == nil || sum.SignIn.Status != SignInFailed {
		t.Errorf("summary %+v %+v", sum, sum.SignIn)
	}
	if len(h.opened) != 0 {
		t.Error("a browser opened")
	}
}

// TestUntickedScopeEndsTheSignIn: the user unticks a scope the server's
// 401 asked for. The sign-in fails with "granted X; the server needs Y",
// its tokens are kept, the server waits for the user, and no browser opens
// again by itself, however often the client retries.
func TestUntickedScopeEndsTheSignIn(t *testing.T) {
	as := newFakeAS(t)
	as.resourceScopes = []string{"mcp:tools", "mcp:read"}
	as.untick = []string{"mcp:read"}
	h := newHarness(t, as)
	h.run()
	u := h.startUser()
	cfg := h.cfg()
	if _, err := h.call("s", cfg); !errors.Is(err, ErrAuthorizationRequired) {
		t.Fatal(err)
	}
	si := h.waitSignIn("s", 5*time.Second)
	const want = "granted mcp:tools; the server needs mcp:tools mcp:read"
	if si.Status != SignInFailed || si.Error != want || !slices.Equal(si.Missing, []string{"mcp:read"}) {
		t.Errorf("sign-in %+v", si)
	}
	if s := h.m.Summary("s"); s.State != StateNeedsAuthorization || s.Reason != want {
		t.Errorf("summary %+v", s)
	}
	if b := h.bundle("s"); b == nil || b.Token == nil {
		t.Error("the tokens of the sign-in were not kept")
	}
	h.m.nextAutomatic(context.Background())
	time.Sleep(200 * time.Millisecond)
	if n := u.tabs.Load(); n != 1 {
		t.Errorf("%d tabs, want 1", n)
	}
	waitFor(t, time.Second, func() bool { return strings.Contains(u.lastPage(), "without everything") })
	if p := u.lastPage(); !strings.Contains(p, want) {
		t.Errorf("page: %s", p)
	}
}

// TestStepUpsAreBoundedPerServer: a step-up the user answers without the
// scope fails the request with the reason, and the server keeps working;
// later requests and new connections open no browser; the user's own
// Authorize… does, once.
func TestStepUpsAreBoundedPerServer(t *testing.T) {
	as := newFakeAS(t)
	as.resourceScopes = []string{"read"}
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	u := h.startUser()
	as.needScope = "admin"
	as.untick = []string{"admin"}
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", as.mcpURL(), nil)
		resp, err := (&http.Client{Transport: h.transport("s", cfg)}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	err := call()
	if !errors.Is(err, ErrAuthorizationRequired) || !strings.Contains(err.Error(), "granted read; the server needs admin") {
		t.Fatalf("step-up the user answered without the scope: %v", err)
	}
	if s := h.m.Summary("s"); s.State != StateAuthorized || s.SignIn.Status != SignInFailed {
		t.Errorf("a working server stopped working: %+v %+v", s, s.SignIn)
	}
	for range 5 {
		if err := call(); !errors.Is(err, ErrAuthorizationRequired) || !strings.Contains(err.Error(), "granted read") {
			t.Errorf("again: %v", err)
		}
	}
	if n := u.tabs.Load(); n != 1 {
		t.Fatalf("%d tabs for one step-up, want 1", n)
	}
	// The user asks for it; and allows it this time.
	as.untick = nil
	if _, err := h.m.Authorize(context.Background(), "s", true); err != nil {
		t.Fatal(err)
	}
	if si := h.waitSignIn("s", 5*time.Second); si.Status != SignInCompleted {
		t.Fatalf("sign-in %+v", si)
	}
	if err := call(); err != nil {
		t.Fatalf("after the user's sign-in: %v", err)
	}
	if n := u.tabs.Load(); n != 2 {
		t.Errorf("%d tabs, want 2", n)
	}
	last := as.authRequests[len(as.authRequests)-1]
	if got := strings.Fields(last.Get("scope")); !slices.Contains(got, "read") || !slices.Contains(got, "admin") {
		t.Errorf("the user's sign-in asked for %v, want read and admin", got)
	}
}

// TestAServerThatKeepsAskingGetsFewTabs: a server that answers
// insufficient_scope to whatever it granted gets maxAutoStepUps tabs in
// all, across requests and new connections, not two per request.
func TestAServerThatKeepsAskingGetsFewTabs(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	u := h.startUser()
	as.needScope, as.alwaysInsufficient = "admin", true
	for range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", as.mcpURL(), nil)
		if resp, err := (&http.Client{Transport: h.transport("s", cfg)}).Do(req); err == nil {
			resp.Body.Close()
		}
		cancel()
	}
	if n := u.tabs.Load(); n != maxAutoStepUps {
		t.Errorf("%d tabs, want %d", n, maxAutoStepUps)
	}
	if s := h.m.Summary("s"); s.State != StateAuthorized {
		t.Errorf("summary %+v", s)
	}
}

// TestConcurrentSignInsShareOne: the automatic sign-in, the API, the tray
// and another request at once: one pending sign-in, one URL, one tab, and
// it completes.
func TestConcurrentSignInsShareOne(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.configure("s", cfg)
	h.run()
	var wg sync.WaitGroup
	urls := make(chan string, 8)
	wg.Go(func() { _, _ = h.call("s", cfg) }) // the automatic one
	wg.Go(func() { _, _ = h.call("s", cfg) })
	wg.Go(func() { // the tray
		u, err := h.m.Authorize(context.Background(), "s", true)
		if err != nil {
			t.Error(err)
		}
		urls <- u
	})
	wg.Go(func() { // the API
		resp, err := http.Post(h.cb.URL+"/api/servers/s/authorize", "application/json", nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		var a Authorization
		json.NewDecoder(resp.Body).Decode(&a)
		urls <- a.URL
	})
	wg.Wait()
	close(urls)
	var first string
	for u := range urls {
		if first == "" {
			first = u
		}
		if u != first || u == "" {
			t.Errorf("two sign-ins: %s and %s", first, u)
		}
	}
	time.Sleep(300 * time.Millisecond) // the automatic one, from Run
	if n := len(h.opened); n != 1 {
		t.Fatalf("%d tabs, want 1", n)
	}
	if got := <-h.opened; got != first {
		t.Errorf("the tab shows %s, want %s", got, first)
	}
	if code, page := h.visit(first); code != 200 {
		t.Fatalf("%d %s", code, page)
	}
	h.expectOK("s", cfg)
	if len(as.authRequests) != 1 || len(as.registrations) != 1 {
		t.Errorf("%d authorization requests, %d registrations; want 1 each", len(as.authRequests), len(as.registrations))
	}
}

// TestConcurrentStepUpsShareOne: four requests that all need more scopes
// make one sign-in, and all go on when it completes.
func TestConcurrentStepUpsShareOne(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	as.needScope = "admin"
	u := h.startUser()
	tr := h.transport("s", cfg)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", as.mcpURL(), nil)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := u.tabs.Load(); n != 1 {
		t.Errorf("%d tabs for 4 step-ups, want 1", n)
	}
}

// TestRefusedReauthorizationKeepsTheServerWorking: the user cancels
// Authorize again… on a server whose token works: it stays authorized, and
// only the sign-in says it failed.
func TestRefusedReauthorizationKeepsTheServerWorking(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.signIn("s", cfg)
	as.deny = true
	u, err := h.m.Authorize(context.Background(), "s", true)
	if err != nil {
		t.Fatal(err)
	}
	<-h.opened
	if code, page := h.visit(u); code != 400 || !strings.Contains(page, "refused") {
		t.Errorf("%d %s", code, page)
	}
	sum := h.m.Summary("s")
	if sum.State != StateAuthorized || sum.Reason != "" || sum.SignIn.Status != SignInFailed || !strings.Contains(sum.SignIn.Error, "access_denied") {
		t.Errorf("summary %+v %+v", sum, sum.SignIn)
	}
	h.expectOK("s", cfg)
	if b := h.bundle("s"); b.Token == nil {
		t.Error("the working token was dropped")
	}
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
	}
}
