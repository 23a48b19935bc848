package oauthflow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// origin is who asked for a sign-in.
type origin int

const (
	byUser    origin = iota // Authorize…, the control API, the CLI
	automatic               // a first connection (Run)
	stepUp                  // a 403 insufficient_scope
)

// reopenAfter: a user asking for a sign-in that already waits gets the
// browser again only when its tab opened longer ago than this (it was
// closed, say). Callers at about the same time share one tab.
const reopenAfter = 10 * time.Second

// maxAutoStepUps bounds the step-ups mcptray starts by itself for a server
// until the user asks for a sign-in, across requests and reconnections: a
// server that keeps asking for more gets that many browser tabs, not one
// per request.
const maxAutoStepUps = 2

// Authorize starts a sign-in for a server and returns the URL the user must
// visit. With interactive, the browser opens on it; otherwise the caller
// shows it. A sign-in already waiting is shared rather than started again,
// so the user never gets two tabs for one server. It is the user's own
// request: sign-ins that mcptray held back after a failure may open the
// browser again.
func (m *Manager) Authorize(ctx context.Context, name string, interactive bool) (string, error) {
	a, err := m.authorizeUser(ctx, name, interactive)
	return a.URL, err
}

// authorizeUser is Authorize, answering what the control API tells.
func (m *Manager) authorizeUser(ctx context.Context, name string, interactive bool) (Authorization, error) {
	s, err := m.existing(name)
	if err != nil {
		return Authorization{}, err
	}
	s.userAsked()
	u, id, err := s.authorize(ctx, byUser, interactive, nil, "")
	if err != nil {
		return Authorization{}, err
	}
	return Authorization{URL: u, SignIn: id}, nil
}

// userAsked records that the user asked for a sign-in: what mcptray held
// back after a failure (automatic sign-ins, step-ups) may go ahead again.
func (s *server) userAsked() {
	s.mu.Lock()
	s.autoBlocked, s.autoStepUps, s.signedOut = "", 0, false
	s.mu.Unlock()
}

// errNewToken: a step-up found a token newer than its request's.
var errNewToken = errors.New("a new token came meanwhile")

// starting is a sign-in being set up, which callers that come meanwhile
// wait for and share.
type starting struct {
	done    chan struct{}
	url, id string
	err     error
}

// authorize returns the sign-in waiting for the user, or starts one, asking
// for extra scopes on top of the usual ones (step-up); it returns its URL
// and its SignIn's ID. One sign-in at a time per server: every caller (the
// automatic one, the tray, the API, step-ups) shares it, and the browser
// opens once for it.
//
// sent is the token a step-up's request was refused with: when another
// sign-in got a new one meanwhile, the request tries that (errNewToken).
func (s *server) authorize(ctx context.Context, o origin, interactive bool, extra []string, sent string) (string, string, error) {
	if _, err := s.load(ctx); err != nil {
		return "", "", err
	}
	for {
		s.mu.Lock()
		if p := s.b.Pending; p != nil && s.m.now().Sub(p.Created) < pendingTTL {
			u, id := p.URL, p.SignIn
			open := interactive && (p.Opened.IsZero() || o == byUser && s.m.now().Sub(p.Opened) > reopenAfter)
			if open {
				p.Opened = s.m.now()
			}
			s.mu.Unlock()
			if open {
				s.openBrowser(ctx, u, id)
			}
			return u, id, nil
		}
		if st := s.starting; st != nil {
			s.mu.Unlock()
			select {
			case <-st.done:
				if st.err != nil {
					return "", "", st.err
				}
				continue
			case <-ctx.Done():
				return "", "", ctx.Err()
			}
		}
		if o == stepUp && s.b.Token != nil && s.b.Token.AccessToken != sent {
			s.mu.Unlock()
			return "", "", errNewToken
		}
		if blocked := s.heldBackLocked(o, extra); blocked != "" {
			s.mu.Unlock()
			return "", "", errors.New(blocked)
		}
		st := &starting{done: make(chan struct{})}
		s.starting = st
		s.mu.Unlock()
		st.url, st.id, st.err = s.start(ctx, o, interactive, extra)
		s.mu.Lock()
		s.starting = nil
		s.mu.Unlock()
		close(st.done)
		return st.url, st.id, st.err
	}
}

