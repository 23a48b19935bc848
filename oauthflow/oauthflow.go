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
	"strings"
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
	StateNeedsAuthorization = "needs_authorization" // the user must sign in; Reason says why
	// StateFailed: the last sign-in failed and no working token is held.
	// Reason says why, in the authorization server's words where it gave
	// any (its error and error_description), or what failed on the way
	// (discovery, registration, the code exchange). No browser opens by
	// itself until the user asks for a sign-in again.
	StateFailed = "sign_in_failed"
)

// Summary is a server's authorization as the control API and the tray show
// it. It holds no secret.
type Summary struct {
	// State is one of the State constants ("unknown" for StateNone).
	State string `json:"state"`
	// Reason says why the server needs a sign-in, or why the last one
	// failed; "" when authorized.
	Reason       string   `json:"reason,omitempty"`
	Issuer       string   `json:"issuer,omitempty"`
	ClientID     string   `json:"clientId,omitempty"`
	Registration string   `json:"registration,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	// ExpiresAt is the access token's expiry. It changes with every
	// renewal, so it lives here and in the API, never in the settings
	// file.
	ExpiresAt    time.Time `json:"expiresAt,omitzero"`
	AuthorizedAt time.Time `json:"authorizedAt,omitzero"`
	// AuthorizedBefore: a sign-in completed once (here or in an earlier
	// run), so a server asking again lost credentials that worked.
	AuthorizedBefore bool `json:"authorizedBefore,omitempty"`
	// AuthorizationURL is the URL of a browser sign-in waiting for the
	// user ("" when none waits); SignIn says more.
	AuthorizationURL string `json:"authorizationUrl,omitempty"`
	// SignIn is the sign-in waiting for the user, or the last one that
	// ended in this run; nil when there was none.
	SignIn     *SignIn `json:"signIn,omitempty"`
	TokenStore string  `json:"tokenStore,omitempty"`
	// Endpoints are the authorization server's, as discovery found them.
	Endpoints *Endpoints `json:"endpoints,omitempty"`
	// Preset names the provider preset applied (see presets.json), if any.
	Preset string `json:"preset,omitempty"`
}

// Statuses of a SignIn.
const (
	SignInWaiting   = "waiting"   // for the user, in the browser or at the device page
	SignInCompleted = "completed" // tokens with every scope the server needs
	SignInFailed    = "failed"    // Error says why
	SignInExpired   = "expired"   // the user did not finish it in time
)

// Flows of a SignIn.
const (
	FlowBrowser = "browser" // authorization code with PKCE, back to the redirect URI
	FlowDevice  = "device"  // RFC 8628 device authorization grant: a code typed at a URL
)

// SignIn is one sign-in of a server: the one waiting for the user (each
// caller shares it: the automatic one, the tray, the API, step-ups), or
// the last that ended. The tray and notifications show it; it holds no
// secret (not the PKCE verifier, not the device code).
type SignIn struct {
	// ID tells one sign-in from the next (POST .../authorize answers it).
	ID     string `json:"id"`
	Status string `json:"status"` // SignInWaiting, SignInCompleted, SignInFailed or SignInExpired
	Flow   string `json:"flow"`   // FlowBrowser or FlowDevice
	// ByUser: the user asked for it (Authorize…, the API, the CLI);
	// otherwise mcptray started it (a first connection, a step-up).
	ByUser  bool      `json:"byUser,omitempty"`
	Started time.Time `json:"started"`
	// Expires is when a waiting sign-in stops being accepted.
	Expires time.Time `json:"expires,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// URL is where the user signs in: the authorization URL (browser
	// flow), or the verification URL (device flow; with the code in it
	// when the server offers verification_uri_complete).
	URL string `json:"url,omitempty"`
	// BrowserOpened: mcptray opened a browser tab on URL. False when it
	// had none to open (headless, --no-browser, the CLI's --paste, the
	// device flow): show URL to the user.
	BrowserOpened bool `json:"browserOpened,omitempty"`
	// UserCode and VerificationURI are the device flow's (RFC 8628 §3.3):
	// the user opens VerificationURI, on any device, and types UserCode.
	UserCode        string `json:"userCode,omitempty"`
	VerificationURI string `json:"verificationUri,omitempty"`
	// Scopes are the scopes asked for.
	Scopes []string `json:"scopes,omitempty"`
	// Missing are the scopes the server needs that the sign-in did not
	// get (the user unticked them, or the authorization server does not
	// let mcptray have them); the sign-in then failed, though its tokens
	// are kept.
	Missing []string `json:"missingScopes,omitempty"`
	// Error says why it failed: the authorization server's error and
	// error_description, a failed code exchange, the scopes not granted
	// ("granted X; the server needs Y").
	Error string `json:"error,omitempty"`
}

