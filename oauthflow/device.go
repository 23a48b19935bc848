package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoDeviceFlow is wrapped by the error of a device sign-in at an
// authorization server that offers none (no device_authorization_endpoint).
var ErrNoDeviceFlow = errors.New("no device authorization")

// deviceSignIn is a device authorization waiting for the user (RFC 8628).
type deviceSignIn struct {
	id       string
	code     string // the device code: a secret, kept in memory only
	interval time.Duration
	expires  time.Time
	endpoint string // the token endpoint
	g        grant
}

// devicePollFailures bounds the polls in a row that fail for want of the
// network before the sign-in is given up.
const devicePollFailures = 5

// AuthorizeDevice starts a sign-in with the device authorization grant
// (RFC 8628), for a user whose browser cannot reach mcptray's redirect URI
// (over SSH, in a container, on another machine): the user opens the
// returned SignIn's VerificationURI anywhere and types its UserCode (or
// opens its URL, which holds the code where the server offers that).
// mcptray polls the authorization server in the background; the server's
// summary tells when the sign-in ends. A device sign-in already waiting is
// shared. It needs a device_authorization_endpoint in the server's
// metadata (ErrNoDeviceFlow otherwise).
func (m *Manager) AuthorizeDevice(ctx context.Context, name string) (*SignIn, error) {
	s, err := m.existing(name)
	if err != nil {
		return nil, err
	}
	s.userAsked()
	if _, err := s.load(ctx); err != nil {
		return nil, err
	}
	for {
		s.mu.Lock()
		if dv := s.device; dv != nil && s.m.now().Before(dv.expires) && s.signIn != nil && s.signIn.ID == dv.id {
			si := *s.signIn
			s.mu.Unlock()
			return &si, nil
		}
		if st := s.starting; st != nil {
			s.mu.Unlock()
			select {
			case <-st.done:
				if st.err != nil {
					return nil, st.err
				}
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		st := &starting{done: make(chan struct{})}
		s.starting = st
		s.mu.Unlock()
		si, err := s.startDevice(ctx)
		st.err = err
		s.mu.Lock()
		s.starting = nil
		s.mu.Unlock()
		close(st.done)
		return si, err
	}
}

// startDevice asks the authorization server for a device code and starts
// polling for the tokens.
func (s *server) startDevice(ctx context.Context) (*SignIn, error) {
	d, err := s.discovery(ctx, nil)
	if err != nil {
		return nil, err
	}
	if d.as.DeviceAuthorizationEndpoint == "" {
		return nil, fmt.Errorf("%w: %s does not offer the device flow (its metadata has no device_authorization_endpoint); use mcptray authorize --paste instead", ErrNoDeviceFlow, d.issuer)
	}
	s.mu.Lock()
	cfg := s.cfg
	id := s.beginSignInLocked(FlowDevice, true, nil, "", time.Time{}).ID
	s.mu.Unlock()
	fail := func(err error) (*SignIn, error) {
		s.signInFailed(id, err.Error(), nil)
		return nil, err
	}
	scopes, needed := s.scopesFor(d, nil)
	c, fresh, err := s.clientFor(ctx, d, scopes, true)
	if err != nil {
		return fail(err)
	}
	resource := resourceParam(cfg, d)
	dr, err := s.deviceAuthorization(ctx, d.as.DeviceAuthorizationEndpoint, c, scopes, resource)
	if err != nil {
		return fail(fmt.Errorf("the device authorization failed: %w", err))
	}
	now := s.m.now()
	interval := time.Duration(dr.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second // RFC 8628 §3.2
	}
	life := time.Duration(dr.ExpiresIn) * time.Second
	if life <= 0 || life > pendingTTL {
		life = pendingTTL
	}
	u := dr.VerificationURIComplete
	if u == "" {
		u = dr.VerificationURI
	}
	dv := &deviceSignIn{
		id: id, code: dr.DeviceCode, interval: interval, expires: now.Add(life), endpoint: d.as.TokenEndpoint,
		g: grant{issuer: d.issuer, resource: resource, client: c, adopt: fresh, asked: scopes, needed: needed},
	}
	s.mu.Lock()
	s.device = dv
	var si SignIn
	if s.signIn != nil && s.signIn.ID == id {
		cp := *s.signIn
		cp.URL, cp.UserCode, cp.VerificationURI, cp.Expires, cp.Scopes = u, dr.UserCode, dr.VerificationURI, dv.expires, scopes
		s.signIn = &cp
		si = cp
	}
	s.signedOut = false
	s.mu.Unlock()
	s.event("info", "device sign-in: open "+dr.VerificationURI+" and enter the code "+dr.UserCode)
	s.m.changes.Notify()
	s.m.background(func(ctx context.Context) { s.pollDevice(ctx, dv) })
	return &si, nil
}

// pollDevice asks for the device sign-in's tokens every interval until the
// user finishes, declines, or the code expires (RFC 8628 §3.4, §3.5).
func (s *server) pollDevice(ctx context.Context, dv *deviceSignIn) {
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(dv.interval):
		}
		s.mu.Lock()
		current := s.device == dv
		s.mu.Unlock()
		if !current {
			return // signed out, or another device sign-in took its place
		}
		end := func(reason string) {
			s.mu.Lock()
			if s.device == dv {
				s.device = nil
			}
			s.mu.Unlock()
			if reason != "" {
				s.signInFailed(dv.id, reason, nil)
			}
		}
		if !s.m.now().Before(dv.expires) {
			end("the device code expired before the sign-in was finished")
			return
		}
		tr, err := s.deviceToken(ctx, dv.endpoint, dv.g.client, dv.code, dv.g.resource)
		var te *TokenError
		switch {
		case err == nil:
			end("")
			_, _ = s.signedIn(ctx, dv.id, tr, dv.g)
			return
		case errors.As(err, &te) && te.Code == "authorization_pending":
			failures = 0
		case errors.As(err, &te) && te.Code == "slow_down":
			dv.interval += 5 * time.Second
		case errors.As(err, &te) && te.Code == "expired_token":
			end("the device code expired before the sign-in was finished")
			return
		case errors.As(err, &te) && te.Code == "access_denied":
			msg := te.Code
			if te.Description != "" {
				msg += ": " + te.Description
			}
			end("the authorization server refused the sign-in: " + msg)
			return
		case errors.As(err, &te):
			d, derr := s.discovery(ctx, nil)
			if derr != nil {
				end("the device sign-in failed: " + err.Error())
				return
			}
			end(s.tokenFailure(ctx, d, dv.g.client, "the device sign-in failed", err))
			return
		case ctx.Err() != nil:
			return
		default:
			failures++
			if failures >= devicePollFailures {
				end("the device sign-in failed: " + err.Error())
				return
			}
		}
	}
}