// start sets up a new sign-in: discovery, the client, the scopes, the
// PKCE verifier, the authorization URL. A failure becomes the sign-in's,
// and the server's state when it holds no working token.
func (s *server) start(ctx context.Context, o origin, interactive bool, extra []string) (string, string, error) {
	s.mu.Lock()
	cfg := s.cfg
	id := s.beginSignInLocked(FlowBrowser, o == byUser, nil, "", time.Time{}).ID
	s.mu.Unlock()
	s.m.changes.Notify()
	fail := func(err error) (string, string, error) {
		s.signInFailed(id, err.Error(), nil)
		return "", "", err
	}

	d, err := s.discovery(ctx, nil)
	if err != nil {
		return fail(err)
	}
	if err := s.checkPKCE(d); err != nil {
		return fail(err)
	}
	scopes, needed := s.scopesFor(d, extra)
	c, fresh, err := s.clientFor(ctx, d, scopes, true)
	if err != nil {
		return fail(err)
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
		Needed:      needed,
		Created:     s.m.now(),
		SignIn:      id,
	}
	if fresh {
		p.Client = c
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
	opts = append(opts, d.preset.authParams(p.Resource)...)
	p.URL = conf.AuthCodeURL(p.State, opts...)
	if interactive {
		p.Opened = s.m.now()
	}
	// The verifier is kept with the other secrets, so that a sign-in still
	// completes when mcptray restarts in between. A failed save is noted by
	// update: the sign-in then completes only while mcptray keeps running.
	_ = s.update(ctx, func(b *bundle) { b.Pending = p })
	s.mu.Lock()
	if si := s.signIn; si != nil && si.ID == id {
		cp := *si
		cp.URL, cp.Scopes, cp.Expires = p.URL, slices.Clone(scopes), p.Created.Add(pendingTTL)
		s.signIn = &cp
	}
	s.mu.Unlock()
	s.event("info", "authorization URL: "+p.URL)
	if interactive {
		s.openBrowser(ctx, p.URL, id)
	}
	s.m.changes.Notify() // the summary now has the URL
	return p.URL, id, nil
}

// checkPKCE: PKCE S256 is required (RFC 7636, MCP authorization spec). A
// server that lists its methods without S256 cannot be used; one that
// lists none (Microsoft Entra, Amazon Cognito) gets S256 anyway.
func (s *server) checkPKCE(d *discovery) error {
	ms := d.as.CodeChallengeMethodsSupported
	switch {
	case len(ms) > 0 && !slices.Contains(ms, "S256"):
		return fmt.Errorf("%s does not support PKCE with S256 (it offers %v), which MCP requires", d.issuer, ms)
	case len(ms) == 0 && !d.preset.pkceUnlisted():
		s.event("warn", d.issuer+" does not say whether it supports PKCE; using S256")
	}
	return nil
}

// scopesFor works out a sign-in's scopes, before the client is
// registered (which asks for them, RFC 7591 scope): the configured ones,
// else the server's 401 challenge's; with every scope a 403
// insufficient_scope asked for and the extra ones of a step-up (needed:
// what the grant is checked against); else the resource's
// scopes_supported, else a preset's; with what is held kept (2026-07-28:
// step-up asks for the union), and offline_access where the server lists
// it, for a refresh token.
func (s *server) scopesFor(d *discovery, extra []string) (scopes, needed []string) {
	s.mu.Lock()
	base := slices.Clone(s.cfg.Scopes)
	if len(base) == 0 {
		base = slices.Clone(s.challenged)
	}
	needed = unionScopes(unionScopes(base, s.wanted), extra)
	var granted []string
	if s.b != nil && s.b.Token != nil && sameIssuer(s.b.Token.Issuer, d.issuer) {
		granted = s.b.Token.Scopes
	}
	s.mu.Unlock()
	scopes = slices.Clone(needed)
	if len(scopes) == 0 {
		scopes = slices.Clone(d.resourceScopes)
	}
	if len(scopes) == 0 {
		scopes = slices.Clone(d.preset.defaultScopes())
	}
	scopes = unionScopes(granted, scopes)
	switch d.preset.offlineAccess() {
	case "never":
		scopes = slices.DeleteFunc(scopes, func(x string) bool { return x == "offline_access" })
	case "add":
		scopes = unionScopes(scopes, []string{"offline_access"})
	default:
		if slices.Contains(d.as.ScopesSupported, "offline_access") {
			scopes = unionScopes(scopes, []string{"offline_access"})
		}
	}
	return scopes, needed
}

// openBrowser shows the user a URL, or logs it where there is no browser.
func (s *server) openBrowser(ctx context.Context, u, id string) {
	if s.m.open == nil {
		s.event("info", "no browser to open; visit the authorization URL to sign in")
		return
	}
	if err := s.m.open(ctx, u); err != nil {
		s.event("warn", "could not open the browser ("+err.Error()+"); visit the authorization URL to sign in")
		return
	}
	s.mu.Lock()
	if si := s.signIn; si != nil && si.ID == id && !si.BrowserOpened {
		cp := *si
		cp.BrowserOpened = true
		s.signIn = &cp
	}
	s.mu.Unlock()
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
	var s *server
	for len(m.queue) > 0 && s == nil {
		var name string
		name, m.queue = m.queue[0], m.queue[1:]
		delete(m.queued, name)
		if c := m.servers[name]; c != nil && c.state() == StateNeedsAuthorization && c.automaticAllowed() {
			s, m.active = c, name
		}
	}
	m.mu.Unlock()
	if s == nil {
		return
	}
	if _, _, err := s.authorize(ctx, automatic, true, nil, ""); err != nil {
		// The sign-in's failure is the server's state and trace already.
		m.mu.Lock()
		m.active = ""
		m.mu.Unlock()
		m.nudge()
	}
}

// automaticAllowed reports whether mcptray may open the browser by itself
// for this server.
func (s *server) automaticAllowed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.autoBlocked == "" && !s.signedOut
}