// Endpoints are an authorization server's endpoints.
type Endpoints struct {
	Authorization string `json:"authorization,omitempty"`
	Token         string `json:"token,omitempty"`
	Revocation    string `json:"revocation,omitempty"`
	// Device is the RFC 8628 device authorization endpoint: where it is
	// set, a sign-in can go without a browser that reaches mcptray
	// (Manager.AuthorizeDevice).
	Device string `json:"device,omitempty"`
}

// Mirror is what of the summary goes into the settings file's oauth block:
// no token, no client secret, no code verifier, and nothing that changes
// with a refresh (the expiry), so that a refresh never writes the file.
func (s *Summary) Mirror() settings.OAuthMirror {
	m := settings.OAuthMirror{
		Issuer: s.Issuer, RegisteredClient: s.ClientID, Registration: s.Registration,
		GrantedScopes: slices.Clone(s.Scopes),
		AuthorizedAt:  settings.FormatTime(s.AuthorizedAt), TokenStore: s.TokenStore,
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
	// ClientMetadataURL is mcptray's own Client ID Metadata Document, used
	// with authorization servers that support them when no client is
	// configured; DefaultClientMetadataURL when empty, "-" for none.
	ClientMetadataURL string
	// ClientMetadataRedirectURIs are that document's redirect_uris:
	// mcptray identifies with it only when its redirect URI is one of them.
	// DefaultClientMetadataRedirectURIs when nil.
	ClientMetadataRedirectURIs []string
	// Presets are the provider presets; the built-in ones (presets.json)
	// when nil.
	Presets []Preset
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
	cimdURL    string   // mcptray's Client ID Metadata Document, or ""
	cimdURIs   []string // its redirect_uris
	presets    []Preset

	changes broadcast.Signal // any server's authorization changed

	// Background work no caller owns (a refresh whose caller gave up, a
	// device sign-in's polling) runs under bg, and Run waits for it.
	bg     context.Context
	stopBg context.CancelFunc
	bgMu   sync.Mutex     // guards bgDone and orders bgWG.Add before Wait
	bgDone bool           // Run ended: no new background work
	bgWG   sync.WaitGroup // the background work running

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
	if opts.ClientMetadataURL == "" {
		opts.ClientMetadataURL = DefaultClientMetadataURL
	}
	if opts.ClientMetadataURL == "-" {
		opts.ClientMetadataURL = ""
	}
	if opts.ClientMetadataRedirectURIs == nil {
		opts.ClientMetadataRedirectURIs = strings.Split(DefaultClientMetadataRedirectURIs, ",")
	}
	if opts.Presets == nil {
		opts.Presets = builtinPresets()
	}
	bg, stop := context.WithCancel(context.Background())
	m := &Manager{
		store:      opts.Store,
		open:       opts.OpenBrowser,
		http:       &c,
		log:        opts.Logger,
		clientName: opts.ClientName,
		version:    opts.Version,
		now:        opts.Now,
		cimdURL:    opts.ClientMetadataURL,
		cimdURIs:   opts.ClientMetadataRedirectURIs,
		presets:    opts.Presets,
		bg:         bg,
		stopBg:     stop,
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
		s.refreshRefused = ""
		if s.hasCfg {
			// The user changed the configuration (a client secret fixed,
			// say): what the last sign-in failed on may hold no more.
			if s.st == StateFailed {
				s.st, s.reason = StateNone, ""
			}
			s.autoBlocked = ""
		}
	}
	s.cfg, s.hasCfg = c, true
	s.mu.Unlock()
	if cfg.Legacy != nil {
		return s.importLegacy(ctx, *cfg.Legacy)
	}
	if c.ServerURL != "" && c.Unavailable == "" {
		// Read the secrets now, before the server connects, so that the
		// summary (and the mirror written from it) tells what they hold
		// from the start. A failure is noted when they are used.
		_, _ = s.load(ctx)
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
	defer m.stopBackground()
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

// background runs f on its own goroutine, under a context no caller owns
// (it ends when Run does), and Run waits for it. After Run ended, f runs on
// the caller's goroutine instead, under a context that is already done.
func (m *Manager) background(f func(ctx context.Context)) {
	m.bgMu.Lock()
	if m.bgDone {
		m.bgMu.Unlock()
		f(m.bg)
		return
	}
	m.bgWG.Add(1)
	m.bgMu.Unlock()
	go func() {
		defer m.bgWG.Done()
		f(m.bg)
	}()
}

// stopBackground ends the background work and waits for it.
func (m *Manager) stopBackground() {
	m.bgMu.Lock()
	m.bgDone = true
	m.bgMu.Unlock()
	m.stopBg()
	m.bgWG.Wait()
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
