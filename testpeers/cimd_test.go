//go:build unix

package testpeers

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestCIMD runs oidc-provider with Client ID Metadata Documents only: it
// fetches the client's document over https from a local test host, and the
// flow goes on as for any public client (consent, decline, step-up,
// refresh rotation, revocation); documents that break the draft's rules
// are refused.
func TestCIMD(t *testing.T) {
	host := StartCIMDHost(t)
	as := StartCIMD(t, host)
	meta := discover(t, as.Issuer)
	if !meta.CIMDSupported || meta.RegistrationEndpoint != "" || !meta.IssParameterSupported {
		t.Fatalf("metadata: cimd %v, registration %q, iss %v", meta.CIMDSupported, meta.RegistrationEndpoint, meta.IssParameterSupported)
	}
	var rfc8414 asMetadata
	if getJSON(t, as.Issuer+"/.well-known/oauth-authorization-server", &rfc8414) != http.StatusOK || !rfc8414.CIMDSupported {
		t.Errorf("RFC 8414 metadata does not advertise CIMD: %+v", rfc8414)
	}
	rs := as.Resource
	redirect := "http://127.0.0.1:" + freePortString(t) + "/callback"
	clientID := host.Publish("/oauth/mcptray.json", ClientMetadata(host.URL+"/oauth/mcptray.json", redirect))
	f := &flow{meta: meta, clientID: clientID, redirect: redirect, resource: rs.URL}

	var refresh string
	t.Run("sign in", func(t *testing.T) {
		a := f.authorize(t, NewBrowser(t, "cimd-user", "any"), "mcp:tools", "offline_access")
		if host.Fetches("/oauth/mcptray.json") == 0 {
			t.Error("the authorization server never fetched the document")
		}
		if a.param("iss") != as.Issuer {
			t.Errorf("iss %q, want %q", a.param("iss"), as.Issuer)
		}
		o := f.exchange(t, a)
		refresh = o.RefreshToken
		if refresh == "" {
			t.Error("no refresh token though the document lists refresh_token")
		}
		text, err := callTool(t, rs.URL, o.AccessToken, "whoami")
		if err != nil || !strings.Contains(text, clientID) || !strings.Contains(text, "mcp:tools") {
			t.Fatalf("whoami: %q, %v", text, err)
		}
		if aud := rs.Tokens()[len(rs.Tokens())-1].Audience; !slices.Contains(aud, rs.URL) {
			t.Errorf("audience %v, want the resource", aud)
		}
		checkChallenges(t, rs, o.AccessToken, "admin", "mcp:admin")
	})

	t.Run("step-up", func(t *testing.T) {
		o := f.exchange(t, f.authorize(t, NewBrowser(t, "cimd-user", "any"), "mcp:tools", "mcp:admin"))
		if text, err := callTool(t, rs.URL, o.AccessToken, "admin"); err != nil || text != "done with mcp:admin" {
			t.Fatalf("admin after step-up: %q, %v", text, err)
		}
	})

	t.Run("decline", func(t *testing.T) {
		b := NewBrowser(t, "cimd-user", "any")
		b.Decision = Decline
		a := f.authorize(t, b, "mcp:tools")
		if a.param("error") != "access_denied" || a.param("code") != "" {
			t.Fatalf("declined: %s, want error=access_denied", a.callback.RawQuery)
		}
	})

	t.Run("no scope to untick", func(t *testing.T) {
		b := NewBrowser(t, "cimd-user", "any")
		b.Untick = []string{"mcp:admin"}
		a, err := f.tryAuthorize(b, "mcp:tools", "mcp:admin")
		if !errors.Is(err, ErrNoUntick) || a.param("code") == "" {
			t.Fatalf("untick at oidc-provider's consent: %v, %v; want a code and ErrNoUntick", a.callback, err)
		}
	})

	t.Run("refresh rotates, revocation", func(t *testing.T) {
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
		// oidc-provider revokes the grant when a spent token comes back;
		// sign in again for the revocation check.
		o := f.exchange(t, f.authorize(t, NewBrowser(t, "cimd-user", "any"), "mcp:tools", "offline_access"))
		if terr := f.revoke(t, o.RefreshToken, "refresh_token"); terr != nil {
			t.Fatalf("revoke: %v", terr)
		}
		if _, terr := f.refresh(t, o.RefreshToken); terr == nil || terr.Code != "invalid_grant" {
			t.Fatalf("refresh with the revoked token: %v, want invalid_grant", terr)
		}
	})

	t.Run("loopback on any port", func(t *testing.T) {
		// RFC 8252 section 7.3: a native client's loopback redirect URI
		// matches whatever port the client listens on.
		id := host.Publish("/oauth/any-port.json", ClientMetadata(host.URL+"/oauth/any-port.json", "http://127.0.0.1/callback"))
		g := &flow{meta: meta, clientID: id, redirect: redirect, resource: rs.URL}
		g.exchange(t, g.authorize(t, NewBrowser(t, "cimd-user", "any"), "mcp:tools"))
	})

	t.Run("bad documents", func(t *testing.T) {
		// oidc-provider shows an error page rather than trusting the
		// redirect URI of a client it could not establish.
		refused := func(name string, g *flow, want string) {
			t.Helper()
			a, err := g.tryAuthorize(NewBrowser(t, "cimd-user", "any"), "mcp:tools")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v (callback %v), want a page saying %s", name, err, a.callback != nil, want)
			}
		}
		for _, c := range []struct {
			name, want string
			doc        func(id string) map[string]any
		}{
			{"client_id differs", "client_id metadata document client_id does not match", func(string) map[string]any {
				return ClientMetadata(host.URL+"/somewhere-else.json", redirect)
			}},
			{"shared secret", "must not use shared-secret token endpoint authentication", func(id string) map[string]any {
				d := ClientMetadata(id, redirect)
				d["token_endpoint_auth_method"] = "client_secret_basic"
				return d
			}},
			{"other redirect", "invalid_redirect_uri", func(id string) map[string]any {
				return ClientMetadata(id, "http://127.0.0.1:1/elsewhere")
			}},
		} {
			path := "/bad/" + strings.ReplaceAll(c.name, " ", "-") + ".json"
			id := host.Publish(path, c.doc(host.URL+path))
			refused(c.name, &flow{meta: meta, clientID: id, redirect: redirect, resource: rs.URL}, c.want)
		}
		// A host whose certificate the provider has no reason to trust:
		// the fetch is https, verified.
		other := StartCIMDHost(t)
		id := other.Publish("/oauth/mcptray.json", ClientMetadata(other.URL+"/oauth/mcptray.json", redirect))
		refused("untrusted host", &flow{meta: meta, clientID: id, redirect: redirect}, "client_id metadata document fetch failed")
		refused("no document", &flow{meta: meta, clientID: host.URL + "/not-published.json", redirect: redirect}, "client_id metadata document fetch failed")
	})
}
