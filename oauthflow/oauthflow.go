// Package oauthflow signs mcptray in to OAuth-protected MCP servers, as the
// MCP authorization spec (revision 2025-11-25, with what 2026-07-28 adds)
// describes: discovery from WWW-Authenticate and RFC 9728 / RFC 8414 / OpenID
// Connect metadata, pre-registered clients, Client ID Metadata Documents,
// RFC 7591 registration, the authorization code flow with PKCE (RFC 7636),
// resource indicators (RFC 8707), RFC 9207 issuer checks, refresh with
// rotation, step-up to more scopes, and revocation (RFC 7009).
//
// A [Manager] holds every server's state. The hub configures each server
// ([Manager.Configure]) and wraps each HTTP upstream's transport with
// [Manager.Transport], which adds the server's token, renews it, and turns a
// 401 into an [AuthorizationError]; [Manager.Authorize] starts a sign-in in
// the browser, whose redirect [Manager.ServeHTTP] answers. The hub hears of
// changes on [Manager.Changes] and reads [Manager.Summary] then. Secrets live
// in a [SecretStore] (the keychain), one bundle per server; the settings
// file only gets the non-secret [Summary.Mirror].
package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/mcptray/mcptray/internal/broadcast"
	"github.com/mcptray/mcptray/internal/ring"
	"github.com/mcptray/mcptray/settings"
)

// ErrAuthorizationRequired is wrapped by the error of a request to a server
// that needs the user to sign in (again).
var ErrAuthorizationRequired = errors.New("authorization required")

// AuthorizationError says why a server needs authorization.
type AuthorizationError struct {
	Server string
	Reason string
}

func (e *AuthorizationError) Error() string {
	return fmt.Sprintf("%s needs authorization: %s", e.Server, e.Reason)
}

func (e *AuthorizationError) Is(target error) bool { return target == ErrAuthorizationRequired }

// Config is one server's OAuth configuration: its oauth block from the
// settings file, placeholders expanded, and what the hub adds.
type Config struct {
	ServerURL string // the MCP server
	// Configured is true when the server has an oauth block.
	Configured bool
	// OAuthConfig is the block's configuration. Its RedirectURI is where
	// the browser comes back; the hub fills in its callback when the block
	// has none.
	settings.OAuthConfig
	// AuthorizedBefore is true when the settings say an authorization once
	// completed: a server that then asks again had credentials that stopped
	// working, and no browser opens by surprise.
	AuthorizedBefore bool
	// Legacy holds secrets an MCPHub settings file kept in plain text:
	// Configure moves them into the secret store.
	Legacy *settings.PlainSecrets
	// Unavailable, when set, says why OAuth does not apply to the server (a
	// stdio server takes its credentials from its environment; a variable of
	// its settings is not set): sign-ins are refused with it.
	Unavailable string
}

// SecretStore keeps one opaque value per key; keychain.Store is one. Its
// Changes channel is closed when secrets change outside mcptray (a user
// deleting a keychain item by hand).
type SecretStore interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	Changes() <-chan struct{}
}

// States of a server's authorization.
const (
	StateNone               = ""                    // nothing known yet, or no OAuth needed
	StateAuthorized         = "authorized"          // a token is held
	StateNeedsAuthorization = "needs_authorization" // the user must sign in
)

// Summary is a server's authorization as the control API and the tray show
// it. It holds no secret.
type Summary struct {
	State        string    `json:"state"`
	Reason       string    `json:"reason,omitempty"`
	Issuer       string    `json:"issuer,omitempty"`
	ClientID     string    `json:"clientId,omitempty"`
	Registration string    `json:"registration,omitempty"`
	Scopes       []string  `json:"scopes,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt,omitzero"`
	AuthorizedAt time.Time `json:"authorizedAt,omitzero"`
	// AuthorizedBefore: a sign-in completed once (here or in an earlier
	// run), so a server asking again lost credentials that worked.
	AuthorizedBefore bool   `json:"authorizedBefore,omitempty"`
	AuthorizationURL string `json:"authorizationUrl,omitempty"` // of a sign-in waiting for the user
	TokenStore       string `json:"tokenStore,omitempty"`
	// Endpoints are the authorization server's, as discovery found them.
	Endpoints *Endpoints `json:"endpoints,omitempty"`
}

// Endpoints are an authorization server's endpoints.
type Endpoints struct {
	Authorization string `json:"authorization,omitempty"`
	Token         string `json:"token,omitempty"`
	Revocation    string `json:"revocation,omitempty"`
}

// Mirror is what of the summary goes into the settings file's oauth block:
// no token, no client secret, no code verifier.
func (s *Summary) Mirror() settings.OAuthMirror {
	m := settings.OAuthMirror{
		Issuer: s.Issuer, RegisteredClient: s.ClientID, Registration: s.Registration,
		GrantedScopes: slices.Clone(s.Scopes), ExpiresAt: settings.FormatTime(s.ExpiresAt),
		AuthorizedAt: settings.FormatTime(s.AuthorizedAt), TokenStore: s.TokenStore,
	}
	if e := s.Endpoints; e != nil {
		m.Discovered = &settings.DiscoveredEndpoints{Authorization: e.Authorization, Token: e.Token, Revocation: e.Revocation}
	}
	return m
}

// Step is one step of a server's authorization (a discovery URL tried, a
// registration, a renewal, a failure), for its details. Never a secret.
type Step struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // info, warn or error
	Message string    `json:"message"`
}

