package oauthflow

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/mcptray/mcptray/internal/apijson"
)

// ServeHTTP answers the sign-in's part of the hub's HTTP surface, under
// the hub's protection (Host, Origin and bearer checks):
//
//	GET  /oauth/callback                   the browser's return (the redirect URI)
//	POST /api/servers/{name}/authorize     start a sign-in: {"authorizationUrl": ...}; ?browser=false opens none
//	POST /api/servers/{name}/signout       revoke and delete the server's tokens: its summary
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mux.ServeHTTP(w, r)
}

// routes makes the handler ServeHTTP serves.
func (m *Manager) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/callback", m.callback)
	mux.HandleFunc("POST /api/servers/{name}/authorize", func(w http.ResponseWriter, r *http.Request) {
		u, err := m.Authorize(r.Context(), r.PathValue("name"), r.URL.Query().Get("browser") != "false")
		if err != nil {
			apiError(w, err)
			return
		}
		apijson.Write(w, http.StatusOK, Authorization{URL: u})
	})
	mux.HandleFunc("POST /api/servers/{name}/signout", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := m.SignOut(r.Context(), name); err != nil {
			apiError(w, err)
			return
		}
		apijson.Write(w, http.StatusOK, m.Summary(name))
	})
	return mux
}

// Authorization is the answer of POST /api/servers/{name}/authorize.
type Authorization struct {
	URL string `json:"authorizationUrl"`
}

// apiError answers a failed sign-in request as the control API answers
// errors: 404 for a server OAuth does not know, 409 for the rest.
func apiError(w http.ResponseWriter, err error) {
	code := http.StatusConflict
	if errors.Is(err, ErrUnknownServer) {
		code = http.StatusNotFound
	}
	apijson.Error(w, code, err.Error())
}

// callback answers the browser's return from the authorization server at
// the redirect URI (/oauth/callback): it checks the state (known, not used,
// not expired, bound to the server) and the issuer (RFC 9207), exchanges the
// code with the PKCE verifier and the resource, keeps the tokens, and says
// that the tab can be closed.
func (m *Manager) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	s, p := m.takePending(r.Context(), state)
	if p == nil {
		m.log.Warn("oauth: a sign-in came back with an unknown, used or forged state")
		page(w, http.StatusBadRequest, "Sign-in failed", "This sign-in is unknown, was already used, or has expired. Start it again from mcptray.")
		return
	}
	if s.m.now().Sub(p.Created) > pendingTTL {
		s.event("warn", "a sign-in came back after it expired")
		page(w, http.StatusBadRequest, "Sign-in expired", "This sign-in took longer than 10 minutes. Start it again from mcptray.")
		return
	}
	// RFC 9207 §2.4: compare iss exactly when present; require it when the
	// server says it sends it. On a mismatch the response may come from an
	// attacker's server: none of its text is shown.
	iss, hasIss := q["iss"]
	if hasIss && (len(iss) != 1 || iss[0] != p.Issuer) || !hasIss && p.IssRequired {
		s.event("error", "the sign-in came back with the wrong issuer (RFC 9207); it was refused")
		s.needAuthorization("the sign-in came back from the wrong authorization server")
		page(w, http.StatusBadRequest, "Sign-in refused", "The answer did not come from the authorization server this sign-in was sent to, so mcptray refused it.")
		return
	}
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		s.event("error", "the authorization server refused the sign-in: "+msg)
		s.needAuthorization("the sign-in was refused: " + msg)
		page(w, http.StatusBadRequest, "Sign-in refused", "The authorization server said: "+msg)
		return
	}
	code := q.Get("code")
	if code == "" {
		page(w, http.StatusBadRequest, "Sign-in failed", "The authorization server sent no code.")
		return
	}
	if err := s.complete(r.Context(), p, code); err != nil {
		page(w, http.StatusBadGateway, "Sign-in failed", err.Error())
		return
	}
	page(w, http.StatusOK, "Signed in", fmt.Sprintf("mcptray is signed in to %s. You can close this tab.", s.name))
}

// takePending finds the sign-in of a state and removes it: a state works
// once.
func (m *Manager) takePending(ctx context.Context, state string) (*server, *pending) {
	_, name, ok := strings.Cut(state, "~")
	if !ok || name == "" {
		return nil, nil
	}
	m.mu.Lock()
	s := m.servers[name]
	m.mu.Unlock()
	if s == nil {
		return nil, nil
	}
	if _, err := s.load(ctx); err != nil {
		return nil, nil
	}
	matches := func(p *pending) bool {
		return p != nil && subtle.ConstantTimeCompare([]byte(p.State), []byte(state)) == 1
	}
	s.mu.Lock()
	known := matches(s.b.Pending)
	s.mu.Unlock()
	if !known {
		return nil, nil // a forged state costs no write to the store
	}
	// Taken inside the update, so that of two returns with the same state
	// only one gets it.
	var p *pending
	_ = s.update(ctx, func(b *bundle) {
		if matches(b.Pending) {
			p, b.Pending = b.Pending, nil
		}
	})
	if p == nil {
		return nil, nil
	}
	return s, p
}

// complete exchanges the code and keeps the tokens.
func (s *server) complete(ctx context.Context, p *pending, code string) error {
	d, err := s.discovery(ctx, nil)
	if err != nil {
		return err
	}
	if !sameIssuer(d.issuer, p.Issuer) {
		return fmt.Errorf("the authorization server changed during the sign-in (%s, then %s); sign in again", p.Issuer, d.issuer)
	}
	c, err := s.clientFor(ctx, d)
	if err != nil {
		return err
	}
	if c.ClientID != p.ClientID {
		return errors.New("mcptray's client changed during the sign-in; sign in again")
	}
	tr, err := s.exchange(ctx, d, c, p, code)
	var te *TokenError
	if errors.As(err, &te) && te.Code == "invalid_client" {
		s.dropClient(ctx, d.issuer)
		s.needAuthorization("the authorization server no longer knows mcptray's client; sign in again")
		return errors.New("the authorization server no longer knows mcptray's registration; start the sign-in again and mcptray registers anew")
	}
	if err != nil {
		s.event("error", "code exchange failed: "+err.Error())
		s.needAuthorization("the code exchange failed: " + err.Error())
		return err
	}
	now := s.m.now()
	t := tr.tokenSet(now, tokenSet{Issuer: p.Issuer, Resource: p.Resource, ClientID: c.ClientID, Scopes: p.Scopes, AuthorizedAt: now})
	_ = s.update(ctx, func(b *bundle) { b.Token = t })
	s.event("info", fmt.Sprintf("signed in (scopes %q, token valid for %v, refresh token: %v)", strings.Join(t.Scopes, " "), t.Expiry.Sub(now).Round(time.Second), t.RefreshToken != ""))
	s.mu.Lock()
	s.challenge = nil
	s.everAuthorized = true
	s.mu.Unlock()
	s.setState(StateAuthorized, "")
	s.mirror()
	s.authorized.Notify()
	s.m.nudge() // the next automatic sign-in, if any
	return nil
}

// page writes a small HTML page for the browser tab.
func page(w http.ResponseWriter, code int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>%s · mcptray</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}</style></head>
<body><h1>%s</h1><p>%s</p></body></html>`, html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}