// heldBackLocked says why mcptray must not start a sign-in by itself now,
// or "": after one it started failed or got too few scopes, until the user
// asks; and after maxAutoStepUps step-ups. Sharing a sign-in that waits is
// never held back. s.mu must be held.
func (s *server) heldBackLocked(o origin, extra []string) string {
	switch {
	case o == byUser:
		return ""
	case s.autoBlocked != "":
		return s.autoBlocked
	case o == stepUp && s.autoStepUps >= maxAutoStepUps:
		return fmt.Sprintf("it asked for more scopes (%s) after %d sign-ins for more; choose Authorize… to sign in again", strings.Join(extra, " "), maxAutoStepUps)
	case o == stepUp:
		s.autoStepUps++
	}
	return ""
}

// stepUp asks the user for more scopes in the browser and waits, as long
// as the request may, for the sign-in to end. Step-ups share the sign-in
// waiting, if any; after one that ended without the scopes (the user
// unticked them, the server does not grant them), or after maxAutoStepUps,
// no browser opens by itself until the user asks.
func (s *server) stepUp(ctx context.Context, ch Challenge, sent string) error {
	need := strings.Join(ch.Scopes, " ")
	wait := s.ended.C()
	_, id, err := s.authorize(ctx, stepUp, true, ch.Scopes, sent)
	if errors.Is(err, errNewToken) {
		return nil
	}
	if err != nil {
		return &AuthorizationError{Server: s.name, Reason: "it needs more permission (" + need + "): " + err.Error()}
	}
	s.event("warn", "the server needs more scopes ("+need+"); waiting for the sign-in")
	for {
		select {
		case <-wait:
		case <-ctx.Done():
			return &AuthorizationError{Server: s.name, Reason: "it needs more permission (" + need + "): finish the sign-in in the browser"}
		}
		wait = s.ended.C()
		s.mu.Lock()
		si := s.signIn
		s.mu.Unlock()
		if si == nil || si.ID != id {
			continue
		}
		switch si.Status {
		case SignInCompleted:
			return nil
		case SignInFailed:
			return &AuthorizationError{Server: s.name, Reason: "it needs more permission (" + need + "): " + si.Error}
		}
	}
}

// resourceParam is the RFC 8707 resource to ask for: the configured one
// (empty: none), else none where the provider refuses it, else the
// resource metadata's, else the server's canonical URL.
func resourceParam(cfg Config, d *discovery) string {
	if cfg.Resource != nil {
		return *cfg.Resource
	}
	if !d.preset.sendsResource() {
		return ""
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

// missingScopes is what of need granted lacks.
func missingScopes(need, granted []string) []string {
	var out []string
	for _, s := range need {
		if !slices.Contains(granted, s) {
			out = append(out, s)
		}
	}
	return out
}
