package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// refreshAt is the share of a token's lifetime after which it is renewed.
const refreshAt = 0.8

// refreshDue reports whether the token reached refreshAt of its lifetime and
// can be refreshed.
func (s *server) refreshDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b != nil && s.b.Token != nil && s.b.Token.RefreshToken != "" && s.dueLocked(s.b.Token)
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
// its lifetime is gone, or "" when there is none. Only one refresh runs at a
// time: concurrent callers wait for it (refresh tokens rotate, and reusing
// one revokes the whole family at some servers).
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
		if !s.dueLocked(t) || t.RefreshToken == "" {
			at := t.AccessToken
			expired := !t.Expiry.IsZero() && !s.m.now().Before(t.Expiry)
			s.mu.Unlock()
			if expired {
				return "", nil // no refresh token: the server will ask for a new authorization
			}
			return at, nil
		}
		if ch := s.refreshing; ch != nil {
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		ch := make(chan struct{})
		s.refreshing = ch
		s.mu.Unlock()
		err := s.refresh(ctx)
		s.mu.Lock()
		s.refreshing = nil
		close(ch)
		still := s.b.Token
		s.mu.Unlock()
		if err != nil {
			var te *TokenError
			if errors.As(err, &te) || still == nil {
				// The token is gone: the request would only get a 401.
				s.mu.Lock()
				reason := s.reason
				s.mu.Unlock()
				return "", &AuthorizationError{Server: s.name, Reason: reason}
			}
			if !still.Expiry.IsZero() && s.m.now().Before(still.Expiry) {
				return still.AccessToken, nil // not expired yet: use it, try again later
			}
			return "", err
		}
	}
}

// renewAfterRejection gets a new token after the server refused rejected
// (with a 401): one another caller got meanwhile, or a refresh.
func (s *server) renewAfterRejection(ctx context.Context, rejected string) string {
	s.mu.Lock()
	t := s.b.Token
	if t != nil && t.AccessToken != rejected {
		at := t.AccessToken
		s.mu.Unlock()
		return at
	}
	if t == nil || t.RefreshToken == "" {
		s.mu.Unlock()
		return ""
	}
	// Make the token due, so that token() refreshes it, once.
	forced := *t
	forced.Expiry = s.m.now()
	forced.IssuedAt = time.Time{}
	s.b.Token = &forced
	s.mu.Unlock()
	at, err := s.token(ctx)
	if err != nil || at == rejected {
		return ""
	}
	return at
}

// refresh runs the refresh grant, with the resource indicator that
// golang.org/x/oauth2 does not send on refresh (RFC 8707 §2.2), and saves
// the result (a rotated refresh token first of all) before it is used.
// Network errors are retried with backoff and keep the tokens; invalid_grant
// drops them.
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
	c, err := s.clientFor(ctx, d)
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
	case errors.As(err, &te) && te.Code == "invalid_client":
		s.dropClient(ctx, d.issuer)
		s.needAuthorization("the authorization server no longer knows mcptray's client (invalid_client)")
		return err
	case errors.As(err, &te):
		// invalid_grant, or any refusal: the refresh token is done.
		_ = s.update(ctx, func(b *bundle) { b.Token = nil })
		s.needAuthorization(fmt.Sprintf("the authorization server refused to renew the token (%s); sign in again", te.Code))
		return err
	case err != nil:
		s.event("error", "refresh failed: "+err.Error())
		return err
	}
	next := tr.tokenSet(s.m.now(), old)
	_ = s.update(ctx, func(b *bundle) { b.Token = next }) // kept in memory if the save fails; update notes it
	rotated := ""
	if tr.RefreshToken != "" && tr.RefreshToken != old.RefreshToken {
		rotated = ", refresh token rotated"
	}
	s.event("info", fmt.Sprintf("renewed the access token (valid for %v%s)", next.Expiry.Sub(next.IssuedAt).Round(time.Second), rotated))
	s.setState(StateAuthorized, "")
	s.mirror()
	return nil
}

// renewDue refreshes the tokens that reached 80% of their lifetime.
func (m *Manager) renewDue(ctx context.Context) {
	for _, s := range m.all() {
		if s.refreshDue() {
			if _, err := s.token(ctx); err != nil {
				s.event("warn", "background refresh failed: "+err.Error())
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
	if tr.Scope != "" {
		t.Scopes = strings.Fields(tr.Scope)
	}
	return &t
}
