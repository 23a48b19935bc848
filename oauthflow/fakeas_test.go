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
	// alwaysInsufficient: it answers insufficient_scope whatever the
	// token holds.
	alwaysInsufficient bool
	revocation         bool

	// The switches of issue 9's cases.
	registeredOnly bool          // like Hydra: a client may ask only for the scopes it registered
	rfc7592        bool          // registration answers carry RFC 7592's registration_client_uri
	untick         []string      // the user unticks these scopes at consent
	deny           bool          // the user declines: error=access_denied
	slowRefresh    time.Duration // a refresh rotates the token, then answers this late
	familyRevoke   bool          // a spent refresh token coming back revokes the whole grant (Notion)
	prmIssuer      string        // the resource metadata names this issuer instead of its own
	trust          []*fakeAS     // whose tokens the protected resource takes; itself when nil
	device         bool          // offers RFC 8628's device authorization
	grantNothing   bool          // token answers say "scope": ""
	garbage        string        // "metadata" or "token": answers that are not JSON
	redirectLoop   string        // "metadata" or "token": answers that redirect to themselves
	issuerFlip     atomic.Bool   // the metadata names another issuer from now on
	errorsAs200    bool          // token errors come with HTTP 200 (GitHub, Slack)
	refuseResource bool          // a request with resource is refused (Microsoft Entra)
	issuerTemplate string        // the metadata names this issuer (Entra's {tenantid})
	offlineRefused bool          // offline_access is an invalid_scope (Google)
	needAudience   bool          // tokens are bound by the audience parameter (Auth0)
	iatScheme      string        // the scheme the initial access token must come with (Okta: SSWS)
	endpointsAt    *fakeAS       // its endpoints are served by this other server (Atlassian)
	cimd           bool          // advertises Client ID Metadata Documents; published ones are addClient'ed by URL
	basicOnly      bool          // confidential clients authenticate with HTTP Basic only, at every endpoint
	revokeAuth     atomic.Int32  // revocation requests whose client authenticated

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

	refreshes      atomic.Int32
	metadataHits   atomic.Int32
	registrationsN atomic.Int32
	deviceCodes    map[string]*fakeDevice // guarded by mu
	regTokens      map[string]string      // client id → registration access token; guarded by mu
	familyOf       map[string]string      // refresh token → the grant's family; guarded by mu
	revokedFamily  map[string]bool        // guarded by mu
	rotated        chan struct{}          // a slow refresh rotated, and now waits; nil unless slowRefresh
}

type fakeDevice struct {
	client, userCode string
	scopes           []string
	approved, denied bool
}

type fakeClient struct {
	id, secret, method string
	redirects          []string
	scopes             []string // registered; nil: any
}

type fakeCode struct {
	client, redirect, challenge, resource string
	scopes                                []string
}

// tokenSeen reports whether any request this server got carried tok.
func (f *fakeAS) tokenSeen(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, reqs := range [][]url.Values{f.tokenRequests, f.authRequests} {
		for _, q := range reqs {
			for _, vs := range q {
				if slices.Contains(vs, tok) {
					return true
				}
			}
		}
	}
	return slices.Contains(f.revoked, tok)
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
		deviceCodes: map[string]*fakeDevice{}, regTokens: map[string]string{},
		familyOf: map[string]string{}, revokedFamily: map[string]bool{},
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
	case p == "/device" && f.device:
		f.deviceAuthorization(w, r)
	case p == "/register" && !f.noRegistration:
		f.register(w, r)
	case strings.HasPrefix(p, "/register/") && f.rfc7592:
		f.configuration(w, r)
	case p == "/revoke" && f.revocation:
		r.ParseForm()
		if _, ok := f.authClient(r); ok {
			f.revokeAuth.Add(1)
		} else if f.basicOnly {
			f.tokenError(w, "invalid_client")
			return
		}
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
	iss := f.issuer()
	if f.prmIssuer != "" {
		iss = f.prmIssuer
	}
	json.NewEncoder(w).Encode(map[string]any{
		"resource":              f.mcpURL(),
		"authorization_servers": []string{iss},
		"scopes_supported":      f.resourceScopes,
	})
}

