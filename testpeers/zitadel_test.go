//go:build unix

package testpeers

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestZitadel runs zitadel/oidc's example provider end to end: clients
// known only from its start (no registration), its login page, scopes it
// drops, JWT access tokens checked by the resource server, refresh
// rotation, revocation, and a confidential client's secret.
func TestZitadel(t *testing.T) {
	z := StartZitadel(t, ZitadelOptions{
		Clients: []ZitadelClient{
			{ID: "mcptray", RedirectURIs: []string{"http://127.0.0.1/callback"}},
			{ID: "mcptray-web", Secret: "web-secret", RedirectURIs: []string{"http://127.0.0.1:45678/callback"}},
		},
		Scopes: []string{"mcp:tools"},
	})
	meta := discover(t, z.Issuer)
	rs := StartResourceServer(t, ResourceOptions{
		AuthorizationServers: []string{z.Issuer},
		Scopes:               []string{"openid", "mcp:tools"},
		ToolScopes:           map[string]string{"admin": "mcp:admin"},
		Verify:               JWTVerifier(z.Issuer, meta.JWKSURI),
	})
	// The port is not registered: a native client's loopback redirect
	// matches on any port.
	redirect := "http://127.0.0.1:" + freePortString(t) + "/callback"
	f := &flow{meta: meta, clientID: "mcptray", redirect: redirect, resource: rs.URL}

	t.Run("pre-registered only", func(t *testing.T) {
		if meta.RegistrationEndpoint != "" {
			t.Errorf("registration_endpoint %q", meta.RegistrationEndpoint)
		}
		for _, path := range []string{"/register", "/oauth/register", "/connect/register"} {
			if status, _ := register(t, z.Issuer+path, nativeClient(redirect, "")); status/100 == 2 {
				t.Errorf("POST %s registered a client: %d", path, status)
			}
		}
		g := &flow{meta: meta, clientID: "unknown-client", redirect: redirect}
		if _, err := g.tryAuthorize(NewBrowser(t, ZitadelUser, ZitadelPassword), "openid"); err == nil {
			t.Error("an unknown client_id was let through")
		}
	})

	var refresh string
	t.Run("sign in", func(t *testing.T) {
		b := NewBrowser(t, ZitadelUser, ZitadelPassword)
		a := f.authorize(t, b, "openid", "offline_access", "mcp:tools", "mcp:admin")
		if !strings.Contains(b.Pages(), "/login/username") {
			t.Errorf("the browser never saw the login page:\n%s", b.Pages())
		}
		if a.param("iss") != "" || meta.IssParameterSupported {
			t.Errorf("zitadel now sends iss (%q): update its doc comment", a.param("iss"))
		}
		o := f.exchange(t, a)
		refresh = o.RefreshToken
		if refresh == "" {
			t.Fatal("no refresh token with offline_access")
		}
		text, err := callTool(t, rs.URL, o.AccessToken, "whoami")
		if err != nil || !strings.Contains(text, "mcp:tools") {
			t.Fatalf("whoami: %q, %v", text, err)
		}
		// zitadel drops a scope the client may not ask for, without an
		// error: the grant lacks mcp:admin, and the tool that needs it
		// is refused however often the client asks.
		info := rs.Tokens()[len(rs.Tokens())-1]
		if slices.Contains(info.Scopes, "mcp:admin") {
			t.Errorf("granted %v, mcp:admin included", info.Scopes)
		}
		if !slices.Equal(info.Audience, []string{"mcptray"}) {
			t.Errorf("audience %v: zitadel now honours resource? update its doc comment", info.Audience)
		}
		checkChallenges(t, rs, o.AccessToken, "admin", "mcp:admin")
	})

	t.Run("no consent page", func(t *testing.T) {
		b := NewBrowser(t, ZitadelUser, ZitadelPassword)
		b.Decision = Decline
		b.Untick = []string{"mcp:tools"}
		a, err := f.tryAuthorize(b, "openid", "mcp:tools")
		if !errors.Is(err, ErrNoUntick) || a.param("code") == "" {
			t.Fatalf("declining and unticking where there is no consent: %v, %v; want a code and ErrNoUntick", a.callback, err)
		}
	})

	t.Run("refresh rotates", func(t *testing.T) {
		if refresh == "" {
			t.Skip("sign in failed")
		}
		next, terr := f.refresh(t, refresh)
		if terr != nil {
			t.Fatalf("refresh: %v", terr)
		}
		if next.RefreshToken == "" || next.RefreshToken == refresh {
			t.Fatal("the refresh token did not rotate")
		}
		if _, terr := f.refresh(t, refresh); terr == nil || terr.Code != "invalid_grant" {
			t.Fatalf("the spent refresh token: %v, want invalid_grant", terr)
		}
		if terr := f.revoke(t, next.RefreshToken, "refresh_token"); terr != nil {
			t.Fatalf("revoke: %v", terr)
		}
		if _, terr := f.refresh(t, next.RefreshToken); terr == nil || terr.Code != "invalid_grant" {
			t.Fatalf("refresh with the revoked token: %v, want invalid_grant", terr)
		}
	})

	t.Run("client secret", func(t *testing.T) {
		g := &flow{meta: meta, clientID: "mcptray-web", secret: "web-secret", redirect: "http://127.0.0.1:45678/callback"}
		a := g.authorize(t, NewBrowser(t, ZitadelUser, ZitadelPassword), "openid", "offline_access")
		code := a.param("code")
		g.secret = "wrong-secret"
		if _, err := g.config().Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier)); err == nil {
			t.Error("a wrong client secret was accepted")
		} else if !strings.Contains(err.Error(), "invalid_client") && !strings.Contains(err.Error(), "unauthorized_client") {
			t.Errorf("wrong secret: %v", err)
		}
		g.secret = "web-secret"
		a = g.authorize(t, NewBrowser(t, ZitadelUser, ZitadelPassword), "openid")
		if tok := g.exchange(t, a); tok.AccessToken == "" {
			t.Fatal("no access token")
		}
		// A confidential web client's redirect URI is matched exactly,
		// port included.
		g.redirect = "http://127.0.0.1:45679/callback"
		if _, err := g.tryAuthorize(NewBrowser(t, ZitadelUser, ZitadelPassword), "openid"); err == nil {
			t.Error("another port of a web client's redirect URI was accepted")
		}
	})

	t.Run("device flow", func(t *testing.T) {
		// RFC 8628: the code at the device endpoint, the user at the
		// verification page in a browser, the tokens by polling.
		if meta.DeviceAuthorizationURL == "" {
			t.Fatal("no device_authorization_endpoint")
		}
		resp, err := http.PostForm(meta.DeviceAuthorizationURL, url.Values{"client_id": {"mcptray"}, "scope": {"openid offline_access mcp:tools"}})
		if err != nil {
			t.Fatal(err)
		}
		var dv struct {
			DeviceCode string `json:"device_code"`
			UserCode   string `json:"user_code"`
			Complete   string `json:"verification_uri_complete"`
			Interval   int    `json:"interval"`
		}
		json.NewDecoder(resp.Body).Decode(&dv)
		resp.Body.Close()
		if resp.StatusCode != 200 || dv.DeviceCode == "" || dv.Complete == "" {
			t.Fatalf("device authorization: %d %+v", resp.StatusCode, dv.UserCode)
		}
		poll := func() (int, map[string]any) {
			resp, err := http.PostForm(meta.TokenEndpoint, url.Values{"client_id": {"mcptray"}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dv.DeviceCode}})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, out
		}
		if status, out := poll(); status != 400 || out["error"] != "authorization_pending" {
			t.Fatalf("before the user: %d %v", status, out["error"])
		}
		b := NewBrowser(t, ZitadelUser, ZitadelPassword)
		if err := b.Open(t.Context(), dv.Complete); err != nil {
			t.Fatal(err)
		}
		b.wg.Wait()
		if errs := b.Errors(); len(errs) > 0 || !strings.Contains(b.Pages(), "/device/confirm") {
			t.Fatalf("the browser: %v\n%s", errs, b.Pages())
		}
		status, out := poll()
		if status != 200 || out["access_token"] == nil || out["refresh_token"] == nil {
			t.Fatalf("after the user: %d %v %v\n%s", status, out["error"], out["error_description"], z.Output())
		}
		text, err := callTool(t, rs.URL, out["access_token"].(string), "whoami")
		if err != nil || !strings.Contains(text, "mcp:tools") {
			t.Errorf("whoami: %q, %v", text, err)
		}
		// Declined.
		resp, _ = http.PostForm(meta.DeviceAuthorizationURL, url.Values{"client_id": {"mcptray"}, "scope": {"openid"}})
		json.NewDecoder(resp.Body).Decode(&dv)
		resp.Body.Close()
		d := NewBrowser(t, ZitadelUser, ZitadelPassword)
		d.Decision = Decline
		d.Open(t.Context(), dv.Complete)
		d.wg.Wait()
		if status, out := poll(); status == 200 || out["error"] != "access_denied" {
			t.Errorf("declined: %d %v", status, out["error"])
		}
	})

	if got := getJSON(t, z.Issuer+"/.well-known/oauth-authorization-server", nil); got != http.StatusNotFound {
		t.Errorf("RFC 8414 metadata: %d; update the doc comment", got)
	}
}
