package oauthflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// resourceMetadata is the part of RFC 9728 protected resource metadata used.
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// serverMetadata is the part of RFC 8414 (or OpenID Connect discovery)
// authorization server metadata used.
type serverMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RegistrationEndpoint              string   `json:"registration_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ClientIDMetadataDocumentSupported bool     `json:"client_id_metadata_document_supported"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"` // RFC 8628 §4
	// RFC 9207 §3: the authorization response carries iss.
	IssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// discovery is what discovery found out about a server's authorization.
type discovery struct {
	metadataURL    string   // where the protected resource metadata came from, or ""
	resource       string   // the resource identifier (RFC 8707) to ask tokens for
	resourceScopes []string // the protected resource's scopes_supported
	issuer         string   // the authorization server's issuer identifier
	as             serverMetadata
	asFound        bool    // the metadata document was found (not the fallback endpoints)
	preset         *Preset // the provider's, if one matches
	at             time.Time
}

// discoveryTTL is how long discovery results are reused.
const discoveryTTL = time.Hour

// ErrDiscovery is wrapped by discovery failures.
var ErrDiscovery = errors.New("oauth discovery failed")

// discover finds the authorization server of a server and its endpoints, in
// the order of the MCP authorization spec (2025-11-25, "Authorization Server
// Discovery"), with the fallbacks of 2025-03-26 for servers that publish no
// metadata, and the configured endpoints over whatever was found.
func (s *server) discover(ctx context.Context, cfg Config, ch *Challenge) (*discovery, error) {
	d := &discovery{at: s.m.now()}
	serverURL, err := url.Parse(cfg.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("%w: server url: %w", ErrDiscovery, err)
	}

	// 1. Protected resource metadata (RFC 9728 §3): the challenge's URL, the
	// path-aware well-known URL, the root one.
	var candidates []string
	if ch != nil && ch.ResourceMetadata != "" {
		candidates = append(candidates, ch.ResourceMetadata)
	}
	origin := serverURL.Scheme + "://" + serverURL.Host
	if p := strings.TrimSuffix(serverURL.EscapedPath(), "/"); p != "" {
		candidates = append(candidates, origin+"/.well-known/oauth-protected-resource"+p)
	}
	candidates = append(candidates, origin+"/.well-known/oauth-protected-resource")
	var prm resourceMetadata
	for _, c := range slices.Compact(candidates) {
		found, err := s.fetchJSON(ctx, c, &prm)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		if err := resourceMatches(prm.Resource, cfg.ServerURL); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrDiscovery, c, err)
		}
		if len(prm.AuthorizationServers) == 0 {
			return nil, fmt.Errorf("%w: %s lists no authorization_servers", ErrDiscovery, c)
		}
		d.metadataURL, d.resource, d.resourceScopes = c, prm.Resource, prm.ScopesSupported
		d.issuer = prm.AuthorizationServers[0]
		s.event("info", "protected resource metadata from "+c+": authorization server "+d.issuer)
		break
	}
	legacy := false
	if d.metadataURL == "" {
		// 2025-03-26: without resource metadata, the server's origin is the
		// authorization server.
		d.issuer, legacy = origin, true
		s.event("info", "no protected resource metadata; trying the server's origin "+origin+" as the authorization server")
	}
	if cfg.DynamicRegistration != nil && cfg.DynamicRegistration.Issuer != "" {
		d.issuer, legacy = cfg.DynamicRegistration.Issuer, false
	}
	d.preset = s.m.presetFor(d.issuer, cfg.ServerURL)
	if d.preset != nil {
		s.event("info", "using the "+d.preset.Name+" preset")
	}
	if d.resource == "" {
		d.resource = CanonicalResource(cfg.ServerURL)
	}

	// 2. Authorization server metadata, unless the configuration gives the
	// endpoints.
	if cfg.AuthorizationEndpoint == "" || cfg.TokenEndpoint == "" {
		if err := s.discoverServer(ctx, d, legacy); err != nil {
			return nil, err
		}
	}
	if !d.asFound {
		// 2025-03-26: default endpoints at the authorization server's origin.
		u, err := url.Parse(d.issuer)
		if err != nil {
			return nil, fmt.Errorf("%w: issuer %q: %w", ErrDiscovery, d.issuer, err)
		}
		base := u.Scheme + "://" + u.Host
		d.as = serverMetadata{AuthorizationEndpoint: base + "/authorize", TokenEndpoint: base + "/token", RegistrationEndpoint: base + "/register"}
		if cfg.AuthorizationEndpoint == "" || cfg.TokenEndpoint == "" {
			s.event("info", "no authorization server metadata; using "+base+"/authorize, /token and /register")
		}
	}
	if cfg.AuthorizationEndpoint != "" {
		d.as.AuthorizationEndpoint = cfg.AuthorizationEndpoint
	}
	if cfg.TokenEndpoint != "" {
		d.as.TokenEndpoint = cfg.TokenEndpoint
	}
	if cfg.RevocationEndpoint != "" {
		d.as.RevocationEndpoint = cfg.RevocationEndpoint
	}
	if cfg.DynamicRegistration != nil && cfg.DynamicRegistration.RegistrationEndpoint != "" {
		d.as.RegistrationEndpoint = cfg.DynamicRegistration.RegistrationEndpoint
	}
	for _, e := range []string{d.as.AuthorizationEndpoint, d.as.TokenEndpoint, d.as.RegistrationEndpoint, d.as.RevocationEndpoint, d.as.DeviceAuthorizationEndpoint} {
		if e == "" {
			continue
		}
		if err := checkSecureURL(e); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDiscovery, err)
		}
	}
	return d, nil
}

