package oauthflow

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcptray/mcptray/internal/apijson"
)

// ServeHTTP answers the sign-in's part of the hub's HTTP surface, under
// the hub's protection (Host, Origin and bearer checks):
//
//	GET  /oauth/callback                   the browser's return (the redirect URI)
//	POST /api/servers/{name}/authorize     start a sign-in: an Authorization; ?browser=false opens none;
//	                                       ?flow=device starts the device flow (RFC 8628);
//	                                       a JSON body {"redirectUrl": ...} completes a sign-in with the
//	                                       URL the browser was sent back to (pasted by the user)
//	POST /api/servers/{name}/signout       revoke and delete the server's tokens: its summary
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mux.ServeHTTP(w, r)
}

// routes makes the handler ServeHTTP serves.
func (m *Manager) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/callback", m.callback)
	mux.HandleFunc("POST /api/servers/{name}/authorize", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		var body struct {
			RedirectURL string `json:"redirectUrl"`
		}
		if raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10)); len(strings.TrimSpace(string(raw))) > 0 {
			if err := json.Unmarshal(raw, &body); err != nil {
				apijson.Error(w, http.StatusBadRequest, "the body is not JSON: "+err.Error())
				return
			}
		}
		var (
			a   Authorization
			err error
		)
		switch {
		case body.RedirectURL != "":
			err = m.CompleteRedirect(r.Context(), name, body.RedirectURL)
			if sum := m.Summary(name); err == nil && sum != nil && sum.SignIn != nil {
				a.SignIn, a.Status = sum.SignIn.ID, sum.SignIn.Status
			}
		case r.URL.Query().Get("flow") == FlowDevice:
			var si *SignIn
			if si, err = m.AuthorizeDevice(r.Context(), name); err == nil {
				a = Authorization{URL: si.URL, SignIn: si.ID, Status: si.Status, UserCode: si.UserCode, VerificationURI: si.VerificationURI, Expires: si.Expires}
			}
		default:
			a, err = m.authorizeUser(r.Context(), name, r.URL.Query().Get("browser") != "false")
			a.Status = SignInWaiting
		}
		if err != nil {
			apiError(w, err)
			return
		}
		apijson.Write(w, http.StatusOK, a)
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
	// URL is where the user signs in: the authorization URL, or for the
	// device flow the verification URL (with the code when the server
	// gives verification_uri_complete).
	URL string `json:"authorizationUrl,omitempty"`
	// SignIn is the SignIn's ID, to follow in the server's summary.
	SignIn string `json:"signIn,omitempty"`
	Status string `json:"status,omitempty"`
	// UserCode, VerificationURI and Expires are the device flow's.
	UserCode        string    `json:"userCode,omitempty"`
	VerificationURI string    `json:"verificationUri,omitempty"`
	Expires         time.Time `json:"expires,omitzero"`
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

// outcome is how a return to the redirect URI ended, as the browser's page
// says it; err is set when the sign-in did not complete.
type outcome struct {
	status      int
	title, text string
	err         error
}

// callback answers the browser's return from the authorization server at
// the redirect URI (/oauth/callback) with a page naming the server and what
// to do next.
func (m *Manager) callback(w http.ResponseWriter, r *http.Request) {
	o := m.finishRedirect(r.Context(), r.URL.Query(), "")
	page(w, o.status, o.title, o.text)
}

// CompleteRedirect completes a sign-in of the server name with the URL the
// authorization server sent the browser back to, for a browser that could
// not reach mcptray's redirect URI (over SSH, in a container, on another
// machine): the user pastes it from the address bar. It makes the
// callback's checks (state, issuer, code) and exchange.
func (m *Manager) CompleteRedirect(ctx context.Context, name, redirectURL string) error {
	s, err := m.existing(name)
	if err != nil {
		return err
	}
	u, err := url.Parse(strings.TrimSpace(redirectURL))
	if err != nil || u.RawQuery == "" {
		return errors.New("that is not the address the browser was sent back to: it has no code or error in it")
	}
	s.mu.Lock()
	redirect := s.cfg.RedirectURI
	s.mu.Unlock()
	if want, err := url.Parse(redirect); err == nil && u.Path != want.Path {
		return fmt.Errorf("that address is not mcptray's redirect URI (%s)", redirect)
	}
	return m.finishRedirect(ctx, u.Query(), name).err
}

// next says how to start a sign-in again.
func next(name string) string {
	return fmt.Sprintf("To try again, choose Authorize… for %s in the mcptray menu, or run: mcptray authorize %s", name, name)
}

