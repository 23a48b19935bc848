package oauthflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mcptray/mcptray/internal/broadcast"
	"github.com/mcptray/mcptray/internal/ring"
)

// bundle is everything secret about one server: one keychain item, so that
// a token refresh is one write.
type bundle struct {
	Version int `json:"v"`
	// Clients are registered clients, by issuer: a client belongs to the
	// authorization server that registered it (2026-07-28: credentials are
	// keyed by issuer).
	Clients map[string]*client `json:"clients,omitempty"`
	Token   *tokenSet          `json:"token,omitempty"`
	Pending *pending           `json:"pending,omitempty"`
	// ClientSecret is a configured client secret moved out of the settings
	// file, where MCPHub kept it in plain text.
	ClientSecret string `json:"clientSecret,omitempty"`
}

// client is how mcptray is known to an authorization server.
type client struct {
	ClientID     string    `json:"clientId"`
	ClientSecret string    `json:"clientSecret,omitempty"`
	AuthMethod   string    `json:"authMethod,omitempty"` // token_endpoint_auth_method
	RedirectURI  string    `json:"redirectUri,omitempty"`
	Method       string    `json:"method"` // static, cimd or dynamic
	RegisteredAt time.Time `json:"registeredAt,omitzero"`
	SecretExpiry time.Time `json:"secretExpiresAt,omitzero"`
}

