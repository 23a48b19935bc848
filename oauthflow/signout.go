package oauthflow

import (
	"context"
	"strings"
)

// SignOut revokes a server's tokens at its revocation endpoint (RFC 7009)
// when it has one, and deletes them. The client registration and the
// non-secret metadata stay; no browser opens until the user asks.
func (m *Manager) SignOut(ctx context.Context, name string) error {
	s, err := m.existing(name)
	if err != nil {
		return err
	}
	b, err := s.load(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	t := b.Token
	s.mu.Unlock()
	if t != nil {
		d, err := s.discovery(ctx, nil)
		if err == nil && t.Issuer != "" && !sameIssuer(t.Issuer, d.issuer) {
			// Tokens go only to the authorization server that issued them.
			s.event("info", "the tokens were issued by "+t.Issuer+", which the server no longer uses; deleting them only")
		} else if err == nil && d.as.RevocationEndpoint != "" {
			if c, ok := s.tokenClient(ctx, d, t); ok {
				// Revoking the refresh token ends the whole grant, its
				// access tokens too (RFC 7009 §2.1); JWT access tokens
				// often cannot be revoked on their own.
				tok, hint := t.RefreshToken, "refresh_token"
				if tok == "" {
					tok, hint = t.AccessToken, "access_token"
				}
				what := strings.ReplaceAll(hint, "_", " ")
				if err := s.revoke(ctx, d.as.RevocationEndpoint, c, tok, hint); err != nil {
					s.event("warn", "revoking the "+what+" failed: "+err.Error())
				} else {
					s.event("info", "revoked the "+what)
				}
			}
		} else if err == nil {
			s.event("info", "the authorization server has no revocation endpoint; deleting the tokens only")
		}
	}
	err = s.update(ctx, func(b *bundle) { b.Token, b.Pending = nil, nil })
	s.mu.Lock()
	s.signedOut = true
	s.device = nil
	s.mu.Unlock()
	s.event("info", "signed out")
	s.setState(StateNeedsAuthorization, "signed out")
	s.mirror()
	return err
}
