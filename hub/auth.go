package hub

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// Auth is OAuth as the hub uses it; *oauthflow.Manager is the one mcptray
// uses. The hub tells it each server's configuration, wraps HTTP upstreams'
// transports with it, shows its summaries, and mounts its HTTP handler (the
// redirect URI and the sign-in actions of the control API). It hears back on
// Changes, and reads the summaries then.
type Auth interface {
	// Configure records a server's configuration (nil forgets the server)
	// and moves the plain-text secrets of cfg.Legacy into the secret store.
	Configure(ctx context.Context, server string, cfg *oauthflow.Config) error
	Transport(server string, base http.RoundTripper) http.RoundTripper
	Summary(server string) *oauthflow.Summary
	Trace(server string) []oauthflow.Step
	Changes() <-chan struct{}
	// Authorize starts a sign-in (or finds the one waiting) and returns
	// the page the user signs in on; with interactive, the browser opens
	// on it too. SignOut revokes and deletes the server's tokens. The
	// dashboard's Authorize and Sign out use them.
	Authorize(ctx context.Context, server string, interactive bool) (string, error)
	SignOut(ctx context.Context, server string) error
	http.Handler
}

// SecretStore tells where secrets are kept; *keychain.Store is one.
type SecretStore interface {
	Status() keychain.Status
}

// oauthConfig is what OAuth needs of a server. A server OAuth does not
// apply to gets the reason, which a sign-in is refused with.
func (h *Hub) oauthConfig(srv *settings.Server) *oauthflow.Config {
	switch srv.Kind() {
	case settings.TypeSSE, settings.TypeStreamableHTTP:
	default:
		return &oauthflow.Config{Unavailable: fmt.Sprintf("it is a %s server, which takes its credentials from its environment", srv.Kind())}
	}
	resolved, err := srv.Resolve(h.lookupEnv)
	if err != nil {
		return &oauthflow.Config{Unavailable: err.Error()}
	}
	c := &oauthflow.Config{ServerURL: resolved.URL}
	if o := resolved.OAuth; o != nil {
		c.Configured = true
		c.OAuthConfig = o.OAuthConfig
		c.AuthorizedBefore = o.AuthorizedAt != ""
		if o.HasSecrets() {
			l := o.Secrets()
			c.Legacy = &l
		}
	}
	if c.RedirectURI == "" {
		c.RedirectURI = h.BaseURL() + "/oauth/callback"
	}
	return c
}

// configureAuth tells OAuth the configuration of every server in st (and
// forgets those that left), and moves the secrets an MCPHub settings file
// kept in plain text into the secret store and out of the file. It runs on
// the managing goroutine, before the servers (re)connect, so that a moved
// token is there for their first request.
func (h *Hub) configureAuth(ctx context.Context, st *settings.Settings) {
	if h.auth == nil {
		return
	}
	var moved []string
	for _, name := range st.ServerNames() {
		cfg := h.oauthConfig(st.Servers[name])
		err := h.auth.Configure(ctx, name, cfg)
		if cfg.Legacy == nil {
			continue
		}
		if err != nil {
			h.log.Error("cannot move this server's secrets out of the settings file; they stay there", "server", name, "err", err)
			continue
		}
		moved = append(moved, name)
	}
	h.mu.Lock()
	for name := range h.configured {
		if st.Servers[name] == nil {
			_ = h.auth.Configure(ctx, name, nil)
			delete(h.configured, name)
		}
	}
	for _, name := range st.ServerNames() {
		h.configured[name] = true
	}
	h.mu.Unlock()
	if len(moved) == 0 {
		return
	}
	kind := ""
	if h.secrets != nil {
		kind = h.secrets.Status().Kind
	}
	err := h.store.Modify(func(st *settings.Settings) error {
		for _, name := range moved {
			if srv := st.Servers[name]; srv != nil && srv.OAuth != nil {
				srv.OAuth.ClearSecrets(kind)
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

// authChanged acts on what changed in the servers' authorizations: a
// server that got its sign-in connects again, one that lost it drops its
// connection and shows why, one whose sign-in failed shows the reason
// (oauthflow.StateFailed is the hub's needs_authorization with the
// failure as its error); and the summaries' non-secret facts go into the
// settings file. Only the managing goroutine calls it.
func (h *Hub) authChanged() {
	h.mu.Lock()
	ups := make([]*upstream, 0, len(h.order))
	for _, n := range h.order {
		ups = append(ups, h.upstreams[n])
	}
	h.mu.Unlock()
	mirrors := map[string]settings.OAuthMirror{}
	for _, u := range ups {
		sum := h.auth.Summary(u.name)
		if sum == nil {
			continue
		}
		// The file gets the facts of an authorization, once there was one:
		// what a sign-in, a renewal or a sign-out changed.
		if sum.AuthorizedBefore || !sum.AuthorizedAt.IsZero() {
			mirrors[u.name] = sum.Mirror()
		}
		st := u.Status()
		// The hub acts on a change of the state or of its reason: a
		// failed sign-in's reason replaces "asks for a sign-in".
		key := sum.State + "\n" + sum.Reason
		prev := u.authState
		u.authState = key
		if st.State == StateDisabled || prev == key {
			continue
		}
		waiting := sum.State == oauthflow.StateNeedsAuthorization || sum.State == oauthflow.StateFailed
		switch {
		case sum.State == oauthflow.StateAuthorized && st.State != StateConnected:
			u.requestReconnect()
		case waiting && st.State == StateConnected:
			// The credentials stopped working: the reconnection says why.
			u.requestReconnect()
		case waiting && (st.State != StateNeedsAuthorization || st.Error != sum.Reason):
			u.setStatus(func(s *ServerStatus) { s.State, s.Error, s.RetryAt = StateNeedsAuthorization, sum.Reason, time.Time{} })
		}
	}
	h.changed.Notify()
	h.writeMirrors(mirrors)
}

// writeMirrors writes the summaries' non-secret facts into the servers'
// oauth blocks, when they differ from what the file has. Those facts
// change at a sign-in, a sign-out or a registration, never at a token
// refresh (the expiry is not mirrored), so a refresh writes nothing; an
// expiresAt an earlier mcptray wrote goes at the next write.
func (h *Hub) writeMirrors(mirrors map[string]settings.OAuthMirror) {
	cur := h.store.Current()
	stale := false
	for name, m := range mirrors {
		srv := cur.Servers[name]
		if srv == nil {
			continue
		}
		var have settings.OAuth
		if srv.OAuth != nil {
			have = *srv.OAuth
		}
		want := have
		want.SetMirror(m)
		if !reflect.DeepEqual(have.OAuthMirror, want.OAuthMirror) {
			stale = true
			break
		}
	}
	if !stale {
		return
	}
	err := h.store.Modify(func(st *settings.Settings) error {
		for name, m := range mirrors {
			if srv := st.Servers[name]; srv != nil {
				if srv.OAuth == nil {
					srv.OAuth = &settings.OAuth{}
				}
				srv.OAuth.SetMirror(m)
			}
		}
		return nil
	})
	if err != nil {
		h.log.Warn("cannot write OAuth metadata to the settings file", "err", err)
	}
}
