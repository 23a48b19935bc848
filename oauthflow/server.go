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
	// StaticIssuer is the authorization server a configured client id
	// last signed in at: pre-registered credentials belong to one
	// authorization server (2026-07-28, "Authorization Server Binding").
	StaticIssuer string `json:"staticIssuer,omitempty"`
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
	// Scopes are the scopes registered (RFC 7591 scope): a server that
	// lets a client ask only for those (Ory Hydra) needs a new or updated
	// registration before a sign-in asks for more. Nil: unknown.
	Scopes []string `json:"scopes,omitempty"`
	// GrantTypes are the grant types registered.
	GrantTypes []string `json:"grantTypes,omitempty"`
	// RegistrationURI and RegistrationToken are RFC 7592's
	// registration_client_uri and registration_access_token: where the
	// registration can be read and updated. The token is a secret.
	RegistrationURI   string `json:"registrationUri,omitempty"`
	RegistrationToken string `json:"registrationToken,omitempty"`
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
	// Needed are the scopes the server said it needs (configured, or
	// challenged), which the grant is checked against.
	Needed []string `json:"needed,omitempty"`
	// Client is a registration made for this sign-in while another one
	// still serves the tokens held (a registration with more scopes): it
	// replaces that one only when the sign-in completes.
	Client *client `json:"client,omitempty"`
	// Opened is when a browser tab was last opened on URL.
	Opened time.Time `json:"opened,omitzero"`
	SignIn string    `json:"signIn,omitempty"` // the SignIn's ID
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
	st         string  // StateNone, StateAuthorized, StateNeedsAuthorization, StateFailed
	reason     string
	challenge  *Challenge    // the last one the server sent
	refreshing chan struct{} // non-nil while a refresh runs; closed when it ends
	refreshErr error         // how the last refresh ended
	starting   *starting     // a sign-in being set up, which callers share
	signedOut  bool          // the user signed out: no automatic browser
	// everAuthorized: this server had a token in this process, or in the
	// store; with Config.AuthorizedBefore it tells a first connection from
	// credentials that stopped working.
	everAuthorized bool
	// signIn is the sign-in waiting, or the last that ended, as the
	// summary shows it.
	signIn *SignIn
	// lastState is the state of the last completed sign-in, so that its
	// callback, loaded again, says it is done.
	lastState string
	// autoBlocked says why mcptray opens no browser by itself (a first
	// connection, a step-up) until the user asks for a sign-in: the last
	// one mcptray started failed, or got fewer scopes than needed.
	autoBlocked string
	// autoStepUps counts the step-ups mcptray started since the user last
	// asked for a sign-in, across requests and reconnections.
	autoStepUps int
	// challenged are the scopes of the server's last 401 challenge, and
	// wanted those every 403 insufficient_scope asked for: what the next
	// sign-in asks for, and checks the grant against.
	challenged, wanted []string
	// refreshRefused, when set, says why refreshing is pointless until the
	// configuration changes (the configured client's credentials were
	// refused); the access token is used until it expires.
	refreshRefused string
	// device is a device authorization waiting for the user, if any.
	device *deviceSignIn

	trace ring.Ring[Step] // its last maxSteps steps, for its details

	// ended is notified when a sign-in completes or fails.
	ended broadcast.Signal

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
	empty := next.Token == nil && next.Pending == nil && len(next.Clients) == 0 && next.ClientSecret == "" && next.StaticIssuer == ""
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
// only the state and the tray's notification. A failed sign-in's state
// and reason stay: they say more than the 401s that follow.
func (s *server) needAuthorization(reason string) {
	s.mu.Lock()
	first := !s.cfg.AuthorizedBefore && !s.everAuthorized && !s.signedOut && s.autoBlocked == "" &&
		(s.b == nil || s.b.Token == nil && s.b.Pending == nil)
	keep := s.st == StateNeedsAuthorization || s.st == StateFailed
	s.mu.Unlock()
	if !keep {
		s.setState(StateNeedsAuthorization, reason)
		s.event("warn", "needs authorization: "+reason)
	} // else the first reason stays: it says why, the 401s that follow do not
	if first {
		s.m.queueAutomatic(s.name)
	}
}

