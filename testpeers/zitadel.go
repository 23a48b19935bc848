//go:build unix

package testpeers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/testpeers/gobuild"
)

// The user of zitadel/oidc's example storage, whose user name ends with
// the issuer's host.
const (
	ZitadelUser     = "test-user@127.0.0.1"
	ZitadelPassword = "verysecure"
)

// ZitadelClient is a client the provider knows from its start.
type ZitadelClient struct {
	ID           string
	Secret       string   // empty: a public native client (PKCE, "none")
	RedirectURIs []string // for a native client, loopback ones match on any port
}

// ZitadelOptions configures StartZitadel.
type ZitadelOptions struct {
	Clients []ZitadelClient
	// Scopes clients may ask for besides openid, profile, email, phone,
	// address and offline_access.
	Scopes []string
}

// Zitadel is the example OpenID Provider of zitadel/oidc v3 (module
// testpeers/zitadelop) with its in-memory storage and login page. It:
//   - knows only the clients it was started with: it has no registration
//     endpoint, and restarting it forgets nothing a test could re-create;
//   - requires at least one scope, and drops the scopes a client may not
//     ask for from the request without an error: the grant just lacks them;
//   - matches a native client's loopback redirect URI (127.0.0.1, [::1],
//     localhost) on any port;
//   - ignores RFC 8707 resource: the access token's audience is the client;
//   - issues JWT access tokens (the resource server verifies them with its
//     JWKS) that carry no scope claim of their own: zitadelop adds the
//     granted scopes through the storage's claims hook;
//   - rotates refresh tokens (offline_access) and revokes them;
//   - sends no RFC 9207 iss;
//   - matches a confidential web client's redirect URI exactly, port included;
//   - serves only OpenID discovery, no RFC 8414 document, and advertises a
//     device_authorization_endpoint (RFC 8628), which every client here
//     may use: its verification page (/device) takes the user code, then
//     the login (a password field without type="password"), then Allow
//     or Deny buttons that navigate by script;
//   - has a login page but no consent page: nothing to decline or untick.
type Zitadel struct {
	Issuer string
	*Process
}

// StartZitadel starts the provider on 127.0.0.1, stopped when t ends.
func StartZitadel(t testing.TB, opts ZitadelOptions) *Zitadel {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := gobuild.Build(ctx, "zitadelop")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, c := range opts.Clients {
		redirects := strings.Join(c.RedirectURIs, ",")
		if c.Secret == "" {
			args = append(args, "-client", c.ID+"="+redirects)
		} else {
			args = append(args, "-secret-client", c.ID+":"+c.Secret+"="+redirects)
		}
	}
	for _, s := range opts.Scopes {
		args = append(args, "-scope", s)
	}
	p := StartProgram(t, bin, args, nil, 1)
	return &Zitadel{Issuer: fmt.Sprintf("http://127.0.0.1:%d", p.Port), Process: p}
}
