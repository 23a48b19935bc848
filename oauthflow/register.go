package oauthflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ErrNoClient is wrapped when there is no way to identify mcptray to an
// authorization server: no configured client, no Client ID Metadata
// Document support, no registration endpoint (GitHub, say).
var ErrNoClient = errors.New("no client identity")

// DefaultClientMetadataURL is mcptray's own Client ID Metadata Document
// (docs/oauth/client-metadata.json, served by the project's pages), used
// with authorization servers that advertise
// client_id_metadata_document_supported when no client is configured
// (2026-07-28 prefers these documents to dynamic registration). A build
// for a company sets its own:
//
//	go build -ldflags "-X github.com/mcptray/mcptray/oauthflow.DefaultClientMetadataURL=https://example.com/mcptray.json" ./app
var DefaultClientMetadataURL = "https://mcptray.github.io/mcptray/oauth/client-metadata.json"

// DefaultClientMetadataRedirectURIs are the redirect_uris of that
// document, comma-separated: mcptray identifies with it only when its
// redirect URI is one of them (authorization servers match them exactly).
// A build that sets DefaultClientMetadataURL sets these too.
var DefaultClientMetadataRedirectURIs = "http://localhost:3000/oauth/callback,http://127.0.0.1:3000/oauth/callback"

// clientFor returns how mcptray is known to the authorization server of d,
// in the order of the MCP spec: a configured client id, then a Client ID
// Metadata Document when the server supports them (the user's, then
// mcptray's own), then RFC 7591 registration, kept per issuer and made
// again when the issuer or the redirect URI changes, or when a sign-in
// needs scopes outside the registered ones (RFC 7592's update where the
// server offers it). With check (a sign-in about to open the browser), a
// stored registration is first checked to be still known, so that a
// server that forgot it (its database was reset) gets a new one instead of
// a dead client id in the browser.
//
// fresh reports a new registration made while tokens of the stored one
// are held: it is the pending sign-in's, and replaces the stored one only
// when that sign-in completes.
func (s *server) clientFor(ctx context.Context, d *discovery, scopes []string, check bool) (c *client, fresh bool, err error) {
	b, err := s.load(ctx)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	cfg := s.cfg
	stored := b.Clients[d.issuer]
	migratedSecret := b.ClientSecret
	staticIssuer := b.StaticIssuer
	holdsToken := b.Token != nil && stored != nil && b.Token.ClientID == stored.ClientID
	s.mu.Unlock()

	if cfg.ClientID != "" {
		// Pre-registered credentials belong to one authorization server
		// (2026-07-28, "Authorization Server Binding"): surface an error
		// rather than send them to another.
		if id, iss, ok := strings.Cut(staticIssuer, " "); ok && id == cfg.ClientID && !sameIssuer(iss, d.issuer) {
			return nil, false, fmt.Errorf("%w: the server now uses the authorization server %s, but oauth.clientId %s was registered at %s; register a client there and set oauth.clientId (and oauth.clientSecret)", ErrNoClient, d.issuer, cfg.ClientID, iss)
		}
		secret := cfg.ClientSecret
		if secret == "" {
			secret = migratedSecret
		}
		c := &client{ClientID: cfg.ClientID, ClientSecret: secret, RedirectURI: cfg.RedirectURI, Method: "static"}
		if secret == "" {
			c.AuthMethod = "none"
		}
		return c, false, nil
	}
	cimd := s.cimdURL(d)
	if stored != nil && stored.RedirectURI == cfg.RedirectURI && (stored.SecretExpiry.IsZero() || s.m.now().Before(stored.SecretExpiry)) {
		switch {
		case stored.Method == "cimd" && stored.ClientID == cimd:
			return stored, false, nil
		case stored.Method == "dynamic":
			if check && !s.clientKnown(ctx, d, stored) {
				s.dropClient(ctx, d.issuer, "the authorization server no longer knows mcptray's registration "+stored.ClientID)
				break
			}
			if covers(stored.Scopes, scopes) {
				return stored, false, nil
			}
			s.event("info", "the sign-in needs scopes outside the registered ones ("+strings.Join(missingScopes(scopes, stored.Scopes), " ")+"); registering them")
			if next, err := s.updateRegistration(ctx, d, cfg, stored, scopes); err == nil {
				s.saveClient(ctx, d.issuer, next)
				return next, false, nil
			}
			next, err := s.register(ctx, d, cfg, scopes)
			if err != nil {
				return nil, false, err
			}
			if holdsToken {
				return next, true, nil // the tokens held stay with the stored registration
			}
			s.saveClient(ctx, d.issuer, next)
			return next, false, nil
		}
	}
	if cimd != "" {
		c := &client{ClientID: cimd, AuthMethod: "none", RedirectURI: cfg.RedirectURI, Method: "cimd"}
		s.event("info", "identifying as "+cimd+" (Client ID Metadata Document)")
		s.saveClient(ctx, d.issuer, c)
		return c, false, nil
	}
	if cfg.DynamicRegistration != nil && cfg.DynamicRegistration.Enabled != nil && !*cfg.DynamicRegistration.Enabled {
		return nil, false, fmt.Errorf("%w: dynamic registration is turned off for this server; set oauth.clientId", ErrNoClient)
	}
	if d.as.RegistrationEndpoint == "" {
		if help := d.preset.clientHelp(cfg.RedirectURI); help != "" {
			return nil, false, fmt.Errorf("%w: %s", ErrNoClient, help)
		}
		msg := fmt.Sprintf("%s offers no client registration; register an OAuth app there (callback URL %s) and set oauth.clientId and oauth.clientSecret", d.issuer, cfg.RedirectURI)
		if d.as.ClientIDMetadataDocumentSupported {
			msg += ", or set oauth.clientMetadataUrl to a Client ID Metadata Document listing that callback URL"
		}
		return nil, false, fmt.Errorf("%w: %s", ErrNoClient, msg)
	}
	c, err = s.register(ctx, d, cfg, scopes)
	if err != nil {
		return nil, false, err
	}
	s.saveClient(ctx, d.issuer, c)
	return c, false, nil
}

