package oauthflow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAS is an authorization server and a protected resource in one
// httptest server, with switches for what real servers cannot be made to do
// on demand. It checks what a real one would: PKCE verifiers, redirect URIs,
// resources, refresh token rotation.
type fakeAS struct {
	t   *testing.T
	srv *httptest.Server

	// Switches, set before use.
	prmAt          string // "header", "path", "root" or "" (none)
	asAt           string // "oauth", "oidc", "oidc-appended" or "" (none)
	issuerPath     string // the issuer's path, e.g. "/tenant1"
	wrongIssuer    bool   // the metadata names another issuer
	methods        []string
	noRegistration bool
	requireIAT     string // an initial access token /register demands
	issSupported   bool
	issMode        string // "right", "wrong", "missing"
	scopesSupport  []string
	resourceScopes []string
	accessTTL      time.Duration
	needScope      string // the protected resource needs this scope (step-up)
	revocation     bool

	mu            sync.Mutex // guards the maps and slices below
	clients       map[string]fakeClient
	codes         map[string]fakeCode
	access        map[string]fakeGrant // access token → grant
	refresh       map[string]fakeGrant // live refresh tokens
	usedRefresh   map[string]bool
	revoked       []string
	registrations []map[string]any
	authRequests  []url.Values
	tokenRequests []url.Values

	refreshes atomic.Int32
}

type fakeClient struct {
	id, secret, method string
	redirects          []string
}

type fakeCode struct {
	client, redirect, challenge, resource string
	scopes                                []string
}

type fakeGrant struct {
	client, resource string
	scopes           []string
	expiry           time.Time
}

func newFakeAS(t *testing.T) *fakeAS {
	f := &fakeAS{
		t: t, prmAt: "path", asAt: "oauth", methods: []string{"S256"}, issMode: "right",
		accessTTL: time.Hour, revocation: true,
		clients: map[string]fakeClient{}, codes: map[string]fakeCode{}, access: map[string]fakeGrant{},
		refresh: map[string]fakeGrant{}, usedRefresh: map[string]bool{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAS) url() string    { return f.srv.URL }
func (f *fakeAS) mcpURL() string { return f.srv.URL + "/mcp" }
func (f *fakeAS) issuer() string { return f.srv.URL + f.issuerPath }
func (f *fakeAS) prmURL() string { return f.srv.URL + "/.well-known/oauth-protected-resource/mcp" }
func (f *fakeAS) addClient(c fakeClient) {
	f.mu.Lock()
	f.clients[c.id] = c
	f.mu.Unlock()
}

func (f *fakeAS) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/mcp" || strings.HasPrefix(p, "/mcp/"):
		f.protected(w, r)
	case strings.HasPrefix(p, "/.well-known/oauth-protected-resource"):
		want := map[string]string{"path": "/.well-known/oauth-protected-resource/mcp", "root": "/.well-known/oauth-protected-resource", "header": "/meta/prm"}[f.prmAt]
		if p != want {
			http.NotFound(w, r)
			return
		}
		f.writePRM(w)
	case p == "/meta/prm" && f.prmAt == "header":
		f.writePRM(w)
	case strings.Contains(p, "/.well-known/"):
		f.metadata(w, r)
	case p == "/authorize":
		f.authorize(w, r)
	case p == "/token":
		f.token(w, r)
	case p == "/register" && !f.noRegistration:
		f.register(w, r)
	case p == "/revoke" && f.revocation:
		r.ParseForm()
		f.mu.Lock()
		f.revoked = append(f.revoked, r.Form.Get("token"))
		delete(f.refresh, r.Form.Get("token"))
		delete(f.access, r.Form.Get("token"))
		f.mu.Unlock()
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAS) writePRM(w http.ResponseWriter) {
	json.NewEncoder(w).Encode(map[string]any{
		"resource":              f.mcpURL(),
		"authorization_servers": []string{f.issuer()},
		"scopes_supported":      f.resourceScopes,
	})
}

func (f *fakeAS) metadata(w http.ResponseWriter, r *http.Request) {
	ip := f.issuerPath
	want := map[string]string{
		"oauth":         "/.well-known/oauth-authorization-server" + ip,
		"oidc":          "/.well-known/openid-configuration" + ip,
		"oidc-appended": ip + "/.well-known/openid-configuration",
	}[f.asAt]
	if r.URL.Path != want {
		http.NotFound(w, r)
		return
	}
	iss := f.issuer()
	if f.wrongIssuer {
		iss = "https://evil.example"
	}
	m := map[string]any{
		"issuer":                   iss,
		"authorization_endpoint":   f.url() + "/authorize",
		"token_endpoint":           f.url() + "/token",
		"response_types_supported": []string{"code"},
		"authorization_response_iss_parameter_supported": f.issSupported,
	}
	if f.methods != nil {
		m["code_challenge_methods_supported"] = f.methods
	}
	if !f.noRegistration {
		m["registration_endpoint"] = f.url() + "/register"
	}
	if f.revocation {
		m["revocation_endpoint"] = f.url() + "/revoke"
	}
	if f.scopesSupport != nil {
		m["scopes_supported"] = f.scopesSupport
	}
	json.NewEncoder(w).Encode(m)
}

func (f *fakeAS) register(w http.ResponseWriter, r *http.Request) {
	if f.requireIAT != "" && r.Header.Get("Authorization") != "Bearer "+f.requireIAT {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_token"})
		return
	}
	var meta map[string]any
	json.NewDecoder(r.Body).Decode(&meta)
	f.mu.Lock()
	f.registrations = append(f.registrations, meta)
	id := fmt.Sprintf("client-%d", len(f.registrations))
	var redirects []string
	for _, u := range meta["redirect_uris"].([]any) {
		redirects = append(redirects, u.(string))
	}
	f.clients[id] = fakeClient{id: id, method: "none", redirects: redirects}
	f.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"client_id": id, "token_endpoint_auth_method": "none", "redirect_uris": redirects})
}

