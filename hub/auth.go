package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// Authorizer signs upstream requests with OAuth and runs sign-ins;
// *oauthflow.Manager is the one mcptray uses.
type Authorizer interface {
	Configure(server string, cfg oauthflow.Config)
	Transport(server string, cfg oauthflow.Config, base http.RoundTripper) http.RoundTripper
	Authorize(ctx context.Context, server string, interactive bool) (string, error)
	SignOut(ctx context.Context, server string) error
	Summary(server string) *oauthflow.Summary
	Import(ctx context.Context, server string, l oauthflow.Legacy) error
	Forget(server string)
	SetListener(l oauthflow.Listener)
	// ServeHTTP answers the browser's return to /oauth/callback.
	ServeHTTP(w http.ResponseWriter, r *http.Request)
}

// SecretStore tells where secrets are kept; *keychain.Store is one.
type SecretStore interface {
	Status() keychain.Status
}

// ErrNoOAuth is returned by Authorize and SignOut for servers OAuth does not
// apply to.
var ErrNoOAuth = errors.New("not an OAuth server")

// mirror collects the non-secret OAuth metadata to write to the settings
// file, off the request path: the writes happen on the managing goroutine.
type mirror struct {
	mu      sync.Mutex // guards pending
	pending map[string]oauthflow.Metadata
	wake    chan struct{}
}

// oauthConfig is what oauthflow needs of a (resolved) server.
func (h *Hub) oauthConfig(srv *settings.Server) oauthflow.Config {
	c := oauthflow.Config{ServerURL: srv.URL, RedirectURI: h.BaseURL() + "/oauth/callback"}
	o := srv.OAuth
	if o == nil {
		return c
	}
	c.Configured = true
	c.ClientID, c.ClientSecret, c.Scopes, c.Resource = o.ClientID, o.ClientSecret, o.Scopes, o.Resource
	c.AuthorizationEndpoint, c.TokenEndpoint, c.RevocationEndpoint = o.AuthorizationEndpoint, o.TokenEndpoint, o.RevocationEndpoint
	c.ClientMetadataURL = o.ClientMetadataURL
	if o.RedirectURI != "" {
		c.RedirectURI = o.RedirectURI
	}
	if d := o.DynamicRegistration; d != nil {
		c.Registration = &oauthflow.Registration{Enabled: d.Enabled, Issuer: d.Issuer, Endpoint: d.RegistrationEndpoint, Metadata: d.Metadata, InitialAccessToken: d.InitialAccessToken}
	}
	c.AuthorizedBefore = o.AuthorizedAt != ""
	return c
}

// oauthServer returns the resolved settings of an HTTP server, for the
// operations that sign in and out.
func (h *Hub) oauthServer(name string) (*settings.Server, error) {
	if h.auth == nil {
		return nil, fmt.Errorf("%w: OAuth is not available in this process", ErrNoOAuth)
	}
	srv := h.store.Current().Servers[name]
	if srv == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownServer, name)
	}
	switch srv.Kind() {
	case settings.TypeSSE, settings.TypeStreamableHTTP:
	default:
		return nil, fmt.Errorf("%w: %s is a %s server, which takes its credentials from its environment", ErrNoOAuth, name, srv.Kind())
	}
	resolved, err := srv.Resolve(h.lookupEnv)
	if err != nil {
		return nil, err
	}
	return resolved, nil
}

// Authorize starts a sign-in for a server and returns the URL to visit;
// with interactive, the browser opens on it.
func (h *Hub) Authorize(ctx context.Context, name string, interactive bool) (string, error) {
	srv, err := h.oauthServer(name)
	if err != nil {
		return "", err
	}
	h.auth.Configure(name, h.oauthConfig(srv))
	return h.auth.Authorize(ctx, name, interactive)
}

// SignOut revokes and deletes a server's tokens.
func (h *Hub) SignOut(ctx context.Context, name string) error {
	srv, err := h.oauthServer(name)
	if err != nil {
		return err
	}
	h.auth.Configure(name, h.oauthConfig(srv))
	return h.auth.SignOut(ctx, name)
}

// AuthChanged is oauthflow telling that a server's authorization changed:
// a server that got its sign-in connects again, one that lost it drops its
// connection and shows why.
func (h *Hub) AuthChanged(server string) {
	u := h.upstream(server)
	if u == nil || h.auth == nil {
		return
	}
	sum := h.auth.Summary(server)
	st := u.Status()
	if sum != nil && st.State != StateDisabled {
		switch {
		case sum.State == oauthflow.StateAuthorized && st.State != StateConnected:
			u.requestReconnect()
		case sum.State == oauthflow.StateNeedsAuthorization && st.State == StateConnected:
			u.requestReconnect()
		case sum.State == oauthflow.StateNeedsAuthorization && st.State != StateNeedsAuthorization:
			u.setStatus(func(s *ServerStatus) { s.State, s.Error, s.RetryAt = StateNeedsAuthorization, sum.Reason, time.Time{} })
		}
	}
	h.changed()
}