// endpoints is the server whose /authorize, /token, ... the metadata
// names.
func (f *fakeAS) endpoints() string {
	if f.endpointsAt != nil {
		return f.endpointsAt.url()
	}
	return f.url()
}

func (f *fakeAS) metadata(w http.ResponseWriter, r *http.Request) {
	f.metadataHits.Add(1)
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
	switch f.redirectLoop {
	case "metadata":
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
		return
	}
	if f.garbage == "metadata" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "<html>\x00\xff not metadata")
		return
	}
	iss := f.issuer()
	switch {
	case f.wrongIssuer:
		iss = "https://evil.example"
	case f.issuerFlip.Load():
		iss = f.url() + "/someone-else"
	case f.issuerTemplate != "":
		iss = f.issuerTemplate
	}
	e := f.endpoints()
	m := map[string]any{
		"issuer":                   iss,
		"authorization_endpoint":   e + "/authorize",
		"token_endpoint":           e + "/token",
		"response_types_supported": []string{"code"},
		"authorization_response_iss_parameter_supported": f.issSupported,
	}
	if f.methods != nil {
		m["code_challenge_methods_supported"] = f.methods
	}
	if !f.noRegistration {
		m["registration_endpoint"] = e + "/register"
	}
	if f.revocation {
		m["revocation_endpoint"] = e + "/revoke"
	}
	if f.device {
		m["device_authorization_endpoint"] = e + "/device"
	}
	if f.cimd {
		m["client_id_metadata_document_supported"] = true
	}
	if f.scopesSupport != nil {
		m["scopes_supported"] = f.scopesSupport
	}
	json.NewEncoder(w).Encode(m)
}

func (f *fakeAS) register(w http.ResponseWriter, r *http.Request) {
	want := f.requireIAT
	scheme := "Bearer "
	if f.iatScheme != "" {
		scheme = f.iatScheme + " "
	}
	if want != "" && r.Header.Get("Authorization") != scheme+want {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_token"})
		return
	}
	var meta map[string]any
	json.NewDecoder(r.Body).Decode(&meta)
	f.registrationsN.Add(1)
	f.mu.Lock()
	f.registrations = append(f.registrations, meta)
	id := fmt.Sprintf("client-%d", len(f.registrations))
	c := fakeClient{id: id, method: "none", redirects: toStrings(meta["redirect_uris"])}
	if sc, ok := meta["scope"].(string); ok {
		c.scopes = strings.Fields(sc)
	} else if f.registeredOnly {
		c.scopes = []string{"offline_access"} // Hydra's default, less openid
	}
	f.clients[id] = c
	answer := map[string]any{"client_id": id, "token_endpoint_auth_method": "none", "redirect_uris": c.redirects}
	if c.scopes != nil {
		answer["scope"] = strings.Join(c.scopes, " ")
	}
	if f.rfc7592 {
		tok := "reg-" + randomString()
		f.regTokens[id] = tok
		answer["registration_client_uri"] = f.url() + "/register/" + id
		answer["registration_access_token"] = tok
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(answer)
}

// configuration is RFC 7592's client configuration endpoint: read and
// update.
func (f *fakeAS) configuration(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/register/")
	f.mu.Lock()
	c, ok := f.clients[id]
	tok := f.regTokens[id]
	f.mu.Unlock()
	if !ok || tok == "" || r.Header.Get("Authorization") != "Bearer "+tok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodPut {
		var meta map[string]any
		json.NewDecoder(r.Body).Decode(&meta)
		if meta["client_id"] != id {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if sc, ok := meta["scope"].(string); ok {
			c.scopes = strings.Fields(sc)
		}
		c.redirects = toStrings(meta["redirect_uris"])
		f.mu.Lock()
		f.clients[id] = c
		f.registrations = append(f.registrations, meta)
		f.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"client_id": id, "scope": strings.Join(c.scopes, " "), "redirect_uris": c.redirects,
		"registration_client_uri": f.url() + "/register/" + id, "registration_access_token": tok})
}

// forget is a restart with an empty database: every client, grant and
// token is gone.
func (f *fakeAS) forget() {
	f.mu.Lock()
	f.clients, f.codes, f.access, f.refresh, f.regTokens = map[string]fakeClient{}, map[string]fakeCode{}, map[string]fakeGrant{}, map[string]fakeGrant{}, map[string]string{}
	f.mu.Unlock()
}

// redirectBack sends the browser to the redirect URI with the answer.
func (f *fakeAS) redirectBack(w http.ResponseWriter, r *http.Request, q url.Values, set url.Values) {
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := back.Query()
	for k, vs := range set {
		v[k] = vs
	}
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
	scopes := strings.Fields(q.Get("scope"))
	fail := func(code, desc string) {
		f.redirectBack(w, r, q, url.Values{"error": {code}, "error_description": {desc}})
	}
	switch {
	case f.refuseResource && q.Has("resource"):
		fail("invalid_target", "AADSTS9010010: The resource parameter provided in the request doesn't match with the requested scopes.")
		return
	case f.offlineRefused && slices.Contains(scopes, "offline_access"):
		fail("invalid_scope", "Some requested scopes were invalid: {invalid=[offline_access]}")
		return
	case f.registeredOnly && c.scopes != nil && len(missingScopes(scopes, c.scopes)) > 0:
		fail("invalid_scope", "The requested scope is invalid, unknown, or malformed. The OAuth 2.0 Client is not allowed to request scope '"+strings.Join(missingScopes(scopes, c.scopes), " ")+"'.")
		return
	case f.needAudience && q.Get("audience") == "":
		fail("invalid_request", "no audience")
		return
	case f.deny:
		fail("access_denied", "The resource owner denied the request")
		return
	}
	granted := slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return slices.Contains(f.untick, s) })
	resource := q.Get("resource")
	if f.needAudience {
		resource = q.Get("audience")
	}
	code := randomString()
	f.mu.Lock()
	f.codes[code] = fakeCode{client: c.id, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), resource: resource, scopes: granted}
	f.mu.Unlock()
	f.redirectBack(w, r, q, url.Values{"code": {code}})
}