// cimdURL is the Client ID Metadata Document to identify with at d's
// server, or "": the user's, else mcptray's own when its redirect_uris
// hold the redirect URI; only where the server supports them.
func (s *server) cimdURL(d *discovery) string {
	if !d.as.ClientIDMetadataDocumentSupported {
		return ""
	}
	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	if cfg.ClientMetadataURL != "" {
		return cfg.ClientMetadataURL
	}
	if s.m.cimdURL != "" && slices.Contains(s.m.cimdURIs, cfg.RedirectURI) {
		return s.m.cimdURL
	}
	return ""
}

// covers reports whether registered holds every scope; nil means the
// registration named none and so restricts none we know of.
func covers(registered, scopes []string) bool {
	return registered == nil || len(missingScopes(scopes, registered)) == 0
}

// saveClient keeps a client identity. A failed save keeps it in memory (and
// update notes it), so the sign-in goes on.
func (s *server) saveClient(ctx context.Context, issuer string, c *client) {
	_ = s.update(ctx, func(b *bundle) {
		if b.Clients == nil {
			b.Clients = map[string]*client{}
		}
		b.Clients[issuer] = c
	})
}

// dropClient forgets the registration at issuer, which the authorization
// server refused (invalid_client) or no longer knows, and the tokens
// issued to it: the next sign-in registers anew, and none reuses it.
func (s *server) dropClient(ctx context.Context, issuer, why string) {
	_ = s.update(ctx, func(b *bundle) {
		c := b.Clients[issuer]
		delete(b.Clients, issuer)
		if b.Token != nil && b.Token.Issuer == issuer && (c == nil || b.Token.ClientID == c.ClientID) {
			b.Token = nil
		}
		if b.Pending != nil && b.Pending.Issuer == issuer {
			b.Pending = nil
		}
	})
	s.event("warn", why+"; mcptray registers anew at the next sign-in")
}