// AuthEvent puts one step of a sign-in into the server's event log.
// oauthflow has logged it already.
func (h *Hub) AuthEvent(server, level, message string) {
	if u := h.upstream(server); u != nil {
		u.events.add(level, "oauth: "+message)
	}
}

// AuthMirror queues metadata for the settings file.
func (h *Hub) AuthMirror(server string, meta oauthflow.Metadata) {
	h.mirror.mu.Lock()
	h.mirror.pending[server] = meta
	h.mirror.mu.Unlock()
	select {
	case h.mirror.wake <- struct{}{}:
	default:
	}
}

// writeMirror writes the queued metadata into the servers' oauth blocks.
// Modify writes nothing when the file has it already, as after a refresh
// that changed no visible field.
func (h *Hub) writeMirror() {
	h.mirror.mu.Lock()
	pending := h.mirror.pending
	h.mirror.pending = map[string]oauthflow.Metadata{}
	h.mirror.mu.Unlock()
	err := h.store.Modify(func(st *settings.Settings) error {
		for name, meta := range pending {
			if srv := st.Servers[name]; srv != nil {
				if srv.OAuth == nil {
					srv.OAuth = &settings.OAuth{}
				}
				applyMetadata(srv.OAuth, meta)
			}
		}
		return nil
	})
	if err != nil {
		h.log.Warn("cannot write OAuth metadata to the settings file", "err", err)
	}
}

// applyMetadata puts meta into an oauth block. It writes no secret:
// Metadata has none.
func applyMetadata(o *settings.OAuth, meta oauthflow.Metadata) {
	o.Issuer, o.RegisteredClient, o.Registration = meta.Issuer, meta.ClientID, meta.Registration
	if meta.AuthorizationEndpoint != "" || meta.TokenEndpoint != "" {
		d := settings.DiscoveredEndpoints{}
		if o.Discovered != nil {
			d = *o.Discovered
		}
		d.Authorization, d.Token, d.Revocation = meta.AuthorizationEndpoint, meta.TokenEndpoint, meta.RevocationEndpoint
		o.Discovered = &d
	}
	o.GrantedScopes = slices.Clone(meta.Scopes)
	if len(o.GrantedScopes) == 0 {
		o.GrantedScopes = nil
	}
	o.ExpiresAt = timeText(meta.ExpiresAt)
	if at := timeText(meta.AuthorizedAt); at != "" {
		o.AuthorizedAt = at // kept after a sign-out: the server was authorized before
	}
	if meta.TokenStore != "" {
		o.TokenStore = meta.TokenStore
	}
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// migrateSecrets moves the secrets MCPHub wrote in plain text into the
// secret store, and takes them out of the settings file: a literal client
// secret, tokens, a code verifier. ${VAR} placeholders are configuration and
// stay.
func (h *Hub) migrateSecrets(ctx context.Context, st *settings.Settings) {
	if h.auth == nil {
		return
	}
	var moved []string
	for _, name := range st.ServerNames() {
		o := st.Servers[name].OAuth
		if !o.HasSecrets() {
			continue
		}
		l := oauthflow.Legacy{AccessToken: o.AccessToken, RefreshToken: o.RefreshToken}
		if !strings.Contains(o.ClientSecret, "$") {
			l.ClientSecret = o.ClientSecret
		}
		if p := o.PendingAuthorization; p != nil && p.CodeVerifier != "" {
			l.Pending = &oauthflow.LegacyPending{State: p.State, CodeVerifier: p.CodeVerifier, AuthorizationURL: p.AuthorizationURL, Created: time.UnixMilli(p.CreatedAt)}
		}
		if err := h.auth.Import(ctx, name, l); err != nil {
			h.log.Error("cannot move this server's secrets out of the settings file; they stay there", "server", name, "err", err)
			continue
		}
		moved = append(moved, name)
	}
	if len(moved) == 0 {
		return
	}
	err := h.store.Modify(func(st *settings.Settings) error {
		for _, name := range moved {
			srv := st.Servers[name]
			if srv == nil || srv.OAuth == nil {
				continue
			}
			o := srv.OAuth
			if !strings.Contains(o.ClientSecret, "$") {
				o.ClientSecret = ""
			}
			o.AccessToken, o.RefreshToken = "", ""
			if p := o.PendingAuthorization; p != nil {
				p.CodeVerifier = ""
				if p.State == "" && p.AuthorizationURL == "" {
					o.PendingAuthorization = nil
				}
			}
			if h.secrets != nil {
				o.TokenStore = h.secrets.Status().Kind
			}
		}
		return nil
	})
	if err != nil {
		h.log.Error("moved secrets into the secret store, but could not remove them from the settings file", "err", err)
		return
	}
	h.log.Info("moved plain-text secrets from the settings file into the secret store", "servers", strings.Join(moved, ", "))
}
