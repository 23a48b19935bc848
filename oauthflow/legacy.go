package oauthflow

import (
	"context"
	"time"

	"github.com/mcptray/mcptray/settings"
)

// importLegacy moves secrets MCPHub wrote in plain text into the server's
// bundle. Tokens whose issuer and expiry are unknown are used until the
// server refuses them.
func (s *server) importLegacy(ctx context.Context, l settings.PlainSecrets) error {
	return s.update(ctx, func(b *bundle) {
		if l.ClientSecret != "" {
			b.ClientSecret = l.ClientSecret
		}
		if l.AccessToken != "" && b.Token == nil {
			b.Token = &tokenSet{AccessToken: l.AccessToken, RefreshToken: l.RefreshToken, TokenType: "Bearer"}
		}
		if p := l.PendingAuthorization; p != nil && p.CodeVerifier != "" && b.Pending == nil {
			// MCPHub's states are not bound to a server name, so the
			// browser can no longer return to it; the verifier is kept
			// only as the secret it is, for the user to discard by signing
			// in again.
			b.Pending = &pending{State: p.State + "~" + s.name, Verifier: p.CodeVerifier, URL: p.AuthorizationURL, Created: time.UnixMilli(p.CreatedAt)}
		}
	})
}