func (f *fakeAS) tokenError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	if f.errorsAs200 {
		// Slack's form of it.
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code})
		return
	}
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
	_, _, basic := r.BasicAuth()
	f.mu.Lock()
	c, ok := f.clients[id]
	f.mu.Unlock()
	if f.basicOnly && c.secret != "" && !basic {
		return c, false
	}
	return c, ok && (c.secret == "" || c.secret == secret)
}

func (f *fakeAS) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f.mu.Lock()
	f.tokenRequests = append(f.tokenRequests, r.Form)
	f.mu.Unlock()
	switch {
	case f.redirectLoop == "token":
		http.Redirect(w, r, r.URL.Path, http.StatusTemporaryRedirect)
		return
	case f.garbage == "token":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "<html>Service Unavailable</html>")
		return
	}
	c, ok := f.authClient(r)
	if !ok {
		f.tokenError(w, "invalid_client")
		return
	}
	var g fakeGrant
	family := ""
	switch r.Form.Get("grant_type") {
	case "authorization_code":
		f.mu.Lock()
		code, ok := f.codes[r.Form.Get("code")]
		delete(f.codes, r.Form.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		resource := r.Form.Get("resource")
		if f.needAudience {
			resource = code.resource
		}
		switch {
		case !ok || code.client != c.id || code.redirect != r.Form.Get("redirect_uri"):
			f.tokenError(w, "invalid_grant")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != code.challenge:
			f.tokenError(w, "invalid_grant") // the verifier does not match the challenge
			return
		case code.resource != resource:
			f.tokenError(w, "invalid_target")
			return
		}
		g = fakeGrant{client: c.id, resource: code.resource, scopes: code.scopes}
		family = randomString()
	case "refresh_token":
		rt := r.Form.Get("refresh_token")
		f.mu.Lock()
		old, ok := f.refresh[rt]
		reused := f.usedRefresh[rt]
		family = f.familyOf[rt]
		if reused && f.familyRevoke {
			f.revokedFamily[family] = true
		}
		revoked := f.revokedFamily[family]
		delete(f.refresh, rt)
		f.usedRefresh[rt] = true
		f.mu.Unlock()
		resource := r.Form.Get("resource")
		if f.needAudience {
			resource = old.resource
		}
		if reused || revoked || !ok || old.client != c.id {
			f.tokenError(w, "invalid_grant")
			return
		}
		if resource != old.resource {
			f.tokenError(w, "invalid_target")
			return
		}
		f.refreshes.Add(1)
		g = old
	case deviceGrantType:
		f.mu.Lock()
		var dv *fakeDevice
		if d := f.deviceCodes[r.Form.Get("device_code")]; d != nil {
			cp := *d
			dv = &cp
		}
		f.mu.Unlock()
		switch {
		case dv == nil || dv.client != c.id:
			f.tokenError(w, "invalid_grant")
			return
		case dv.denied:
			f.tokenError(w, "access_denied")
			return
		case !dv.approved:
			f.tokenError(w, "authorization_pending")
			return
		}
		g = fakeGrant{client: c.id, resource: r.Form.Get("resource"), scopes: dv.scopes}
		family = randomString()
	default:
		f.tokenError(w, "unsupported_grant_type")
		return
	}
	g.expiry = time.Now().Add(f.accessTTL)
	at, rt := "at-"+randomString(), "rt-"+randomString()
	f.mu.Lock()
	f.access[at] = g
	f.refresh[rt] = g
	f.familyOf[rt] = family
	f.mu.Unlock()
	if f.slowRefresh > 0 && r.Form.Get("grant_type") == "refresh_token" {
		// The new tokens exist and the old refresh token is spent: a
		// client that stops listening now has lost them, unless it
		// keeps listening anyway.
		if f.rotated != nil {
			f.rotated <- struct{}{}
		}
		time.Sleep(f.slowRefresh)
	}
	scope := strings.Join(g.scopes, " ")
	if f.grantNothing {
		scope = ""
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": at, "token_type": "Bearer", "refresh_token": rt,
		"expires_in": int(f.accessTTL.Seconds()), "scope": scope,
	})
}

