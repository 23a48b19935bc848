package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// refreshAt is the share of a token's lifetime after which it is renewed.
const refreshAt = 0.8

// refreshTimeout bounds one refresh, retries included. The refresh runs
// under its own context, not its caller's: a caller that stops waiting
// does not stop it, so that a refresh token the server rotated is saved
// (otherwise the next refresh would send the spent one, and servers that
// treat reuse as theft revoke the whole grant).
const refreshTimeout = 90 * time.Second

// refreshDue reports whether the token reached refreshAt of its lifetime and
// can be refreshed.
func (s *server) refreshDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b != nil && s.b.Token != nil && s.b.Token.RefreshToken != "" && s.refreshRefused == "" && s.dueLocked(s.b.Token)
}

func (s *server) dueLocked(t *tokenSet) bool {
	if t.Expiry.IsZero() {
		return false
	}
	now := s.m.now()
	if t.IssuedAt.IsZero() || !t.Expiry.After(t.IssuedAt) {
		return !now.Before(t.Expiry.Add(-30 * time.Second))
	}
	life := t.Expiry.Sub(t.IssuedAt)
	return !now.Before(t.IssuedAt.Add(time.Duration(float64(life) * refreshAt)))
}

// token returns the access token to send now, renewed first when most of
// its lifetime is gone, or "" when there is none. One refresh runs at a
// time, owned by no caller: callers wait for it as long as they may
// (refresh tokens rotate, and reusing one revokes the whole family at some
// servers).
func (s *server) token(ctx context.Context) (string, error) {
	if _, err := s.load(ctx); err != nil {
		return "", err
	}
	for {
		s.mu.Lock()
		t := s.b.Token
		if t == nil {
			s.mu.Unlock()
			return "", nil
		}
		if !s.dueLocked(t) || t.RefreshToken == "" || s.refreshRefused != "" {
			at := t.AccessToken
			expired := !t.Expiry.IsZero() && !s.m.now().Before(t.Expiry)
			refused := s.refreshRefused
			s.mu.Unlock()
			switch {
			case expired && refused != "":
				s.setState(StateFailed, refused)
				return "", &AuthorizationError{Server: s.name, Reason: refused}
			case expired:
				return "", nil // no refresh token: the server will ask for a new authorization
			}
			return at, nil
		}
		ch := s.refreshing
		if ch == nil {
			ch = make(chan struct{})
			s.refreshing = ch
			s.mu.Unlock()
			s.m.background(func(bg context.Context) {
				rctx, cancel := context.WithTimeout(bg, refreshTimeout)
				err := s.refresh(rctx)
				cancel()
				s.mu.Lock()
				s.refreshing, s.refreshErr = nil, err
				s.mu.Unlock()
				close(ch)
			})
		} else {
			s.mu.Unlock()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		s.mu.Lock()
		err, still, refused := s.refreshErr, s.b.Token, s.refreshRefused
		reason := s.reason
		s.mu.Unlock()
		if err == nil || refused != "" {
			continue // renewed, or not renewable: the loop says what to send
		}
		var te *TokenError
		var ae *AuthorizationError
		switch {
		case errors.As(err, &ae):
			return "", ae
		case errors.As(err, &te) || still == nil:
			// The token is gone: the request would only get a 401.
			return "", &AuthorizationError{Server: s.name, Reason: reason}
		case !still.Expiry.IsZero() && s.m.now().Before(still.Expiry):
			return still.AccessToken, nil // not expired yet: use it, try again later
		}
		return "", err
	}
}

// renewAfterRejection gets a new token after the server refused rejected
// (with a 401): one another caller got meanwhile, or a refresh, after
// discovery looked again (the server may have moved to another
// authorization server, whose tokens the old one's refresh would not
// give).
func (s *server) renewAfterRejection(ctx context.Context, rejected string) (string, error) {
	s.mu.Lock()
	t := s.b.Token
	if t != nil && t.AccessToken != rejected {
		at := t.AccessToken
		s.mu.Unlock()
		return at, nil
	}
	if t == nil || t.RefreshToken == "" {
		s.mu.Unlock()
		return "", nil
	}
	// Make the token due, so that token() refreshes it, once.
	forced := *t
	forced.Expiry = s.m.now()
	forced.IssuedAt = time.Time{}
	s.b.Token = &forced
	s.mu.Unlock()
	s.forgetDiscovery()
	at, err := s.token(ctx)
	if err != nil || at == rejected {
		return "", err
	}
	return at, nil
}

// refresh runs the refresh grant, with the resource indicator that
// golang.org/x/oauth2 does not send on refresh (RFC 8707 §2.2), and saves
// the result (a rotated refresh token first of all) before it is used.
// Network errors are retried with backoff and keep the tokens; a refusal
// drops them, except a configured client's, whose credentials are the
// user's to fix. The refresh token goes only to the authorization server
// that issued it.
func (s *server) refresh(ctx context.Context) error {
	s.mu.Lock()
	if s.b.Token == nil {
		s.mu.Unlock()
		return &AuthorizationError{Server: s.name, Reason: "signed out while the token was being renewed"}
	}
	old := *s.b.Token
	cfg := s.cfg
	s.mu.Unlock()
	d, err := s.discovery(ctx, nil)
	if err != nil {
		return err
	}
	if old.Issuer != "" && !sameIssuer(old.Issuer, d.issuer) {
		// 2026-07-28, "Authorization Server Binding": the server moved to
		// another authorization server. Its refresh token belongs to the
		// old one: it is never sent to the new one.
		reason := "the server moved to the authorization server " + d.issuer + "; sign in there"
		_ = s.update(ctx, func(b *bundle) {
			if b.Token != nil && b.Token.RefreshToken == old.RefreshToken {
				b.Token = nil
			}
		})
		s.needAuthorization(reason)
		return &AuthorizationError{Server: s.name, Reason: reason}
	}
	c, err := s.refreshClient(ctx, d, &old)
	if err != nil {
		return err
	}
	var tr *tokenResponse
	for attempt := 0; ; attempt++ {
		tr, err = s.refreshGrant(ctx, d.as.TokenEndpoint, c, old.RefreshToken, resourceParam(cfg, d))
		var te *TokenError
		if err == nil || errors.As(err, &te) || attempt == 2 || ctx.Err() != nil {
			break
		}
		wait := time.Duration(500<<attempt) * time.Millisecond
		s.event("warn", fmt.Sprintf("refresh failed (%v); trying again in %v", err, wait))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	var te *TokenError
	switch {
	case errors.As(err, &te) && c.Method == "static" && (te.Code == "invalid_client" || te.Status == http.StatusUnauthorized):
		reason := s.tokenFailure(ctx, d, c, "the refresh failed", err)
		s.mu.Lock()
		s.refreshRefused = reason
		s.mu.Unlock()
		s.event("error", "cannot renew the token: "+reason+"; the access token is used until it expires")
		return err
	case errors.As(err, &te) && (te.Code == "invalid_client" || te.Status == http.StatusUnauthorized):
		reason := s.tokenFailure(ctx, d, c, "the refresh failed", err)
		_ = s.update(ctx, func(b *bundle) { b.Token = nil })
		s.needAuthorization(reason)
		return err
	case errors.As(err, &te):
		// invalid_grant, or any refusal: the refresh token is done.
		_ = s.update(ctx, func(b *bundle) {
			if b.Token != nil && b.Token.RefreshToken == old.RefreshToken {
				b.Token = nil
			}
		})
		s.needAuthorization(fmt.Sprintf("the authorization server refused to renew the token (%s); sign in again", te.Code))
		return err
	case err != nil:
		s.event("error", "refresh failed: "+err.Error())
		return err
	}
	next := tr.tokenSet(s.m.now(), old)
	saved := false
	_ = s.update(ctx, func(b *bundle) {
		// A sign-out or a new sign-in meanwhile wins over this renewal.
		if b.Token != nil && b.Token.RefreshToken == old.RefreshToken {
			b.Token, saved = next, true
		}
	}) // kept in memory if the save fails; update notes it
	if !saved {
		return nil
	}
	rotated := ""
	if tr.RefreshToken != "" && tr.RefreshToken != old.RefreshToken {
		rotated = ", refresh token rotated"
	}
	s.event("info", fmt.Sprintf("renewed the access token (valid for %v%s)", next.Expiry.Sub(next.IssuedAt).Round(time.Second), rotated))
	s.mirror()
	return nil
}

// refreshClient is the client a token was issued to, without registering
// anything: a refresh only renews what a sign-in got.
func (s *server) refreshClient(ctx context.Context, d *discovery, t *tokenSet) (*client, error) {
	if c, ok := s.tokenClient(ctx, d, t); ok {
		return c, nil
	}
	reason := "mcptray no longer holds the registration its token was issued to; sign in again"
	_ = s.update(ctx, func(b *bundle) { b.Token = nil })
	s.needAuthorization(reason)
	return nil, &AuthorizationError{Server: s.name, Reason: reason}
}

// tokenClient is the client a token was issued to, if mcptray has it.
func (s *server) tokenClient(ctx context.Context, d *discovery, t *tokenSet) (*client, bool) {
	s.mu.Lock()
	static := s.cfg.ClientID != ""
	stored := s.b.Clients[d.issuer]
	s.mu.Unlock()
	if static {
		c, _, err := s.clientFor(ctx, d, nil, false)
		return c, err == nil
	}
	if stored == nil || t.ClientID != "" && stored.ClientID != t.ClientID {
		return nil, false
	}
	return stored, true
}

// renewDue refreshes the tokens that reached 80% of their lifetime.
func (m *Manager) renewDue(ctx context.Context) {
	for _, s := range m.all() {
		if s.refreshDue() {
			if _, err := s.token(ctx); err != nil {
				s.note("warn", "background refresh failed: "+err.Error())
			}
		}
	}
}

// tokenSet makes the stored tokens from an answer; what it omits (a
// refresh token that did not rotate, the scopes) comes from prev.
func (tr *tokenResponse) tokenSet(now time.Time, prev tokenSet) *tokenSet {
	t := prev
	t.AccessToken, t.TokenType, t.IssuedAt = tr.AccessToken, tr.TokenType, now
	if tr.RefreshToken != "" {
		t.RefreshToken = tr.RefreshToken
	}
	t.Expiry = time.Time{}
	if tr.ExpiresIn > 0 {
		t.Expiry = now.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	if tr.Scope != nil {
		t.Scopes = strings.Fields(*tr.Scope)
	}
	return &t
}
