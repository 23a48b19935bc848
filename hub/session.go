package hub

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"
)

// This file is the dashboard's sessions. A browser gets a session in a
// cookie (HttpOnly: no script reads it; SameSite=Strict: no other site's
// page sends it, RFC 6265bis §8.8.2; host-only, no Domain: only this host
// gets it). Every form of the dashboard carries a CSRF token tied to the
// session, which no page of another origin can read. Without bearer keys a
// browser of this machine gets a session at its first page, as any local
// program may use the hub; with bearer keys, only through a one-time link
// that the tray (or `mcptray dashboard`, with a key) makes.
//
// Cookies do not isolate ports (RFC 6265 §8.5): another program on this
// host is sent the cookie if the browser visits it. Its name carries the
// hub's port, so that two hubs keep two sessions.

// Bounds of the sessions.
const (
	sessionLife  = 12 * time.Hour // a session unused this long ends
	maxPageSess  = 64             // the oldest goes when a new one would be more
	linkLife     = 2 * time.Minute
	maxLinks     = 16
	sessionBytes = 32
)

// pageSessions are the dashboard's sessions and one-time links.
type pageSessions struct {
	secret []byte // the key of the CSRF tokens, this process's own

	mu       sync.Mutex           // guards sessions, links and flashes
	sessions map[string]time.Time // session id → when it ends
	links    map[string]linkGrant // one-time link token → what it grants
	flashes  map[string]flash     // session id → the message of its last action
}

// linkGrant is what a one-time link opens, and until when.
type linkGrant struct {
	next    string // the dashboard page it opens
	expires time.Time
}

// flash is the outcome of a form, shown once on the next page.
type flash struct {
	Text string
	Bad  bool
}

func newPageSessions() *pageSessions {
	return &pageSessions{secret: randomBytes(32), sessions: map[string]time.Time{}, links: map[string]linkGrant{}, flashes: map[string]flash{}}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomToken() string { return base64.RawURLEncoding.EncodeToString(randomBytes(sessionBytes)) }

// start makes a session.
func (p *pageSessions) start(now time.Time) string {
	id := randomToken()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, end := range p.sessions {
		if now.After(end) {
			delete(p.sessions, k)
			delete(p.flashes, k)
		}
	}
	for len(p.sessions) >= maxPageSess {
		var oldest string
		for k, end := range p.sessions {
			if oldest == "" || end.Before(p.sessions[oldest]) {
				oldest = k
			}
		}
		delete(p.sessions, oldest)
		delete(p.flashes, oldest)
	}
	p.sessions[id] = now.Add(sessionLife)
	return id
}

// valid reports whether id is a live session, and extends it.
func (p *pageSessions) valid(id string, now time.Time) bool {
	if id == "" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	end, ok := p.sessions[id]
	if !ok || now.After(end) {
		delete(p.sessions, id)
		return false
	}
	p.sessions[id] = now.Add(sessionLife)
	return true
}

// csrf is the CSRF token of a session.
func (p *pageSessions) csrf(id string) string {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte("csrf:" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether token is the session's.
func (p *pageSessions) checkCSRF(id, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(p.csrf(id)), []byte(token)) == 1
}

// link makes a one-time link's token, which opens next.
func (p *pageSessions) link(next string, now time.Time) string {
	t := randomToken()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, g := range p.links {
		if now.After(g.expires) || len(p.links) >= maxLinks {
			delete(p.links, k)
		}
	}
	p.links[t] = linkGrant{next: next, expires: now.Add(linkLife)}
	return t
}

// use spends a one-time link's token: it works once, within linkLife.
func (p *pageSessions) use(token string, now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, g := range p.links {
		if subtle.ConstantTimeCompare([]byte(k), []byte(token)) == 1 {
			delete(p.links, k)
			return g.next, now.Before(g.expires)
		}
	}
	return "", false
}

// setFlash keeps the message of a session's last action, for its next page.
func (p *pageSessions) setFlash(id, text string, bad bool) {
	p.mu.Lock()
	p.flashes[id] = flash{text, bad}
	p.mu.Unlock()
}

// takeFlash returns the message for a session's page, once.
func (p *pageSessions) takeFlash(id string) flash {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.flashes[id]
	delete(p.flashes, id)
	return f
}

// cookieName is the session cookie of the hub listening on addr.
func cookieName(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return "mcptray_session_" + port
}

// sessionCookie is a session's cookie.
func sessionCookie(name, id string) *http.Cookie {
	return &http.Cookie{Name: name, Value: id, Path: "/", MaxAge: int(sessionLife / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode}
}