// clientKnown checks that the authorization server still knows a
// registration: RFC 7592's read where it gave a registration_client_uri,
// else a token request with a code that cannot be valid, which a server
// answers invalid_client for an unknown client and invalid_grant for a
// known one (RFC 6749 §5.2: the client is authenticated first). Any other
// answer proves nothing, and the registration is kept.
func (s *server) clientKnown(ctx context.Context, d *discovery, c *client) bool {
	if c.RegistrationURI != "" && c.RegistrationToken != "" {
		status, _, err := s.registrationRequest(ctx, http.MethodGet, c.RegistrationURI, "Bearer "+c.RegistrationToken, nil)
		switch {
		case err != nil:
			return true
		case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
			// RFC 7592 §2.1: a client the server does not know answers 401.
			s.event("info", fmt.Sprintf("the registration of %s answered %d (RFC 7592)", c.ClientID, status))
			return false
		}
		return true
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {"mcptray-checks-its-registration-" + randomString()},
		"redirect_uri":  {c.RedirectURI},
		"code_verifier": {randomString() + randomString()},
	}
	_, err := s.post(ctx, d.as.TokenEndpoint, c, form, 15*time.Second)
	var te *TokenError
	if errors.As(err, &te) && te.Code == "invalid_client" {
		s.event("info", "the token endpoint does not know the client "+c.ClientID)
		return false
	}
	return true
}

// registrationMetadata is what mcptray registers (RFC 7591 §2), with the
// configured metadata merged over it.
func (s *server) registrationMetadata(d *discovery, cfg Config, scopes []string) map[string]any {
	grants := []string{"authorization_code", "refresh_token"}
	if d.as.DeviceAuthorizationEndpoint != "" {
		grants = append(grants, deviceGrantType)
	}
	meta := map[string]any{
		"client_name":                s.m.clientName,
		"redirect_uris":              []string{cfg.RedirectURI},
		"grant_types":                grants,
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",   // a desktop app keeps no secret
		"application_type":           "native", // loopback redirects (RFC 8252)
		"software_id":                "mcptray",
	}
	if len(scopes) > 0 {
		// A server that lets a client ask only for what it registered
		// (Ory Hydra, Keycloak's client scopes) refuses other scopes with
		// invalid_scope.
		meta["scope"] = strings.Join(scopes, " ")
	}
	if s.m.version != "" {
		meta["software_version"] = s.m.version
	}
	if cfg.DynamicRegistration != nil {
		maps.Copy(meta, cfg.DynamicRegistration.Metadata)
	}
	return meta
}

// registration is the part of a registration answer used (RFC 7591 §3.2.1,
// RFC 7592 §3).
type registration struct {
	ClientID              string   `json:"client_id"`
	ClientSecret          string   `json:"client_secret"`
	AuthMethod            string   `json:"token_endpoint_auth_method"`
	ClientSecretExpiresAt int64    `json:"client_secret_expires_at"`
	Scope                 *string  `json:"scope"`
	GrantTypes            []string `json:"grant_types"`
	RegistrationURI       string   `json:"registration_client_uri"`
	RegistrationToken     string   `json:"registration_access_token"`
}

// register performs RFC 7591 dynamic client registration, asking for the
// scopes the sign-ins will use.
func (s *server) register(ctx context.Context, d *discovery, cfg Config, scopes []string) (*client, error) {
	meta := s.registrationMetadata(d, cfg, scopes)
	auth := ""
	if cfg.DynamicRegistration != nil && cfg.DynamicRegistration.InitialAccessToken != "" {
		auth = d.preset.initialAccessTokenScheme() + " " + cfg.DynamicRegistration.InitialAccessToken
	}
	status, raw, err := s.registrationRequest(ctx, http.MethodPost, d.as.RegistrationEndpoint, auth, meta)
	if err != nil {
		return nil, fmt.Errorf("register at %s: %w", d.as.RegistrationEndpoint, err)
	}
	if status != http.StatusCreated && status != http.StatusOK {
		msg := "register at " + d.as.RegistrationEndpoint + ": " + registrationError(status, raw)
		if help := d.preset.registrationHelp(); help != "" {
			msg += "; " + help
		}
		return nil, errors.New(msg)
	}
	c, err := s.clientFromRegistration(raw, cfg, scopes, nil)
	if err != nil {
		return nil, fmt.Errorf("register at %s: %w", d.as.RegistrationEndpoint, err)
	}
	scope := "no scope"
	if len(c.Scopes) > 0 {
		scope = "scopes " + strings.Join(c.Scopes, " ")
	}
	s.event("info", "registered with "+d.issuer+" as client "+c.ClientID+" ("+scope+")")
	return c, nil
}

