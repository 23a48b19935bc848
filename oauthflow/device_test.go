package oauthflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDeviceFlow: RFC 8628 where the server offers it: the user code and
// the URL in the summary (for the tray) and in the API's answer (for the
// CLI), no browser, mcptray polls until the user approves.
func TestDeviceFlow(t *testing.T) {
	as := newFakeAS(t)
	as.device = true
	h := newHarness(t, as)
	h.run()
	cfg := h.cfg()
	h.configure("s", cfg)
	resp, err := http.Post(h.cb.URL+"/api/servers/s/authorize?flow=device", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var a Authorization
	json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	if resp.StatusCode != 200 || a.UserCode != "WDJB-MJHT" || a.VerificationURI != as.url()+"/activate" || !strings.Contains(a.URL, "user_code=WDJB-MJHT") || a.SignIn == "" {
		t.Fatalf("%d %+v", resp.StatusCode, a)
	}
	si := h.m.Summary("s").SignIn
	if si.Flow != FlowDevice || si.Status != SignInWaiting || si.UserCode != a.UserCode || si.BrowserOpened || si.Expires.IsZero() {
		t.Errorf("sign-in %+v", si)
	}
	// Asked again, it is the same sign-in.
	again, err := h.m.AuthorizeDevice(context.Background(), "s")
	if err != nil || again.ID != a.SignIn {
		t.Errorf("a second device sign-in: %+v %v", again, err)
	}
	if !slices.Contains(toStrings(as.registrations[0]["grant_types"]), deviceGrantType) {
		t.Errorf("registered grant types %v", as.registrations[0]["grant_types"])
	}
	time.Sleep(1500 * time.Millisecond) // a poll or two: authorization_pending
	as.answerDevice(a.UserCode, true)
	if si := h.waitSignIn("s", 10*time.Second); si.Status != SignInCompleted || si.ID != a.SignIn {
		t.Fatalf("sign-in %+v", si)
	}
	h.expectOK("s", cfg)
	if len(h.opened) != 0 {
		t.Error("a browser opened")
	}
	if strings.Contains(h.logs.String(), "dc-") || strings.Contains(h.events(), "dc-") {
		t.Error("the device code reached the log")
	}
}

// TestDeviceFlowDeclined: the user denies at the device page: the state
// says so.
func TestDeviceFlowDeclined(t *testing.T) {
	as := newFakeAS(t)
	as.device = true
	h := newHarness(t, as)
	h.run()
	h.configure("s", h.cfg())
	si, err := h.m.AuthorizeDevice(context.Background(), "s")
	if err != nil {
		t.Fatal(err)
	}
	as.answerDevice(si.UserCode, false)
	if si := h.waitSignIn("s", 10*time.Second); si.Status != SignInFailed || !strings.Contains(si.Error, "access_denied") {
		t.Errorf("sign-in %+v", si)
	}
	if s := h.m.Summary("s"); s.State != StateFailed {
		t.Errorf("summary %+v", s)
	}
}

// TestDeviceFlowNotOffered: a server without a device authorization
// endpoint says so, and nothing changes.
func TestDeviceFlowNotOffered(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	h.configure("s", h.cfg())
	if _, err := h.m.AuthorizeDevice(context.Background(), "s"); !errors.Is(err, ErrNoDeviceFlow) || !strings.Contains(err.Error(), "--paste") {
		t.Fatalf("%v", err)
	}
	if s := h.m.Summary("s"); s != nil && s.State == StateFailed {
		t.Errorf("summary %+v", s)
	}
}

// TestPastedRedirect: a sign-in completed with the address the browser
// was sent back to, pasted by the user, through the API; the callback's
// checks hold.
func TestPastedRedirect(t *testing.T) {
	as := newFakeAS(t)
	h := newHarness(t, as)
	cfg := h.cfg()
	h.configure("s", cfg)
	h.configure("other", cfg)
	landed := func() string {
		u, err := h.m.Authorize(context.Background(), "s", false)
		if err != nil {
			t.Fatal(err)
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Location")
	}
	paste := func(name, u string) (int, string) {
		body, _ := json.Marshal(map[string]string{"redirectUrl": u})
		resp, err := http.Post(h.cb.URL+"/api/servers/"+name+"/authorize", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		msg, _ := out["error"].(string)
		return resp.StatusCode, msg
	}
	u := landed()
	if code, msg := paste("other", u); code != 409 || !strings.Contains(msg, "belongs to the sign-in of s") {
		t.Errorf("pasted for another server: %d %s", code, msg)
	}
	u = landed()
	if code, msg := paste("s", strings.Replace(u, "/oauth/callback", "/elsewhere", 1)); code != 409 || !strings.Contains(msg, "redirect URI") {
		t.Errorf("another address: %d %s", code, msg)
	}
	if code, msg := paste("s", "code=abc"); code != 409 {
		t.Errorf("not an address: %d %s", code, msg)
	}
	if code, msg := paste("s", strings.Replace(u, "state=", "state=forged", 1)); code != 409 || !strings.Contains(msg, "unknown") {
		t.Errorf("a forged state: %d %s", code, msg)
	}
	if code, msg := paste("s", "  "+u+"\n"); code != 200 {
		t.Fatalf("the pasted address: %d %s", code, msg)
	}
	h.expectOK("s", cfg)
	if len(h.opened) != 0 {
		t.Error("a browser opened")
	}
	as.deny = true
	u = landed()
	if code, msg := paste("s", u); code != 409 || !strings.Contains(msg, "access_denied") {
		t.Errorf("a declined sign-in pasted: %d %s", code, msg)
	}
}

// TestOneTokenClient: the code exchange, the refresh and the revocation
// authenticate the client one way, the way the server takes (here HTTP
// Basic only).
func TestOneTokenClient(t *testing.T) {
	as := newFakeAS(t)
	as.noRegistration, as.basicOnly = true, true
	h := newHarness(t, as)
	cfg := h.cfg()
	as.addClient(fakeClient{id: "confidential", secret: "s3cret", redirects: []string{cfg.RedirectURI}})
	cfg.ClientID, cfg.ClientSecret = "confidential", "s3cret"
	h.signIn("s", cfg)
	h.clock.Store(int64(50 * time.Minute))
	h.expectOK("s", cfg)
	if as.refreshes.Load() != 1 {
		t.Fatalf("%d refreshes", as.refreshes.Load())
	}
	if err := h.m.SignOut(context.Background(), "s"); err != nil {
		t.Fatal(err)
	}
	if as.revokeAuth.Load() != 1 || len(as.revoked) != 1 {
		t.Errorf("revocation: %d authenticated of %d", as.revokeAuth.Load(), len(as.revoked))
	}
	for _, f := range as.tokenRequests {
		if f.Has("client_secret") {
			t.Error("a token request sent the secret in the body")
		}
	}
}