func (f *fakeAS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.authRequests = append(f.authRequests, q)
	c, ok := f.clients[q.Get("client_id")]
	f.mu.Unlock()
	if !ok || !slices.Contains(c.redirects, q.Get("redirect_uri")) {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("response_type") != "code" {
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	}
	code := randomString()
	f.mu.Lock()
	f.codes[code] = fakeCode{client: c.id, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), resource: q.Get("resource"), scopes: strings.Fields(q.Get("scope"))}
	f.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	switch f.issMode {
	case "right":
		v.Set("iss", f.issuer())
	case "wrong":
		v.Set("iss", "https://evil.example")
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (f *fakeAS) tokenError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (f *fakeAS) authClient(r *http.Request) (fakeClient, bool) {
	id := r.Form.Get("client_id")
	secret := r.Form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	f.mu.Lock()
	c, ok := f.clients[id]
	f.mu.Unlock()
	return c, ok && (c.secret == "" || c.secret == secret)
}

func (f *fakeAS) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f.mu.Lock()
	f.tokenRequests = append(f.tokenRequests, r.Form)
	f.mu.Unlock()
	c, ok := f.authClient(r)
	if !ok {
		f.tokenError(w, "invalid_client")
		return
	}
	var g fakeGrant
	switch r.Form.Get("grant_type") {
	case "authorization_code":
		f.mu.Lock()
		code, ok := f.codes[r.Form.Get("code")]
		delete(f.codes, r.Form.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		switch {
		case !ok || code.client != c.id || code.redirect != r.Form.Get("redirect_uri"):
			f.tokenError(w, "invalid_grant")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != code.challenge:
			f.tokenError(w, "invalid_grant") // the verifier does not match the challenge
			return
		case code.resource != r.Form.Get("resource"):
			f.tokenError(w, "invalid_target")
			return
		}
		g = fakeGrant{client: c.id, resource: code.resource, scopes: code.scopes}
	case "refresh_token":
		rt := r.Form.Get("refresh_token")
		f.mu.Lock()
		old, ok := f.refresh[rt]
		reused := f.usedRefresh[rt]
		delete(f.refresh, rt)
		f.usedRefresh[rt] = true
		f.mu.Unlock()
		if reused || !ok || old.client != c.id {
			f.tokenError(w, "invalid_grant")
			return
		}
		if r.Form.Get("resource") != old.resource {
			f.tokenError(w, "invalid_target")
			return
		}
		f.refreshes.Add(1)
		g = old
	default:
		f.tokenError(w, "unsupported_grant_type")
		return
	}
	g.expiry = time.Now().Add(f.accessTTL)
	at, rt := "at-"+randomString(), "rt-"+randomString()
	f.mu.Lock()
	f.access[at] = g
	f.refresh[rt] = g
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": at, "token_type": "Bearer", "refresh_token": rt,
		"expires_in": int(f.accessTTL.Seconds()), "scope": strings.Join(g.scopes, " "),
	})
}

// protected is the MCP server: 200 with a valid token, 401 without.
func (f *fakeAS) protected(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	g, ok := f.access[tok]
	f.mu.Unlock()
	if !ok || time.Now().After(g.expiry) {
		meta := f.prmURL()
		if f.prmAt == "header" {
			meta = f.url() + "/meta/prm"
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer resource_metadata=%q, error="invalid_token"`, meta))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if f.needScope != "" && !slices.Contains(g.scopes, f.needScope) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, f.needScope))
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"ok":true}`)
}

// memStore is a SecretStore in memory.
type memStore struct {
	mu   sync.Mutex // guards data
	data map[string][]byte
}

func (s *memStore) Get(_ context.Context, k string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[k]
	return slices.Clone(v), ok, nil
}

func (s *memStore) Set(_ context.Context, k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		s.data = map[string][]byte{}
	}
	s.data[k] = slices.Clone(v)
	return nil
}

// Changes never fires: nothing deletes a test's secrets behind its back.
func (s *memStore) Changes() <-chan struct{} { return nil }

func (s *memStore) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, k)
	return nil
}