// updateRegistration asks for more scopes on a registration with RFC
// 7592's update, where the server offered it: the client id stays, and the
// tokens it holds keep working.
func (s *server) updateRegistration(ctx context.Context, d *discovery, cfg Config, c *client, scopes []string) (*client, error) {
	if c.RegistrationURI == "" || c.RegistrationToken == "" {
		return nil, errors.New("no RFC 7592 registration_client_uri")
	}
	meta := s.registrationMetadata(d, cfg, unionScopes(c.Scopes, scopes))
	// RFC 7592 §2.2: the update names the client and repeats all of its
	// metadata; it carries no secret the server did not give.
	meta["client_id"] = c.ClientID
	if c.ClientSecret != "" {
		meta["client_secret"] = c.ClientSecret
	}
	status, raw, err := s.registrationRequest(ctx, http.MethodPut, c.RegistrationURI, "Bearer "+c.RegistrationToken, meta)
	if err == nil && status != http.StatusOK {
		err = errors.New(registrationError(status, raw))
	}
	if err != nil {
		s.event("warn", "updating the registration of "+c.ClientID+" failed ("+err.Error()+"); registering anew")
		return nil, err
	}
	next, err := s.clientFromRegistration(raw, cfg, unionScopes(c.Scopes, scopes), c)
	if err != nil || next.ClientID != c.ClientID {
		s.event("warn", "the registration update answered another client; registering anew")
		return nil, errors.New("the update answered another client")
	}
	s.event("info", "updated the registration of "+c.ClientID+" (scopes "+strings.Join(next.Scopes, " ")+", RFC 7592)")
	return next, nil
}

// clientFromRegistration reads a registration answer; prev, for an update,
// gives what the answer leaves out.
func (s *server) clientFromRegistration(raw []byte, cfg Config, asked []string, prev *client) (*client, error) {
	var reg registration
	if err := json.Unmarshal(raw, &reg); err != nil || reg.ClientID == "" {
		return nil, errors.New("the answer has no client_id")
	}
	c := &client{
		ClientID:          reg.ClientID,
		ClientSecret:      reg.ClientSecret,
		AuthMethod:        reg.AuthMethod,
		RedirectURI:       cfg.RedirectURI,
		Method:            "dynamic",
		RegisteredAt:      s.m.now(),
		GrantTypes:        reg.GrantTypes,
		RegistrationURI:   reg.RegistrationURI,
		RegistrationToken: reg.RegistrationToken,
		Scopes:            slices.Clone(asked),
	}
	if reg.Scope != nil {
		c.Scopes = strings.Fields(*reg.Scope)
	} else if len(asked) == 0 {
		c.Scopes = nil // none asked, none named: nothing known
	}
	if prev != nil {
		if c.ClientSecret == "" {
			c.ClientSecret = prev.ClientSecret
		}
		if c.RegistrationURI == "" {
			c.RegistrationURI = prev.RegistrationURI
		}
		if c.RegistrationToken == "" {
			c.RegistrationToken = prev.RegistrationToken
		}
		if c.AuthMethod == "" {
			c.AuthMethod = prev.AuthMethod
		}
		c.RegisteredAt = prev.RegisteredAt
	}
	if reg.ClientSecretExpiresAt > 0 {
		c.SecretExpiry = time.Unix(reg.ClientSecretExpiresAt, 0)
	}
	if c.AuthMethod == "" && c.ClientSecret == "" {
		// The answer omits the method (the TypeScript SDK's server does):
		// the one asked for holds, unless a secret came back, whose method
		// is then found by trying.
		c.AuthMethod = "none"
	}
	return c, nil
}

// registrationRequest sends one request to a registration endpoint (RFC
// 7591) or a client configuration endpoint (RFC 7592).
func (s *server) registrationRequest(ctx context.Context, method, endpoint, auth string, body any) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("registration metadata: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.m.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, raw, nil
}

// registrationError says what a refused registration answered: its status
// and the standard error fields only (RFC 7591 §3.2.2).
func registrationError(status int, raw []byte) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &e)
	msg := fmt.Sprintf("%d %s", status, http.StatusText(status))
	if e.Error != "" {
		msg += ": " + e.Error
		if e.Description != "" {
			msg += " (" + e.Description + ")"
		}
	}
	return msg
}