// deviceAuthorization is RFC 8628's device authorization endpoint; the
// user approves with approveDevice.
func (f *fakeAS) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	c, ok := f.authClient(r)
	if !ok {
		f.tokenError(w, "invalid_client")
		return
	}
	code, user := "dc-"+randomString(), "WDJB-MJHT"
	f.mu.Lock()
	f.deviceCodes[code] = &fakeDevice{client: c.id, userCode: user, scopes: strings.Fields(r.Form.Get("scope"))}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"device_code": code, "user_code": user, "verification_uri": f.url() + "/activate",
		"verification_uri_complete": f.url() + "/activate?user_code=" + user, "expires_in": 300, "interval": 1,
	})
}

// answerDevice is the user at the verification page.
func (f *fakeAS) answerDevice(userCode string, approve bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.deviceCodes {
		if d.userCode == userCode {
			d.approved, d.denied = approve, !approve
			return true
		}
	}
	return false
}

// protected is the MCP server: 200 with a valid token, 401 without.
func (f *fakeAS) protected(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	trust := f.trust
	if trust == nil {
		trust = []*fakeAS{f}
	}
	var g fakeGrant
	ok := false
	for _, as := range trust {
		as.mu.Lock()
		g, ok = as.access[tok]
		as.mu.Unlock()
		if ok {
			break
		}
	}
	if !ok || time.Now().After(g.expiry) {
		meta := f.prmURL()
		if f.prmAt == "header" {
			meta = f.url() + "/meta/prm"
		}
		h := fmt.Sprintf(`Bearer resource_metadata=%q, error="invalid_token"`, meta)
		if len(f.resourceScopes) > 0 {
			h += fmt.Sprintf(`, scope=%q`, strings.Join(f.resourceScopes, " "))
		}
		w.Header().Set("WWW-Authenticate", h)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if f.needScope != "" && (!slices.Contains(g.scopes, f.needScope) || f.alwaysInsufficient) {
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
