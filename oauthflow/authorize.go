package oauthflow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// Authorize starts a sign-in for a server and returns the URL the user must
// visit. With interactive, the browser opens on it; otherwise the caller
// shows it. A sign-in already waiting is reused rather than started again,
// so the user never gets two tabs for one server.
func (m *Manager) Authorize(ctx context.Context, name string, interactive bool) (string, error) {
	s, err := m.existing(name)
	if err != nil {
		return "", err
	}
	return s.authorize(ctx, interactive, nil)
}

// authorize starts a sign-in, asking for extra scopes on top of the usual
// ones (step-up).
func (s *server) authorize(ctx context.Context, interactive bool, extra []string) (string, error) {
	b, err := s.load(ctx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if p := b.Pending; p != nil && extra == nil && s.m.now().Sub(p.Created) < pendingTTL {
		u := p.URL
		s.mu.Unlock()
		if interactive {
			s.openBrowser(ctx, u)
		}
		return u, nil
	}
	cfg := s.cfg
	ch := s.challenge
	var granted []string
	if b.Token != nil {
		granted = b.Token.Scopes
	}
	s.mu.Unlock()

	d, err := s.discovery(ctx, ch)
	if err != nil {
		return "", err
	}
	// PKCE S256 is required (RFC 7636, MCP authorization spec). A server
	// that lists its methods without S256 cannot be used; one that lists
	// none (Microsoft Entra, Amazon Cognito) gets S256 anyway.
	if ms := d.as.CodeChallengeMethodsSupported; len(ms) > 0 && !slices.Contains(ms, "S256") {
		return "", fmt.Errorf("%s does not support PKCE with S256 (it offers %v), which MCP requires", d.issuer, ms)
	} else if len(ms) == 0 {
		s.event("warn", d.issuer+" does not say whether it supports PKCE; using S256")
	}
	c, err := s.clientFor(ctx, d)
	if err != nil {
		s.event("error", err.Error())
		return "", err
	}

	// Scopes: configured, else the challenge's, else the resource's
	// scopes_supported, else none; on step-up, what was granted and what
	// the challenge asks for.
	scopes := slices.Clone(cfg.Scopes)
	if len(scopes) == 0 && ch != nil {
		scopes = slices.Clone(ch.Scopes)
	}
	if len(scopes) == 0 {
		scopes = slices.Clone(d.resourceScopes)
	}
	if extra != nil {
		scopes = unionScopes(unionScopes(granted, scopes), extra)
	}
	if slices.Contains(d.as.ScopesSupported, "offline_access") && !slices.Contains(scopes, "offline_access") {
		scopes = append(scopes, "offline_access")
	}

	p := &pending{
		State:       randomString() + "~" + s.name,
		Verifier:    oauth2.GenerateVerifier(),
		Issuer:      d.issuer,
		IssRequired: d.as.IssParameterSupported,
		ClientID:    c.ClientID,
		RedirectURI: cfg.RedirectURI,
		Resource:    resourceParam(cfg, d),
		Scopes:      scopes,
		Created:     s.m.now(),
	}
	conf := oauth2.Config{
		ClientID:    c.ClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: d.as.AuthorizationEndpoint, TokenURL: d.as.TokenEndpoint},
		RedirectURL: p.RedirectURI,
		Scopes:      scopes,
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.Verifier)}
	if p.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", p.Resource))
	}
	p.URL = conf.AuthCodeURL(p.State, opts...)
	// The verifier is kept with the other secrets, so that a sign-in still
	// completes when mcptray restarts in between. A failed save is noted by
	// update: the sign-in then completes only while mcptray keeps running.
	_ = s.update(ctx, func(b *bundle) { b.Pending = p })
	s.mu.Lock()
	s.signedOut = false
	s.mu.Unlock()
	s.event("info", "authorization URL: "+p.URL)
	if interactive {
		s.openBrowser(ctx, p.URL)
	}
	s.m.changes.Notify() // the summary now has the URL
	return p.URL, nil
}

// openBrowser shows the user a URL, or logs it where there is no browser.
func (s *server) openBrowser(ctx context.Context, u string) {
	if s.m.open == nil {
		s.event("info", "no browser to open; visit the authorization URL to sign in")
		return
	}
	if err := s.m.open(ctx, u); err != nil {
		s.event("warn", "could not open the browser ("+err.Error()+"); visit the authorization URL to sign in")
		return
	}
	s.event("info", "opened the browser for the sign-in")
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// queueAutomatic asks Run to open the browser for a server's first
// authorization, after any other one open now.
func (m *Manager) queueAutomatic(name string) {
	m.mu.Lock()
	if !m.queued[name] && m.active != name {
		m.queued[name] = true
		m.queue = append(m.queue, name)
	}
	m.mu.Unlock()
	m.nudge()
}

func (m *Manager) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// nextAutomatic starts the next queued automatic authorization when none is
// open, so that the user never gets a burst of browser tabs.
func (m *Manager) nextAutomatic(ctx context.Context) {
	m.mu.Lock()
	if m.active != "" {
		if s := m.servers[m.active]; s != nil && s.pendingOpen() {
			m.mu.Unlock()
			return // still waiting for the user
		}
		m.active = ""
	}
	var name string
	for len(m.queue) > 0 && name == "" {
		name, m.queue = m.queue[0], m.queue[1:]
		delete(m.queued, name)
		if s := m.servers[name]; s == nil || s.state() != StateNeedsAuthorization {
			name = ""
		}
	}
	m.active = name
	m.mu.Unlock()
	if name == "" {
		return
	}
	if _, err := m.Authorize(ctx, name, true); err != nil {
		m.server(name).event("error", "automatic authorization: "+err.Error())
		m.mu.Lock()
		m.active = ""
		m.mu.Unlock()
		m.nudge()
	}
}

// stepUp asks the user for more scopes in the browser and waits, as long
// as the request may, for the sign-in to complete.
func (s *server) stepUp(ctx context.Context, ch Challenge) error {
	s.event("warn", "the server needs more scopes ("+strings.Join(ch.Scopes, " ")+"); asking the user")
	wait := s.authorized.C()
	if _, err := s.authorize(ctx, true, ch.Scopes); err != nil {
		return err
	}
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		reason := "it needs more permission (" + strings.Join(ch.Scopes, " ") + "): finish the sign-in in the browser"
		s.setState(StateNeedsAuthorization, reason)
		return &AuthorizationError{Server: s.name, Reason: reason}
	}
}

// resourceParam is the RFC 8707 resource to ask for: the configured one
// (empty: none), else the resource metadata's, else the server's canonical
// URL.
func resourceParam(cfg Config, d *discovery) string {
	if cfg.Resource != nil {
		return *cfg.Resource
	}
	return d.resource
}

// unionScopes is a ∪ b in order, for step-up (2026-07-28: the client keeps
// what it was granted and adds what the challenge asks for).
func unionScopes(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