// tokenSet is the tokens of an authorization.
type tokenSet struct {
	Issuer       string    `json:"issuer,omitempty"` // "" for one imported from MCPHub
	Resource     string    `json:"resource,omitempty"`
	ClientID     string    `json:"clientId,omitempty"`
	AccessToken  string    `json:"accessToken"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	TokenType    string    `json:"tokenType,omitempty"`
	Scopes       []string  `json:"scopes,omitempty"`
	IssuedAt     time.Time `json:"issuedAt,omitzero"`
	Expiry       time.Time `json:"expiry,omitzero"`
	AuthorizedAt time.Time `json:"authorizedAt,omitzero"`
}

// pending is an authorization waiting for the browser to come back.
type pending struct {
	State       string    `json:"state"`
	Verifier    string    `json:"verifier"`
	Issuer      string    `json:"issuer"`
	IssRequired bool      `json:"issRequired,omitempty"`
	ClientID    string    `json:"clientId"`
	RedirectURI string    `json:"redirectUri"`
	Resource    string    `json:"resource,omitempty"`
	Scopes      []string  `json:"scopes,omitempty"`
	URL         string    `json:"url"`
	Created     time.Time `json:"created"`
}

// pendingTTL is how long a sign-in may take.
const pendingTTL = 10 * time.Minute

// server is one server's authorization.
type server struct {
	name string
	m    *Manager

	// mu guards everything below. It is never held across I/O.
	mu         sync.Mutex
	cfg        Config
	hasCfg     bool
	disc       *discovery
	b          *bundle // nil until loaded from the store, never nil after
	st         string  // StateNone, StateAuthorized, StateNeedsAuthorization
	reason     string
	challenge  *Challenge    // the last one the server sent
	refreshing chan struct{} // non-nil while a refresh runs
	signedOut  bool          // the user signed out: no automatic browser
	// everAuthorized: this server had a token in this process, or in the
	// store; with Config.AuthorizedBefore it tells a first connection from
	// credentials that stopped working.
	everAuthorized bool

	trace ring.Ring[Step] // its last maxSteps steps, for its details

	authorized broadcast.Signal // an authorization completed

	// saveMu orders the bundle's saves as its changes: without it, two
	// updates at once could reach the store in the other order and leave
	// it with a spent refresh token. It is held across the store's I/O,
	// and guards nothing else.
	saveMu sync.Mutex
}

// load reads the server's bundle from the store once.
func (s *server) load(ctx context.Context) (*bundle, error) {
	s.mu.Lock()
	b := s.b
	s.mu.Unlock()
	if b != nil {
		return b, nil
	}
	raw, ok, err := s.m.store.Get(ctx, s.name)
	if err != nil {
		return nil, fmt.Errorf("read the secrets of %s: %w", s.name, err)
	}
	b = &bundle{Version: 1}
	if ok {
		if err := json.Unmarshal(raw, b); err != nil {
			// Never show the contents: they are secrets.
			s.event("error", "the stored secrets of this server are unreadable; starting over")
			b = &bundle{Version: 1}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		s.b = b
		if b.Token != nil {
			s.everAuthorized = true
			if s.st == StateNone {
				s.st = StateAuthorized
			}
		}
	}
	return s.b, nil
}

// update changes the bundle under the lock, then saves it. The change is
// in memory even if the save fails (the store keeps it too).
func (s *server) update(ctx context.Context, f func(b *bundle)) error {
	if _, err := s.load(ctx); err != nil {
		return err
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	next := *s.b
	next.Clients = cloneClients(s.b.Clients)
	f(&next)
	s.b = &next
	raw, err := json.Marshal(&next)
	empty := next.Token == nil && next.Pending == nil && len(next.Clients) == 0 && next.ClientSecret == ""
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if empty {
		return s.m.store.Delete(ctx, s.name)
	}
	if err := s.m.store.Set(ctx, s.name, raw); err != nil {
		// The store logs and shows its own failure (keychain.Status); the
		// server's trace says what it means here, without a second log
		// line.
		s.note("error", "its secrets could not be saved; they are kept in memory until mcptray quits: "+err.Error())
		return err
	}
	return nil
}

func cloneClients(c map[string]*client) map[string]*client {
	out := make(map[string]*client, len(c))
	for k, v := range c {
		cp := *v
		out[k] = &cp
	}
	return out
}

// note records one step in the server's trace only: for what another layer
// has logged already.
func (s *server) note(level, msg string) {
	s.trace.Add(Step{Time: s.m.now(), Level: level, Message: msg})
	s.m.changes.Notify()
}

// event reports one step to the log and the server's trace.
func (s *server) event(level, msg string) {
	switch level {
	case "error":
		s.m.log.Error("oauth: "+msg, "server", s.name)
	case "warn":
		s.m.log.Warn("oauth: "+msg, "server", s.name)
	default:
		s.m.log.Info("oauth: "+msg, "server", s.name)
	}
	s.note(level, msg)
}

func (s *server) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// setState changes the state and tells the listener when it changed.
func (s *server) setState(st, reason string) {
	s.mu.Lock()
	changed := s.st != st || s.reason != reason
	s.st, s.reason = st, reason
	s.mu.Unlock()
	if changed {
		s.m.changes.Notify()
	}
}

// needAuthorization records that the user must sign in, and queues an
// automatic sign-in when this server never had one (a first connection):
// credentials that used to work and stopped get no surprise browser tab,
// only the state and the tray's notification.
func (s *server) needAuthorization(reason string) {
	s.mu.Lock()
	first := !s.cfg.AuthorizedBefore && !s.everAuthorized && !s.signedOut && (s.b == nil || s.b.Token == nil && s.b.Pending == nil)
	already := s.st == StateNeedsAuthorization
	s.mu.Unlock()
	if !already {
		s.setState(StateNeedsAuthorization, reason)
		s.event("warn", "needs authorization: "+reason)
	} // else the first reason stays: it says why, the 401s that follow do not
	if first {
		s.m.queueAutomatic(s.name)
	}
}

// pendingOpen reports whether a sign-in waits for the browser.
func (s *server) pendingOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b != nil && s.b.Pending != nil && s.m.now().Sub(s.b.Pending.Created) < pendingTTL
}

func (s *server) summary() *Summary {
	s.mu.Lock()
	if !s.hasCfg || (!s.cfg.Configured && s.st == StateNone && (s.b == nil || s.b.Token == nil)) {
		s.mu.Unlock()
		return nil
	}
	f := s.factsLocked()
	sum := &Summary{
		State: s.st, Reason: s.reason, AuthorizedBefore: s.cfg.AuthorizedBefore || s.everAuthorized,
		Issuer: f.issuer, ClientID: f.clientID, Registration: f.registration,
		Scopes: f.scopes, ExpiresAt: f.expiresAt, AuthorizedAt: f.authorizedAt,
	}
	if s.disc != nil {
		a := s.disc.as
		sum.Endpoints = &Endpoints{Authorization: a.AuthorizationEndpoint, Token: a.TokenEndpoint, Revocation: a.RevocationEndpoint}
	}
	if sum.State == StateNone {
		sum.State = "unknown"
	}
	if s.b != nil {
		if p := s.b.Pending; p != nil && s.m.now().Sub(p.Created) < pendingTTL {
			sum.AuthorizationURL = p.URL
		}
	}
	s.mu.Unlock()
	sum.TokenStore = s.tokenStore()
	return sum
}

// mirror tells the hub that the summary changed, for the settings file.
func (s *server) mirror() { s.m.changes.Notify() }

// facts is what the summary (and so the mirror) tells of an authorization.
type facts struct {
	issuer, clientID, registration string
	scopes                         []string
	expiresAt, authorizedAt        time.Time
}

// factsLocked reads them; s.mu must be held.
func (s *server) factsLocked() facts {
	var f facts
	if s.disc != nil {
		f.issuer = s.disc.issuer
	}
	if s.b != nil {
		if t := s.b.Token; t != nil {
			f.scopes, f.expiresAt, f.authorizedAt = slices.Clone(t.Scopes), t.Expiry, t.AuthorizedAt
			if t.Issuer != "" {
				f.issuer = t.Issuer
			}
		}
		if c := s.b.Clients[f.issuer]; c != nil {
			f.registration = c.Method
			if c.Method != "static" {
				f.clientID = c.ClientID // a configured id is configuration, not news
			}
		}
	}
	if f.registration == "" && s.cfg.ClientID != "" {
		f.registration = "static"
	}
	return f
}

// tokenStore asks the store where this server's secrets are, when it can
// say.
func (s *server) tokenStore() string {
	if w, ok := s.m.store.(interface{ Where(string) string }); ok {
		return w.Where(s.name)
	}
	return ""
}

// maxSteps is how many steps of its authorization a server keeps. They
// outlive the server's connections, so that its details show how the first
// sign-in went.
const maxSteps = 100