// finishRedirect checks an authorization response (the redirect's query)
// and completes its sign-in: the state (known, not used, not expired,
// bound to the server, to name when given), the issuer (RFC 9207), the
// code exchanged with the PKCE verifier and the resource.
func (m *Manager) finishRedirect(ctx context.Context, q url.Values, name string) outcome {
	state := q.Get("state")
	s, p := m.takePending(ctx, state)
	if p == nil {
		if s != nil && s.completedState(state) {
			return outcome{http.StatusOK, "Signed in to " + s.name, fmt.Sprintf("This sign-in to %s already completed; you can close this tab.", s.name), nil}
		}
		m.log.Warn("oauth: a sign-in came back with an unknown, used or forged state")
		return outcome{http.StatusBadRequest, "Sign-in failed", "This sign-in is unknown, was already used, or has expired. Start it again: choose Authorize… in the mcptray menu, or run: mcptray authorize NAME",
			errors.New("this sign-in is unknown, was already used, or has expired; start it again")}
	}
	if name != "" && s.name != name {
		return outcome{http.StatusBadRequest, "Sign-in failed", "This address belongs to the sign-in of another server.", fmt.Errorf("that address belongs to the sign-in of %s, not %s", s.name, name)}
	}
	if s.m.now().Sub(p.Created) > pendingTTL {
		reason := "the sign-in took longer than 10 minutes"
		s.signInFailed(p.SignIn, reason, nil)
		return outcome{http.StatusBadRequest, "Sign-in to " + s.name + " expired", "This sign-in took longer than 10 minutes. " + next(s.name), errors.New(reason)}
	}
	// RFC 9207 §2.4: compare iss exactly when present; require it when the
	// server says it sends it. On a mismatch the response may come from an
	// attacker's server: none of its text is shown.
	iss, hasIss := q["iss"]
	if hasIss && (len(iss) != 1 || iss[0] != p.Issuer) || !hasIss && p.IssRequired {
		reason := "the sign-in came back from the wrong authorization server (RFC 9207), so it was refused"
		s.signInFailed(p.SignIn, reason, nil)
		return outcome{http.StatusBadRequest, "Sign-in to " + s.name + " refused", "The answer did not come from the authorization server this sign-in was sent to, so mcptray refused it. " + next(s.name), errors.New(reason)}
	}
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		reason := "the authorization server refused the sign-in: " + msg
		if e == "invalid_scope" {
			if s.scopeRefused(ctx, p) {
				reason += "; mcptray registers these scopes before the next sign-in"
			}
		}
		s.signInFailed(p.SignIn, reason, nil)
		return outcome{http.StatusBadRequest, "Sign-in to " + s.name + " refused", "The authorization server said: " + msg + ". " + next(s.name), errors.New(reason)}
	}
	code := q.Get("code")
	if code == "" {
		reason := "the authorization server sent no code"
		s.signInFailed(p.SignIn, reason, nil)
		return outcome{http.StatusBadRequest, "Sign-in to " + s.name + " failed", "The authorization server sent no code. " + next(s.name), errors.New(reason)}
	}
	missing, err := s.complete(ctx, p, code)
	if err != nil {
		return outcome{http.StatusBadGateway, "Sign-in to " + s.name + " failed", err.Error() + ". " + next(s.name), err}
	}
	if len(missing) > 0 {
		s.mu.Lock()
		reason := ""
		if s.signIn != nil {
			reason = s.signIn.Error
		}
		s.mu.Unlock()
		return outcome{http.StatusOK, "Signed in to " + s.name + ", without everything it needs",
			"The authorization server " + reason + ". To grant the rest, choose Authorize… for " + s.name + " in the mcptray menu and allow every permission; if the server does not let mcptray have them, set the oauth.scopes mcptray asks for.",
			errors.New(reason)}
	}
	return outcome{http.StatusOK, "Signed in to " + s.name, fmt.Sprintf("mcptray is signed in to %s: its tools are available to your MCP clients. You can close this tab.", s.name), nil}
}

// takePending finds the sign-in of a state and removes it: a state works
// once. It returns the state's server even when the state is not its
// pending one.
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
		return s, nil // a forged state costs no write to the store
	}
	// Taken inside the update, so that of two returns with the same state
	// only one gets it.
	var p *pending
	_ = s.update(ctx, func(b *bundle) {
		if matches(b.Pending) {
			p, b.Pending = b.Pending, nil
		}
	})
	return s, p
}

// completedState reports whether state was the last completed sign-in's.
func (s *server) completedState(state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastState != "" && subtle.ConstantTimeCompare([]byte(s.lastState), []byte(state)) == 1
}

// scopeRefused notes that the registration of a refused sign-in
// (invalid_scope) does not hold its scopes, so that the next sign-in
// registers them. It reports whether it will.
func (s *server) scopeRefused(ctx context.Context, p *pending) bool {
	dynamic := false
	_ = s.update(ctx, func(b *bundle) {
		if c := b.Clients[p.Issuer]; c != nil && c.ClientID == p.ClientID && c.Method == "dynamic" {
			c.Scopes = slices.DeleteFunc(slices.Clone(c.Scopes), func(x string) bool { return slices.Contains(p.Scopes, x) })
			if c.Scopes == nil {
				c.Scopes = []string{}
			}
			dynamic = true
		}
	})
	return dynamic
}

