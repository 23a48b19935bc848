// Package oauthflow signs mcptray in to OAuth-protected MCP servers, as the
// MCP authorization spec (revision 2025-11-25, with what 2026-07-28 adds)
// describes: discovery from WWW-Authenticate and RFC 9728 / RFC 8414 / OpenID
// Connect metadata, pre-registered clients, Client ID Metadata Documents,
// RFC 7591 registration, the authorization code flow with PKCE (RFC 7636),
// resource indicators (RFC 8707), RFC 9207 issuer checks, refresh with
// rotation, step-up to more scopes, and revocation (RFC 7009).
//
// A [Manager] holds every server's state. The hub wraps each HTTP upstream's
// transport with [Manager.Transport], which adds the server's token, renews
// it, and turns a 401 into an [AuthorizationError]; [Manager.Authorize]
// starts a sign-in in the browser, whose redirect [Manager.ServeHTTP]
// answers. Secrets live in a [SecretStore] (the keychain), one bundle per
// server; the settings file only gets the non-secret [Metadata].
package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
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

// Config is one server's OAuth settings, placeholders expanded: the oauth
// block of mcp_settings.json, in MCPHub's names.
type Config struct {
	ServerURL string // the MCP server
	// Configured is true when the server has an oauth block.
	Configured bool

	ClientID     string
	ClientSecret string
	Scopes       []string
	// Resource, when not nil, is the RFC 8707 resource to ask for; an empty
	// one sends none (Microsoft Entra refuses the parameter, AADSTS9010010).
	Resource              *string
	AuthorizationEndpoint string
	TokenEndpoint         string
	RevocationEndpoint    string
	RedirectURI           string // where the browser comes back; required
	ClientMetadataURL     string // a Client ID Metadata Document
	Registration          *Registration
	// AuthorizedBefore is true when the settings say an authorization once
	// completed: a server that then asks again had credentials that stopped
	// working, and no browser opens by surprise.
	AuthorizedBefore bool
}

// Registration configures RFC 7591 dynamic client registration.
type Registration struct {
	Enabled            *bool
	Issuer             string
	Endpoint           string
	Metadata           map[string]any
	InitialAccessToken string
}

// SecretStore keeps one opaque value per key; keychain.Store is one.
type SecretStore interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

// Listener hears what the manager does, per server.
type Listener interface {
	// AuthChanged: the server's authorization state changed (authorized,
	// needs authorization, signed out).
	AuthChanged(server string)
	// AuthEvent: one step, for the server's event log. Never a secret.
	AuthEvent(server, level, message string)
	// AuthMirror: non-secret metadata for the settings file.
	AuthMirror(server string, meta Metadata)
}

// Metadata is what of a server's authorization may be written to the
// settings file: no token, no client secret, no code verifier.
type Metadata struct {
	Issuer                string
	ClientID              string // a registered client's id ("" for a configured one)
	Registration          string // static, cimd or dynamic
	AuthorizationEndpoint string
	TokenEndpoint         string
	RevocationEndpoint    string
	Scopes                []string
	ExpiresAt             time.Time
	AuthorizedAt          time.Time
	TokenStore            string // keychain or file, as the store says
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

	// mu guards servers, listener, queue, queued and active.
	mu       sync.Mutex
	servers  map[string]*server
	listener Listener
	queue    []string        // servers waiting for a first authorization in the browser
	queued   map[string]bool // the same, as a set
	active   string          // the server whose automatic sign-in is open
	wake     chan struct{}   // nudges Run
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
	return &Manager{
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
	}, nil
}

// SetListener sets who hears about changes. The hub sets itself.
func (m *Manager) SetListener(l Listener) {
	m.mu.Lock()
	m.listener = l
	m.mu.Unlock()
}

func (m *Manager) listen() Listener {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listener == nil {
		return nopListener{}
	}
	return m.listener
}

type nopListener struct{}

func (nopListener) AuthChanged(string)               {}
func (nopListener) AuthEvent(string, string, string) {}
func (nopListener) AuthMirror(string, Metadata)      {}

// Configure records (or updates) a server's settings. A change of the
// server's URL or OAuth settings drops what discovery found.
func (m *Manager) Configure(name string, cfg Config) {
	s := m.server(name)
	s.mu.Lock()
	if !sameConfig(s.cfg, cfg) {
		s.disc = nil
	}
	s.cfg, s.hasCfg = cfg, true
	s.mu.Unlock()
}

// Forget drops a server that left the settings. Its secrets stay in the
// store, for when it comes back.
func (m *Manager) Forget(name string) {
	m.mu.Lock()
	delete(m.servers, name)
	m.mu.Unlock()
}

// server returns the state of a server, making it on first use.
func (m *Manager) server(name string) *server {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.servers[name]
	if s == nil {
		s = &server{name: name, m: m}
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
		return nil, fmt.Errorf("no server named %q uses OAuth", name)
	}
	s.mu.Lock()
	ok := s.hasCfg
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no server named %q uses OAuth", name)
	}
	return s, nil
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
		m.nextAutomatic(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.renewDue(ctx)
		case <-m.wake:
		}
	}
}

// renewDue refreshes the tokens that reached 80% of their lifetime.
func (m *Manager) renewDue(ctx context.Context) {
	m.mu.Lock()
	servers := make([]*server, 0, len(m.servers))
	for _, s := range m.servers {
		servers = append(servers, s)
	}
	m.mu.Unlock()
	for _, s := range servers {
		if s.refreshDue() {
			if _, err := s.token(ctx); err != nil {
				s.event("warn", "background refresh failed: "+err.Error())
			}
		}
	}
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

// sameConfig reports whether two configurations lead to the same discovery
// and client.
func sameConfig(a, b Config) bool {
	return a.ServerURL == b.ServerURL && a.ClientID == b.ClientID && a.ClientSecret == b.ClientSecret &&
		slices.Equal(a.Scopes, b.Scopes) && equalPtr(a.Resource, b.Resource) &&
		a.AuthorizationEndpoint == b.AuthorizationEndpoint && a.TokenEndpoint == b.TokenEndpoint &&
		a.RevocationEndpoint == b.RevocationEndpoint && a.RedirectURI == b.RedirectURI &&
		a.ClientMetadataURL == b.ClientMetadataURL && (a.Registration == nil) == (b.Registration == nil) &&
		(a.Registration == nil || a.Registration.Issuer == b.Registration.Issuer && a.Registration.Endpoint == b.Registration.Endpoint)
}

func equalPtr(a, b *string) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// SecretsRemoved tells the manager that a server's secrets were deleted
// outside mcptray (a keychain item removed by hand): it forgets what it held
// in memory, and the server asks for a new authorization on its next
// request, without opening a browser by itself.
func (m *Manager) SecretsRemoved(name string) {
	m.mu.Lock()
	s := m.servers[name]
	m.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	had := s.b != nil && s.b.Token != nil
	s.b = &bundle{Version: 1} // what the store holds now: nothing
	s.disc = nil
	s.mu.Unlock()
	if had {
		s.event("warn", "its secrets were deleted outside mcptray")
		s.setState(StateNeedsAuthorization, "its secrets were deleted; sign in again")
	}
}
