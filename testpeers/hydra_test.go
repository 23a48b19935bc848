//go:build unix

package testpeers

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestHydra runs Ory Hydra end to end: registration, the registered-scope
// rule, consent (approve, untick, decline), the resource server's
// challenges and step-up, refresh rotation, revocation and a restart that
// forgets the client. The steps share one Hydra, whose start costs seconds.
func TestHydra(t *testing.T) {
	h := StartHydra(t, HydraOptions{Scopes: []string{"mcp:tools", "mcp:admin"}})
	meta := discover(t, h.Issuer)
	if meta.RegistrationEndpoint != h.Public+"/oauth2/register" {
		t.Fatalf("registration_endpoint %q", meta.RegistrationEndpoint)
	}
	if getJSON(t, h.Public+"/.well-known/oauth-authorization-server", nil) != http.StatusNotFound {
		t.Error("Hydra now serves RFC 8414 metadata: update the quirks in Hydra's doc comment")
	}
	if !slices.Contains(meta.CodeChallengeMethods, "S256") {
		t.Errorf("code_challenge_methods_supported %v", meta.CodeChallengeMethods)
	}
	rs := StartResourceServer(t, ResourceOptions{
		AuthorizationServers: []string{h.Issuer},
		Scopes:               []string{"mcp:tools"},
		ToolScopes:           map[string]string{"admin": "mcp:admin"},
		Verify:               Introspection(h.IntrospectionURL(), nil),
	})
	redirect := "http://127.0.0.1:" + freePortString(t) + "/callback"

	t.Run("registered scopes only", func(t *testing.T) {
		status, reg := register(t, meta.RegistrationEndpoint, nativeClient(redirect, ""))
		if status != http.StatusCreated {
			t.Fatalf("registration: %d %v", status, reg)
		}
		if reg["scope"] != "offline_access offline openid" {
			t.Errorf("a client registered without scope got %q", reg["scope"])
		}
		f := &flow{meta: meta, clientID: reg["client_id"].(string), redirect: redirect, resource: rs.URL}
		a := f.authorize(t, NewBrowser(t, HydraUser, HydraPassword), "mcp:tools")
		if a.param("error") != "invalid_scope" {
			t.Fatalf("asking for an unregistered scope: %s, want error=invalid_scope", a.callback.RawQuery)
		}
	})

	// A client registered with the scopes it uses.
	status, reg := register(t, meta.RegistrationEndpoint, nativeClient(redirect, "mcp:tools mcp:admin offline_access"))
	if status != http.StatusCreated {
		t.Fatalf("registration: %d %v", status, reg)
	}
	if reg["registration_client_uri"] == nil {
		t.Error("no RFC 7592 registration_client_uri")
	}
	f := &flow{meta: meta, clientID: reg["client_id"].(string), redirect: redirect, resource: rs.URL}
	var tok *tokenResponse

	t.Run("approve", func(t *testing.T) {
		b := NewBrowser(t, HydraUser, HydraPassword)
		a := f.authorize(t, b, "mcp:tools", "offline_access")
		// RFC 9207: Hydra v2.3 neither sends iss nor advertises it.
		if a.param("iss") != "" || meta.IssParameterSupported {
			t.Errorf("Hydra now sends iss (%q, advertised %v): update its doc comment", a.param("iss"), meta.IssParameterSupported)
		}
		o := f.exchange(t, a)
		if o.RefreshToken == "" {
			t.Fatal("no refresh token with offline_access")
		}
		if got := strings.Fields(o.Extra("scope").(string)); !slices.Contains(got, "mcp:tools") {
			t.Errorf("granted %v", got)
		}
		tok = &tokenResponse{AccessToken: o.AccessToken, RefreshToken: o.RefreshToken}
		text, err := callTool(t, rs.URL, o.AccessToken, "whoami")
		if err != nil || !strings.Contains(text, f.clientID) || !strings.Contains(text, "mcp:tools") {
			t.Fatalf("whoami: %q, %v", text, err)
		}
		checkChallenges(t, rs, o.AccessToken, "admin", "mcp:admin")
		// RFC 8707: Hydra ignores resource (its audience comes from its
		// own "audience" parameter): the token names no audience.
		if aud := rs.Tokens()[len(rs.Tokens())-1].Audience; len(aud) != 0 {
			t.Errorf("Hydra now binds the token to %v: update its doc comment", aud)
		}
	})

	t.Run("step-up", func(t *testing.T) {
		b := NewBrowser(t, HydraUser, HydraPassword)
		o := f.exchange(t, f.authorize(t, b, "mcp:tools", "mcp:admin"))
		if text, err := callTool(t, rs.URL, o.AccessToken, "admin"); err != nil || text != "done with mcp:admin" {
			t.Fatalf("admin after step-up: %q, %v", text, err)
		}
	})

	t.Run("untick", func(t *testing.T) {
		b := NewBrowser(t, HydraUser, HydraPassword)
		b.Untick = []string{"mcp:admin"}
		o := f.exchange(t, f.authorize(t, b, "mcp:tools", "mcp:admin"))
		if got := strings.Fields(o.Extra("scope").(string)); slices.Contains(got, "mcp:admin") || !slices.Contains(got, "mcp:tools") {
			t.Fatalf("granted %v after unticking mcp:admin", got)
		}
		status, h := rawCall(t, rs.URL, o.AccessToken, "tools/call", map[string]any{"name": "admin"})
		if status != http.StatusForbidden || !strings.Contains(h, "insufficient_scope") {
			t.Fatalf("admin without the unticked scope: %d %q", status, h)
		}
	})

	t.Run("decline", func(t *testing.T) {
		b := NewBrowser(t, HydraUser, HydraPassword)
		b.Decision = Decline
		a := f.authorize(t, b, "mcp:tools")
		if a.param("error") != "access_denied" || a.param("code") != "" {
			t.Fatalf("declined: %s, want error=access_denied", a.callback.RawQuery)
		}
	})

	t.Run("open delivers to the callback", func(t *testing.T) {
		got := make(chan url.Values, 1)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case got <- r.URL.Query():
			default:
			}
			_, _ = w.Write([]byte("signed in; you may close this tab"))
		}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		cbURL := "http://" + ln.Addr().String() + "/callback"
		status, reg := register(t, meta.RegistrationEndpoint, nativeClient(cbURL, "mcp:tools"))
		if status != http.StatusCreated {
			t.Fatalf("registration: %d %v", status, reg)
		}
		g := &flow{meta: meta, clientID: reg["client_id"].(string), redirect: cbURL, resource: rs.URL}
		b := NewBrowser(t, HydraUser, HydraPassword)
		if err := b.Open(context.Background(), g.config("mcp:tools").AuthCodeURL("state-long-enough", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); err != nil {
			t.Fatal(err)
		}
		select {
		case q := <-got:
			if q.Get("code") == "" || q.Get("state") != "state-long-enough" {
				t.Fatalf("callback got %v", keys(q))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no callback; errors %v; pages:\n%s", b.Errors(), b.Pages())
		}
	})

	t.Run("loopback on any port", func(t *testing.T) {
		// RFC 8252 section 7.3, as Hydra (fosite) implements it.
		status, reg := register(t, meta.RegistrationEndpoint, nativeClient("http://127.0.0.1/callback", "mcp:tools"))
		if status != http.StatusCreated {
			t.Fatalf("registration: %d %v", status, reg)
		}
		g := &flow{meta: meta, clientID: reg["client_id"].(string), redirect: redirect, resource: rs.URL}
		g.exchange(t, g.authorize(t, NewBrowser(t, HydraUser, HydraPassword), "mcp:tools"))
		// Only for IP literals: "localhost" must match exactly, port
		// included (RFC 8252 section 8.3 advises against localhost).
		status, reg = register(t, meta.RegistrationEndpoint, nativeClient("http://localhost/callback", "mcp:tools"))
		if status != http.StatusCreated {
			t.Fatalf("registration: %d %v", status, reg)
		}
		g = &flow{meta: meta, clientID: reg["client_id"].(string), redirect: "http://localhost:" + freePortString(t) + "/callback", resource: rs.URL}
		if _, err := g.tryAuthorize(NewBrowser(t, HydraUser, HydraPassword), "mcp:tools"); err == nil || !strings.Contains(err.Error(), "redirect_uri") {
			t.Errorf("localhost on another port: %v, want Hydra's redirect_uri error page", err)
		}
	})

	t.Run("refresh rotates", func(t *testing.T) {
		if tok == nil {
			t.Skip("approve failed")
		}
		next, terr := f.refresh(t, tok.RefreshToken)
		if terr != nil {
			t.Fatalf("refresh: %v", terr)
		}
		if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
			t.Fatal("the refresh token did not rotate")
		}
		if _, terr := f.refresh(t, tok.RefreshToken); terr == nil || terr.Code != "invalid_grant" {
			t.Fatalf("the spent refresh token: %v, want invalid_grant", terr)
		}
		// Hydra treats the reuse as theft and revokes the whole chain.
		if _, terr := f.refresh(t, next.RefreshToken); terr == nil {
			t.Error("the rotated refresh token still works after its predecessor was reused")
		}
	})

	t.Run("revoke", func(t *testing.T) {
		b := NewBrowser(t, HydraUser, HydraPassword)
		o := f.exchange(t, f.authorize(t, b, "mcp:tools", "offline_access"))
		if terr := f.revoke(t, o.RefreshToken, "refresh_token"); terr != nil {
			t.Fatalf("revoke: %v", terr)
		}
		if _, terr := f.refresh(t, o.RefreshToken); terr == nil || terr.Code != "invalid_grant" {
			t.Fatalf("refresh with the revoked token: %v, want invalid_grant", terr)
		}
		// Revoking the refresh token revokes its access token too.
		if status, _ := rawCall(t, rs.URL, o.AccessToken, "initialize", map[string]any{}); status != http.StatusUnauthorized {
			t.Errorf("the revoked grant's access token: %d, want 401", status)
		}
	})

	t.Run("restart forgets the client", func(t *testing.T) {
		b := NewBrowser(t, HydraUser, HydraPassword)
		o := f.exchange(t, f.authorize(t, b, "mcp:tools", "offline_access"))
		h.Restart(t)
		if _, terr := f.refresh(t, o.RefreshToken); terr == nil || terr.Code != "invalid_client" {
			t.Errorf("refresh after the restart: %v, want invalid_client", terr)
		}
		_, err := f.tryAuthorize(NewBrowser(t, HydraUser, HydraPassword), "mcp:tools")
		// The client is unknown, so Hydra cannot trust its redirect URI and
		// shows its error page instead (RFC 6749 section 4.1.2.1).
		if err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("authorize after the restart: %v, want Hydra's invalid_client page", err)
		}
		if status, _ := rawCall(t, rs.URL, o.AccessToken, "initialize", map[string]any{}); status != http.StatusUnauthorized {
			t.Errorf("a token from before the restart: %d, want 401", status)
		}
		status, reg := register(t, meta.RegistrationEndpoint, nativeClient(redirect, "mcp:tools"))
		if status != http.StatusCreated {
			t.Fatalf("registering anew: %d %v", status, reg)
		}
		g := &flow{meta: meta, clientID: reg["client_id"].(string), redirect: redirect, resource: rs.URL}
		g.exchange(t, g.authorize(t, NewBrowser(t, HydraUser, HydraPassword), "mcp:tools"))
	})
}

func keys(q url.Values) []string {
	var out []string
	for k := range q {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func freePortString(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