// complete exchanges the code and keeps the tokens. It returns the scopes
// the server needs that the grant lacks.
func (s *server) complete(ctx context.Context, p *pending, code string) ([]string, error) {
	fail := func(reason string) ([]string, error) {
		s.signInFailed(p.SignIn, reason, nil)
		return nil, errors.New(reason)
	}
	d, err := s.discovery(ctx, nil)
	if err != nil {
		return fail(err.Error())
	}
	if !sameIssuer(d.issuer, p.Issuer) {
		return fail(fmt.Sprintf("the authorization server changed during the sign-in (%s, then %s); sign in again", p.Issuer, d.issuer))
	}
	c := p.Client
	if c == nil {
		// The client the sign-in was started with, without registering
		// anything now.
		var ok bool
		if c, ok = s.tokenClient(ctx, d, &tokenSet{ClientID: p.ClientID}); !ok {
			return fail("mcptray's client changed during the sign-in; sign in again")
		}
	}
	if c.ClientID != p.ClientID {
		return fail("mcptray's client changed during the sign-in; sign in again")
	}
	tr, err := s.exchange(ctx, d, c, p, code)
	if err != nil {
		return fail(s.tokenFailure(ctx, d, c, "the code exchange failed", err))
	}
	return s.signedIn(ctx, p.SignIn, tr, grant{
		issuer: p.Issuer, resource: p.Resource, client: c, adopt: p.Client != nil,
		asked: p.Scopes, needed: p.Needed, state: p.State,
	})
}

// tokenFailure says what a refused token request means, and acts on it: a
// configured client's credentials were refused (the user's to fix); a
// registration the server no longer knows is dropped, so that the next
// sign-in registers anew and none reuses it.
func (s *server) tokenFailure(ctx context.Context, d *discovery, c *client, what string, err error) string {
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "invalid_client" && te.Status != http.StatusUnauthorized {
		return what + ": " + err.Error()
	}
	switch c.Method {
	case "static":
		return fmt.Sprintf("%s refused the client credentials (%s); check oauth.clientId and oauth.clientSecret", d.issuer, te.Code)
	case "cimd":
		return fmt.Sprintf("%s refused mcptray's Client ID Metadata Document %s (%s)", d.issuer, c.ClientID, te.Code)
	}
	s.dropClient(ctx, d.issuer, "the authorization server no longer knows mcptray's registration "+c.ClientID+" ("+te.Code+")")
	return "the authorization server no longer knows mcptray's registration (" + te.Code + "); mcptray registers anew at the next sign-in"
}

// grant is what a completed sign-in got its tokens for.
type grant struct {
	issuer, resource string
	client           *client
	adopt            bool // client is a new registration to keep
	asked, needed    []string
	state            string // the browser sign-in's state, or ""
}

// signedIn keeps the tokens of a completed sign-in (browser or device) and
// checks the grant against the scopes the server needs: one that lacks
// some fails the sign-in with "granted X; the server needs Y", keeps its
// tokens, and opens no browser again until the user asks.
func (s *server) signedIn(ctx context.Context, id string, tr *tokenResponse, g grant) ([]string, error) {
	now := s.m.now()
	t := tr.tokenSet(now, tokenSet{Issuer: g.issuer, Resource: g.resource, ClientID: g.client.ClientID, Scopes: g.asked, AuthorizedAt: now})
	_ = s.update(ctx, func(b *bundle) {
		b.Token = t
		if g.adopt {
			if b.Clients == nil {
				b.Clients = map[string]*client{}
			}
			b.Clients[g.issuer] = g.client
		}
		if g.client.Method == "static" {
			b.StaticIssuer = g.client.ClientID + " " + g.issuer
		}
	})
	s.event("info", fmt.Sprintf("signed in (scopes %q, token valid for %v, refresh token: %v)", strings.Join(t.Scopes, " "), t.Expiry.Sub(now).Round(time.Second), t.RefreshToken != ""))
	missing := missingScopes(g.needed, t.Scopes)
	s.mu.Lock()
	s.challenge = nil
	s.everAuthorized = true
	s.refreshRefused = ""
	if g.state != "" {
		s.lastState = g.state
	}
	if len(missing) == 0 {
		s.signInCompletedLocked(id)
		s.st, s.reason = StateAuthorized, ""
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		// A server that worked keeps working with what it has; one that
		// had no token waits for the user (signInFailed tells which).
		granted := strings.Join(t.Scopes, " ")
		if granted == "" {
			granted = "nothing"
		}
		reason := fmt.Sprintf("granted %s; the server needs %s", granted, strings.Join(g.needed, " "))
		s.signInFailed(id, reason, missing)
		s.mirror()
		return missing, nil
	}
	s.mirror() // tells the hub of the state and the facts
	s.ended.Notify()
	s.m.nudge() // the next automatic sign-in, if any
	return nil, nil
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