// discoverServer fetches the authorization server metadata of d.issuer in
// the order of the MCP spec: for an issuer with a path, RFC 8414 with the
// path inserted, OpenID Connect with it inserted, OpenID Connect with it
// appended; for one without, RFC 8414 then OpenID Connect.
//
// The document's issuer must be the one the URL was built from (RFC 8414
// §3.3), except with legacy: a 2025-03-26 server without resource metadata
// names no issuer at all, only its origin, where that revision looks for
// the metadata ("Server Metadata Discovery"); an issuer that differs is
// then used, with a warning.
func (s *server) discoverServer(ctx context.Context, d *discovery, legacy bool) error {
	u, err := url.Parse(d.issuer)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: issuer %q is not a URL", ErrDiscovery, d.issuer)
	}
	origin := u.Scheme + "://" + u.Host
	var candidates []string
	if p := strings.TrimSuffix(u.EscapedPath(), "/"); p != "" {
		candidates = []string{
			origin + "/.well-known/oauth-authorization-server" + p,
			origin + "/.well-known/openid-configuration" + p,
			origin + p + "/.well-known/openid-configuration",
		}
	} else {
		candidates = []string{origin + "/.well-known/oauth-authorization-server", origin + "/.well-known/openid-configuration"}
	}
	for _, c := range candidates {
		var meta serverMetadata
		found, err := s.fetchJSON(ctx, c, &meta)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		switch {
		case sameIssuer(meta.Issuer, d.issuer):
		case d.preset.issuerMatches(meta.Issuer, d.issuer):
			s.event("info", fmt.Sprintf("%s names the issuer %q, a template for %s (%s)", c, meta.Issuer, d.issuer, d.preset.Name))
			meta.Issuer = d.issuer
		case legacy && meta.Issuer != "":
			s.event("warn", fmt.Sprintf("%s names the issuer %q, not the server's origin %s: accepted, as the 2025-03-26 revision finds the metadata at the origin; newer servers publish resource metadata instead", c, meta.Issuer, d.issuer))
		default:
			return fmt.Errorf("%w: %s says its issuer is %q, but it was looked up for %q (RFC 8414 §3.3)", ErrDiscovery, c, meta.Issuer, d.issuer)
		}
		if meta.AuthorizationEndpoint == "" || meta.TokenEndpoint == "" {
			return fmt.Errorf("%w: %s has no authorization or token endpoint", ErrDiscovery, c)
		}
		d.as, d.asFound = meta, true
		d.issuer = meta.Issuer
		if p := s.m.presetFor(d.issuer, ""); p != nil && d.preset == nil {
			d.preset = p
			s.event("info", "using the "+p.Name+" preset")
		}
		s.event("info", "authorization server metadata from "+c)
		return nil
	}
	return nil
}

// maxMetadataRedirects bounds the redirects a metadata GET follows.
const maxMetadataRedirects = 5