// Options configure a Manager.
type Options struct {
	Store SecretStore // required
	// OpenBrowser shows the user an authorization URL. Nil means no browser
	// (headless): the URL is logged and returned.
	OpenBrowser func(ctx context.Context, url string) error
	HTTPClient  *http.Client // for discovery, registration and tokens
	Logger      *slog.Logger
	ClientName  string // in registrations; "mcptray" when empty
	Version     string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Manager runs the authorization of every server.
type Manager struct {
	store      SecretStore
	open       func(ctx context.Context, url string) error
	http       *http.Client
	log        *slog.Logger
	clientName string
	version    string
	now        func() time.Time

	changes broadcast.Signal // any server's authorization changed

	// mu guards servers, queue, queued and active.
	mu      sync.Mutex
	servers map[string]*server
	queue   []string        // servers waiting for a first authorization in the browser
	queued  map[string]bool // the same, as a set
	active  string          // the server whose automatic sign-in is open
	wake    chan struct{}   // nudges Run
	mux     *http.ServeMux  // what ServeHTTP serves
}

// New checks opts and makes a Manager.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("oauthflow: no secret store")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ClientName == "" {
		opts.ClientName = "mcptray"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// Redirects are not followed: an authorization server that redirects a
	// token request is misbehaving, and the body would be lost anyway.
	c := *opts.HTTPClient
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	m := &Manager{
		store:      opts.Store,
		open:       opts.OpenBrowser,
		http:       &c,
		log:        opts.Logger,
		clientName: opts.ClientName,
		version:    opts.Version,
		now:        opts.Now,
		servers:    map[string]*server{},
		queued:     map[string]bool{},
		wake:       make(chan struct{}, 1),
	}
	m.mux = m.routes()
	return m, nil
}

// Changes returns a channel that is closed at the next change of any
// server's authorization (its state, its summary, its steps): the hub reads
// the summaries then, and mirrors them into the settings file.
func (m *Manager) Changes() <-chan struct{} { return m.changes.C() }

// Configure records, updates or (with nil) forgets a server's
// configuration, and moves the plain-text secrets of cfg.Legacy into the
// secret store. A change of the server's URL or OAuth settings drops what
// discovery found. A forgotten server's secrets stay in the store, for when
// it comes back.
func (m *Manager) Configure(ctx context.Context, name string, cfg *Config) error {
	if cfg == nil {
		m.mu.Lock()
		delete(m.servers, name)
		m.mu.Unlock()
		return nil
	}
	s := m.server(name)
	c := *cfg
	c.Legacy = nil
	s.mu.Lock()
	if !sameConfig(s.cfg, c) {
		s.disc = nil
	}
	s.cfg, s.hasCfg = c, true
	s.mu.Unlock()
	if cfg.Legacy != nil {
		return s.importLegacy(ctx, *cfg.Legacy)
	}
	return nil
}

// server returns the state of a server, making it on first use.
func (m *Manager) server(name string) *server {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.servers[name]
	if s == nil {
		s = &server{name: name, m: m, trace: ring.Ring[Step]{Size: maxSteps}}
		m.servers[name] = s
	}
	return s
}

// existing returns the state of a configured server, or an error.
func (m *Manager) existing(name string) (*server, error) {
	m.mu.Lock()
	s := m.servers[name]
	m.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("%w named %q uses OAuth", ErrUnknownServer, name)
	}
	s.mu.Lock()
	ok, unavailable := s.hasCfg, s.cfg.Unavailable
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w named %q uses OAuth", ErrUnknownServer, name)
	}
	if unavailable != "" {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, unavailable)
	}
	return s, nil
}

// ErrUnknownServer is wrapped by the error of a sign-in to a server the
// manager was not told of.
var ErrUnknownServer = errors.New("no server")

// ErrUnavailable is wrapped by the error of a sign-in to a server that OAuth
// does not apply to.
var ErrUnavailable = errors.New("OAuth does not apply")

// Trace returns the last steps of a server's authorization, oldest first.
func (m *Manager) Trace(name string) []Step {
	m.mu.Lock()
	s := m.servers[name]
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.trace.List()
}

// Summary returns a server's authorization summary, or nil when it has no
// OAuth at all.
func (m *Manager) Summary(name string) *Summary {
	m.mu.Lock()
	s := m.servers[name]
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.summary()
}

// Run does what happens in the background until ctx ends: it renews tokens
// ahead of their expiry (so that a refresh token that is never used does not
// quietly expire), and opens the browser for servers waiting for their
// first authorization, one at a time.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		stored := m.store.Changes()
		m.nextAutomatic(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.renewDue(ctx)
		case <-stored:
			m.checkStored(ctx)
		case <-m.wake:
		}
	}
}

// sameConfig reports whether two configurations lead to the same discovery
// and client.
func sameConfig(a, b Config) bool {
	return a.ServerURL == b.ServerURL && reflect.DeepEqual(a.OAuthConfig, b.OAuthConfig)
}

// all returns every server the manager knows.
func (m *Manager) all() []*server {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Values(m.servers))
}

// checkStored looks again at the secrets of every server that holds a
// token, after the store saw secrets change outside mcptray (a keychain
// item deleted by hand): such a server forgets what it held in memory, and
// asks for a new authorization on its next request, without opening a
// browser by itself.
func (m *Manager) checkStored(ctx context.Context) {
	for _, s := range m.all() {
		s.mu.Lock()
		had := s.b != nil && s.b.Token != nil
		s.mu.Unlock()
		if !had {
			continue
		}
		if _, ok, err := m.store.Get(ctx, s.name); err != nil || ok {
			continue
		}
		s.mu.Lock()
		s.b = &bundle{Version: 1} // what the store holds now: nothing
		s.disc = nil
		s.mu.Unlock()
		s.event("warn", "its secrets were deleted outside mcptray")
		s.setState(StateNeedsAuthorization, "its secrets were deleted; sign in again")
	}
}
