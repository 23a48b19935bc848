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
	"time"
)

// ErrNoClient is wrapped when there is no way to identify mcptray to an
// authorization server: no configured client, no Client ID Metadata
// Document support, no registration endpoint (GitHub, say).
var ErrNoClient = errors.New("no client identity")

// clientFor returns how mcptray is known to the authorization server of d,
// in the order of the MCP spec: a configured client id, then a Client ID
// Metadata Document when the server supports them, then RFC 7591
// registration, whose result is kept per issuer and made again when the
// issuer or the redirect URI changes.
func (s *server) clientFor(ctx context.Context, d *discovery) (*client, error) {
	b, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	cfg := s.cfg
	stored := b.Clients[d.issuer]
	migratedSecret := b.ClientSecret
	s.mu.Unlock()

	if cfg.ClientID != "" {
		secret := cfg.ClientSecret
		if secret == "" {
			secret = migratedSecret
		}
		c := &client{ClientID: cfg.ClientID, ClientSecret: secret, RedirectURI: cfg.RedirectURI, Method: "static"}
		if secret == "" {
			c.AuthMethod = "none"
		}
		return c, nil
	}
	if stored != nil && stored.RedirectURI == cfg.RedirectURI && (stored.SecretExpiry.IsZero() || s.m.now().Before(stored.SecretExpiry)) {
		return stored, nil
	}
	if cfg.ClientMetadataURL != "" && d.as.ClientIDMetadataDocumentSupported {
		c := &client{ClientID: cfg.ClientMetadataURL, AuthMethod: "none", RedirectURI: cfg.RedirectURI, Method: "cimd"}
		s.event("info", "identifying as "+cfg.ClientMetadataURL+" (Client ID Metadata Document)")
		s.saveClient(ctx, d.issuer, c)
		return c, nil
	}
	if cfg.DynamicRegistration != nil && cfg.DynamicRegistration.Enabled != nil && !*cfg.DynamicRegistration.Enabled {
		return nil, fmt.Errorf("%w: dynamic registration is turned off for this server; set oauth.clientId", ErrNoClient)
	}
	if d.as.RegistrationEndpoint == "" {
		return nil, fmt.Errorf("%w: %s offers no client registration; register an OAuth app there and set oauth.clientId and oauth.clientSecret", ErrNoClient, d.issuer)
	}
	c, err := s.register(ctx, d, cfg)
	if err != nil {
		return nil, err
	}
	s.saveClient(ctx, d.issuer, c)
	return c, nil
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

// dropClient forgets the registration at issuer, after the authorization
// server answered invalid_client: the next authorization registers again.
func (s *server) dropClient(ctx context.Context, issuer string) {
	_ = s.update(ctx, func(b *bundle) {
		delete(b.Clients, issuer)
		if b.Token != nil && b.Token.Issuer == issuer {
			b.Token = nil
		}
	})
	s.event("warn", "the authorization server does not know mcptray's registration any more; it will register again")
}

// register performs RFC 7591 dynamic client registration.
func (s *server) register(ctx context.Context, d *discovery, cfg Config) (*client, error) {
	meta := map[string]any{
		"client_name":                s.m.clientName,
		"redirect_uris":              []string{cfg.RedirectURI},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",   // a desktop app keeps no secret
		"application_type":           "native", // loopback redirects (RFC 8252)
		"software_id":                "mcptray",
	}
	if s.m.version != "" {
		meta["software_version"] = s.m.version
	}
	if cfg.DynamicRegistration != nil {
		maps.Copy(meta, cfg.DynamicRegistration.Metadata)
	}
	body, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("registration metadata: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.as.RegistrationEndpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if cfg.DynamicRegistration != nil && cfg.DynamicRegistration.InitialAccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.DynamicRegistration.InitialAccessToken)
	}
	resp, err := s.m.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("register at %s: %w", d.as.RegistrationEndpoint, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &e)
		msg := fmt.Sprintf("register at %s: %s", d.as.RegistrationEndpoint, resp.Status)
		if e.Error != "" {
			msg += ": " + e.Error
			if e.Description != "" {
				msg += " (" + e.Description + ")"
			}
		}
		s.event("error", msg)
		return nil, errors.New(msg)
	}
	var reg struct {
		ClientID              string `json:"client_id"`
		ClientSecret          string `json:"client_secret"`
		AuthMethod            string `json:"token_endpoint_auth_method"`
		ClientSecretExpiresAt int64  `json:"client_secret_expires_at"`
	}
	if err := json.Unmarshal(raw, &reg); err != nil || reg.ClientID == "" {
		return nil, fmt.Errorf("register at %s: the answer has no client_id", d.as.RegistrationEndpoint)
	}
	c := &client{
		ClientID:     reg.ClientID,
		ClientSecret: reg.ClientSecret,
		AuthMethod:   reg.AuthMethod,
		RedirectURI:  cfg.RedirectURI,
		Method:       "dynamic",
		RegisteredAt: s.m.now(),
	}
	if reg.ClientSecretExpiresAt > 0 {
		c.SecretExpiry = time.Unix(reg.ClientSecretExpiresAt, 0)
	}
	if c.AuthMethod == "" {
		// The answer omits the method (the TypeScript SDK's server does):
		// the one asked for holds, unless a secret came back, whose method
		// is then found by trying.
		if c.ClientSecret == "" {
			c.AuthMethod = "none"
		}
	}
	s.event("info", "registered with "+d.issuer+" as client "+c.ClientID)
	return c, nil
}