// fetchJSON GETs a metadata document. It reports false (and no error) when
// there is none at url, so that discovery tries the next place: an error
// status, or a page that is not JSON (a web app answering every path).
// It follows a few redirects (each to an https URL, or loopback), and
// refuses a loop, and a document that says it is JSON but is not.
func (s *server) fetchJSON(ctx context.Context, u string, out any) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	at := u
	for hops := 0; ; hops++ {
		if err := checkSecureURL(at); err != nil {
			return false, fmt.Errorf("%w: %w", ErrDiscovery, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, at, nil)
		if err != nil {
			return false, fmt.Errorf("%w: %w", ErrDiscovery, err)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		resp, err := s.m.http.Do(req)
		if err != nil {
			s.event("warn", "GET "+at+": "+err.Error())
			return false, fmt.Errorf("%w: %s: %w", ErrDiscovery, at, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return false, fmt.Errorf("%w: %s: %w", ErrDiscovery, at, err)
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			next, err := req.URL.Parse(loc)
			if err != nil {
				return false, fmt.Errorf("%w: %s redirects to %q: %w", ErrDiscovery, at, loc, err)
			}
			if hops+1 >= maxMetadataRedirects {
				return false, fmt.Errorf("%w: %s redirects in a loop (%d redirects)", ErrDiscovery, u, hops+1)
			}
			s.event("info", fmt.Sprintf("GET %s: %d, to %s", at, resp.StatusCode, next))
			at = next.String()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			s.event("info", fmt.Sprintf("GET %s: %d", at, resp.StatusCode))
			return false, nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if mt == "application/json" || strings.HasSuffix(mt, "+json") {
				return false, fmt.Errorf("%w: %s answered JSON that cannot be read: %w", ErrDiscovery, at, err)
			}
			s.event("warn", "GET "+at+": not JSON metadata ("+mt+")")
			return false, nil
		}
		return true, nil
	}
}

// CanonicalResource is a server URL as RFC 8707 resource identifier, in the
// form the MCP spec asks for: scheme and host in lower case, no default port,
// no fragment, no trailing slash on an empty path.
func CanonicalResource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if h, p, err := net.SplitHostPort(u.Host); err == nil && (u.Scheme == "https" && p == "443" || u.Scheme == "http" && p == "80") {
		u.Host = h
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "/" {
		u.Path, u.RawPath = "", ""
	}
	return u.String()
}

// resourceMatches checks that a protected resource's metadata is about the
// server: the same origin, and a path that is a prefix of the server's
// (RFC 9728 §3.3 asks for the resource identifier to match).
func resourceMatches(resource, serverURL string) error {
	if resource == "" {
		return errors.New("the metadata names no resource")
	}
	r, err := url.Parse(CanonicalResource(resource))
	if err != nil {
		return fmt.Errorf("resource %q: %w", resource, err)
	}
	s, _ := url.Parse(CanonicalResource(serverURL))
	if r.Scheme != s.Scheme || r.Host != s.Host {
		return fmt.Errorf("the metadata is for %s, not for %s", resource, serverURL)
	}
	rp, sp := strings.TrimSuffix(r.Path, "/"), strings.TrimSuffix(s.Path, "/")
	if rp != "" && sp != rp && !strings.HasPrefix(sp, rp+"/") {
		return fmt.Errorf("the metadata is for %s, not for %s", resource, serverURL)
	}
	return nil
}

// sameIssuer compares issuer identifiers exactly, a lone trailing slash
// aside.
func sameIssuer(a, b string) bool {
	return a != "" && strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// checkSecureURL refuses OAuth endpoints over plain HTTP, but on loopback
// (OAuth 2.1 §1.5).
func checkSecureURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" || net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("refusing %s: OAuth needs https except on this machine", raw)
	}
	return fmt.Errorf("refusing %s: want an https URL", raw)
}

// discovery returns the server's discovery, from the cache when the
// challenge (if any) points where the cached one came from.
func (s *server) discovery(ctx context.Context, ch *Challenge) (*discovery, error) {
	s.mu.Lock()
	d, cfg := s.disc, s.cfg
	if ch == nil {
		ch = s.challenge
	}
	s.mu.Unlock()
	if d != nil && s.m.now().Sub(d.at) < discoveryTTL && (ch == nil || ch.ResourceMetadata == "" || ch.ResourceMetadata == d.metadataURL) {
		return d, nil
	}
	d, err := s.discover(ctx, cfg, ch)
	if err != nil {
		s.event("error", err.Error())
		return nil, err
	}
	s.mu.Lock()
	prev := s.disc
	s.disc = d
	s.mu.Unlock()
	if prev != nil && !sameIssuer(prev.issuer, d.issuer) {
		// 2026-07-28, "Authorization Server Binding": the credentials of
		// the old one are not used with the new one (clients are kept by
		// issuer; tokens go only where they were issued).
		s.event("warn", "the server moved from the authorization server "+prev.issuer+" to "+d.issuer)
	}
	return d, nil
}

// forgetDiscovery makes the next discovery look again, after the server
// refused a token: its resource metadata may name another authorization
// server now.
func (s *server) forgetDiscovery() {
	s.mu.Lock()
	if s.disc != nil {
		d := *s.disc
		d.at = time.Time{}
		s.disc = &d
	}
	s.mu.Unlock()
}