// pendingOpen reports whether a sign-in waits for the user.
func (s *server) pendingOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b != nil && s.b.Pending != nil && s.m.now().Sub(s.b.Pending.Created) < pendingTTL || s.device != nil
}

// hasWorkingTokenLocked reports whether the server holds a token it
// accepted: a sign-in that fails then leaves it working. s.mu must be held.
func (s *server) hasWorkingTokenLocked() bool {
	return s.b != nil && s.b.Token != nil && s.st == StateAuthorized
}

// beginSignInLocked records a new sign-in for the summary; s.mu must be
// held.
func (s *server) beginSignInLocked(flow string, byUser bool, scopes []string, url string, expires time.Time) *SignIn {
	si := &SignIn{
		ID: randomString()[:12], Status: SignInWaiting, Flow: flow, ByUser: byUser,
		Started: s.m.now(), Expires: expires, URL: url, Scopes: slices.Clone(scopes),
	}
	s.signIn = si
	return si
}

// signInFailed ends the sign-in id ("" for one that failed before it
// began: discovery, registration) with reason. With a working token the
// server keeps working, and only the sign-in says it failed; without one
// the server's state says it. Sign-ins mcptray starts by itself stop
// opening the browser until the user asks.
func (s *server) signInFailed(id, reason string, missing []string) {
	now := s.m.now()
	s.mu.Lock()
	si := s.signIn
	if si == nil || si.ID != id || id == "" {
		// It failed before it began (discovery, registration): a sign-in
		// of its own, so that a caller waiting for the next one sees it.
		si = &SignIn{ID: randomString()[:12], Flow: FlowBrowser, Started: now}
	} else {
		cp := *si
		si = &cp
	}
	si.Status, si.Error, si.Ended, si.Missing = SignInFailed, reason, now, slices.Clone(missing)
	working := s.hasWorkingTokenLocked()
	// The sign-in and the state change together: whoever sees the one
	// sees the other.
	s.signIn = si
	if !working {
		s.st, s.reason = StateFailed, reason
		if len(missing) > 0 {
			s.st = StateNeedsAuthorization
		}
	}
	s.autoBlocked = reason
	s.mu.Unlock()
	if working {
		s.event("error", "sign-in failed (the server keeps working with the token it has): "+reason)
	} else {
		s.event("error", "sign-in failed: "+reason)
	}
	s.ended.Notify()
	s.m.changes.Notify()
	s.m.nudge() // the next automatic sign-in of another server, if any
}

// signInCompletedLocked ends the sign-in id with every scope needed; s.mu
// must be held.
func (s *server) signInCompletedLocked(id string) {
	if si := s.signIn; si != nil && si.ID == id {
		cp := *si
		cp.Status, cp.Ended, cp.Error, cp.Missing = SignInCompleted, s.m.now(), "", nil
		s.signIn = &cp
	} else {
		s.signIn = &SignIn{ID: id, Status: SignInCompleted, Flow: FlowBrowser, Started: s.m.now(), Ended: s.m.now()}
	}
	s.autoBlocked = ""
}

func (s *server) summary() *Summary {
	s.mu.Lock()
	if !s.hasCfg || (!s.cfg.Configured && s.st == StateNone && (s.b == nil || s.b.Token == nil) && s.signIn == nil) {
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
		sum.Endpoints = &Endpoints{Authorization: a.AuthorizationEndpoint, Token: a.TokenEndpoint, Revocation: a.RevocationEndpoint, Device: a.DeviceAuthorizationEndpoint}
		if s.disc.preset != nil {
			sum.Preset = s.disc.preset.Name
		}
	}
	if sum.State == StateNone {
		sum.State = "unknown"
	}
	if s.b != nil {
		if p := s.b.Pending; p != nil && s.m.now().Sub(p.Created) < pendingTTL {
			sum.AuthorizationURL = p.URL
		}
	}
	if si := s.signIn; si != nil {
		cp := *si
		if cp.Status == SignInWaiting && !cp.Expires.IsZero() && s.m.now().After(cp.Expires) {
			cp.Status = SignInExpired
		}
		sum.SignIn = &cp
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
