package oauthflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// TokenError is an error answer of a token endpoint (RFC 6749 §5.2).
type TokenError struct {
	Code        string // invalid_grant, invalid_client, ...
	Description string
	Status      int
}

func (e *TokenError) Error() string {
	msg := fmt.Sprintf("the token endpoint answered %d %s", e.Status, e.Code)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// refreshAt is the share of a token's lifetime after which it is renewed.
const refreshAt = 0.8

// refreshDue reports whether the token reached refreshAt of its lifetime and
// can be refreshed.
func (s *server) refreshDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b != nil && s.b.Token != nil && s.b.Token.RefreshToken != "" && s.dueLocked(s.b.Token)
}

func (s *server) dueLocked(t *tokenSet) bool {
	if t.Expiry.IsZero() {
		return false
	}
	now := s.m.now()
	if t.IssuedAt.IsZero() || !t.Expiry.After(t.IssuedAt) {
		return !now.Before(t.Expiry.Add(-30 * time.Second))
	}
	life := t.Expiry.Sub(t.IssuedAt)
	return !now.Before(t.IssuedAt.Add(time.Duration(float64(life) * refreshAt)))
}

// token returns the access token to send now, renewed first when most of
// its lifetime is gone, or "" when there is none. Only one refresh runs at a
// time: concurrent callers wait for it (refresh tokens rotate, and reusing
// one revokes the whole family at some servers).
func (s *server) token(ctx context.Context) (string, error) {
	if _, err := s.load(ctx); err != nil {
		return "", err
	}
	for {
		s.mu.Lock()
		t := s.b.Token
		if t == nil {
			s.mu.Unlock()
			return "", nil
		}
		if !s.dueLocked(t) || t.RefreshToken == "" {
			at := t.AccessToken
			expired := !t.Expiry.IsZero() && !s.m.now().Before(t.Expiry)
			s.mu.Unlock()
			if expired {
				return "", nil // no refresh token: the server will ask for a new authorization
			}
			return at, nil
		}
		if ch := s.refreshing; ch != nil {
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		ch := make(chan struct{})
		s.refreshing = ch
		s.mu.Unlock()
		err := s.refresh(ctx)
		s.mu.Lock()
		s.refreshing = nil
		close(ch)
		still := s.b.Token
		s.mu.Unlock()
		if err != nil {
			var te *TokenError
			if errors.As(err, &te) || still == nil {
				// The token is gone: the request would only get a 401.
				s.mu.Lock()
				reason := s.reason
				s.mu.Unlock()
				return "", &AuthorizationError{Server: s.name, Reason: reason}
			}
			if !still.Expiry.IsZero() && s.m.now().Before(still.Expiry) {
				return still.AccessToken, nil // not expired yet: use it, try again later
			}
			return "", err
		}
	}
}

// renewAfterRejection gets a new token after the server refused rejected
// (with a 401): one another caller got meanwhile, or a refresh.
func (s *server) renewAfterRejection(ctx context.Context, rejected string) string {
	s.mu.Lock()
	t := s.b.Token
	if t != nil && t.AccessToken != rejected {
		at := t.AccessToken
		s.mu.Unlock()
		return at
	}
	if t == nil || t.RefreshToken == "" {
		s.mu.Unlock()
		return ""
	}
	// Make the token due, so that token() refreshes it, once.
	forced := *t
	forced.Expiry = s.m.now()
	forced.IssuedAt = time.Time{}
	s.b.Token = &forced
	s.mu.Unlock()
	at, err := s.token(ctx)
	if err != nil || at == rejected {
		return ""
	}
	return at
}

// refresh runs the refresh grant, with the resource indicator that
// golang.org/x/oauth2 does not send on refresh (RFC 8707 §2.2), and saves
// the result (a rotated refresh token first of all) before it is used.
// Network errors are retried with backoff and keep the tokens; invalid_grant
// drops them.
func (s *server) refresh(ctx context.Context) error {
	s.mu.Lock()
	if s.b.Token == nil {
		s.mu.Unlock()
		return &AuthorizationError{Server: s.name, Reason: "signed out while the token was being renewed"}
	}
	old := *s.b.Token
	cfg := s.cfg
	s.mu.Unlock()
	d, err := s.discovery(ctx, nil)
	if err != nil {
		return err
	}
	c, err := s.clientFor(ctx, d)
	if err != nil {
		return err
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old.RefreshToken}}
	if res := resourceParam(cfg, d); res != "" {
		form.Set("resource", res)
	}
	var tr *tokenResponse
	for attempt := 0; ; attempt++ {
		tr, err = s.postToken(ctx, d.as.TokenEndpoint, c, form)
		var te *TokenError
		if err == nil || errors.As(err, &te) || attempt == 2 || ctx.Err() != nil {
			break
		}
		wait := time.Duration(500<<attempt) * time.Millisecond
		s.event("warn", fmt.Sprintf("refresh failed (%v); trying again in %v", err, wait))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	var te *TokenError
	switch {
	case errors.As(err, &te) && te.Code == "invalid_client":
		s.dropClient(ctx, d.issuer)
		s.needAuthorization("the authorization server no longer knows mcptray's client (invalid_client)")
		return err
	case errors.As(err, &te):
		// invalid_grant, or any refusal: the refresh token is done.
		_ = s.update(ctx, func(b *bundle) { b.Token = nil })
		s.needAuthorization(fmt.Sprintf("the authorization server refused to renew the token (%s); sign in again", te.Code))
		return err
	case err != nil:
		s.event("error", "refresh failed: "+err.Error())
		return err
	}
	next := tr.tokenSet(s.m.now(), old)
	if err := s.update(ctx, func(b *bundle) { b.Token = next }); err != nil {
		// Kept in memory; the store reported the error already.
		s.event("warn", "the renewed token could not be saved: "+err.Error())
	}
	rotated := ""
	if tr.RefreshToken != "" && tr.RefreshToken != old.RefreshToken {
		rotated = ", refresh token rotated"
	}
	s.event("info", fmt.Sprintf("renewed the access token (valid for %v%s)", next.Expiry.Sub(next.IssuedAt).Round(time.Second), rotated))
	s.setState(StateAuthorized, "")
	s.mirror()
	return nil
}

// tokenResponse is a token endpoint's answer (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
}

// tokenSet makes the stored tokens from an answer; what it omits (a
// refresh token that did not rotate, the scopes) comes from prev.
func (tr *tokenResponse) tokenSet(now time.Time, prev tokenSet) *tokenSet {
	t := prev
	t.AccessToken, t.TokenType, t.IssuedAt = tr.AccessToken, tr.TokenType, now
	if tr.RefreshToken != "" {
		t.RefreshToken = tr.RefreshToken
	}
	t.Expiry = time.Time{}
	if tr.ExpiresIn > 0 {
		t.Expiry = now.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	if tr.Scope != "" {
		t.Scopes = strings.Fields(tr.Scope)
	}
	return &t
}

// postToken sends a token request with the client authentication the
// authorization server registered (RFC 6749 §2.3.1): HTTP Basic,
// client_secret_post, or just client_id for a public client. A client
// whose method is unknown tries Basic, then the body.
func (s *server) postToken(ctx context.Context, endpoint string, c *client, form url.Values) (*tokenResponse, error) {
	method := c.AuthMethod
	if method == "" {
		method = "client_secret_basic"
	}
	tr, err := s.postTokenAs(ctx, endpoint, c, form, method)
	var te *TokenError
	if c.AuthMethod == "" && errors.As(err, &te) && (te.Code == "invalid_client" || te.Status == http.StatusUnauthorized) {
		tr, err = s.postTokenAs(ctx, endpoint, c, form, "client_secret_post")
	}
	return tr, err
}

func (s *server) postTokenAs(ctx context.Context, endpoint string, c *client, form url.Values, method string) (*tokenResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := clientRequest(ctx, endpoint, c, form, method)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json") // GitHub answers form-encoded without it
	resp, err := s.m.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token request to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("token request to %s: %w", endpoint, err)
	}
	var body struct {
		tokenResponse
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		v, _ := url.ParseQuery(string(raw))
		body.AccessToken, body.TokenType, body.RefreshToken, body.Scope = v.Get("access_token"), v.Get("token_type"), v.Get("refresh_token"), v.Get("scope")
		body.ExpiresIn, _ = strconv.ParseInt(v.Get("expires_in"), 10, 64)
		body.Error, body.Description = v.Get("error"), v.Get("error_description")
	} else if err := json.Unmarshal(raw, &body); err != nil && resp.StatusCode == http.StatusOK {
		return nil, fmt.Errorf("token request to %s: the answer is not JSON", endpoint)
	}
	// Some servers (GitHub) answer errors with 200: the body decides.
	if body.Error != "" || resp.StatusCode != http.StatusOK {
		code := body.Error
		if code == "" {
			code = http.StatusText(resp.StatusCode)
		}
		return nil, &TokenError{Code: code, Description: body.Description, Status: resp.StatusCode}
	}
	if body.AccessToken == "" {
		return nil, fmt.Errorf("token request to %s: the answer has no access_token", endpoint)
	}
	if body.TokenType != "" && !strings.EqualFold(body.TokenType, "bearer") {
		return nil, fmt.Errorf("token request to %s: token type %q, want Bearer", endpoint, body.TokenType)
	}
	return &body.tokenResponse, nil
}

// clientRequest makes a form POST to a token or revocation endpoint, with
// the client authenticated by method (RFC 6749 §2.3.1): HTTP Basic with the
// form-encoded id and secret, both in the body, or just the id for a public
// client.
func clientRequest(ctx context.Context, endpoint string, c *client, form url.Values, method string) (*http.Request, error) {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	switch method {
	case "client_secret_post":
		f.Set("client_id", c.ClientID)
		f.Set("client_secret", c.ClientSecret)
	case "none":
		f.Set("client_id", c.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(f.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if method == "client_secret_basic" {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	}
	return req, nil
}

// exchange trades an authorization code for tokens with golang.org/x/oauth2,
// sending the PKCE verifier and the resource indicator.
func (s *server) exchange(ctx context.Context, d *discovery, c *client, p *pending, code string) (*tokenResponse, error) {
	conf := oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: d.as.AuthorizationEndpoint, TokenURL: d.as.TokenEndpoint, AuthStyle: authStyle(c.AuthMethod)},
		RedirectURL:  p.RedirectURI,
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(p.Verifier)}
	if p.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", p.Resource))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, s.m.http), code, opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			code := re.ErrorCode
			if code == "" {
				code = http.StatusText(status)
			}
			// The error's own text may quote the body; keep only the
			// standard fields.
			return nil, &TokenError{Code: code, Description: re.ErrorDescription, Status: status}
		}
		return nil, fmt.Errorf("code exchange at %s: %w", d.as.TokenEndpoint, err)
	}
	if tt := tok.Type(); !strings.EqualFold(tt, "bearer") {
		return nil, fmt.Errorf("code exchange at %s: token type %q, want Bearer", d.as.TokenEndpoint, tt)
	}
	tr := &tokenResponse{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, ExpiresIn: tok.ExpiresIn}
	if tr.ExpiresIn == 0 && !tok.Expiry.IsZero() {
		tr.ExpiresIn = int64(time.Until(tok.Expiry).Seconds())
	}
	if sc, ok := tok.Extra("scope").(string); ok {
		tr.Scope = sc
	}
	return tr, nil
}

func authStyle(method string) oauth2.AuthStyle {
	switch method {
	case "client_secret_post", "none":
		return oauth2.AuthStyleInParams
	case "client_secret_basic":
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleAutoDetect
}

// revoke revokes a token at the revocation endpoint (RFC 7009).
func (s *server) revoke(ctx context.Context, endpoint string, c *client, token, hint string) error {
	method := c.AuthMethod
	if method == "" {
		method = "client_secret_basic"
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := clientRequest(ctx, endpoint, c, url.Values{"token": {token}, "token_type_hint": {hint}}, method)
	if err != nil {
		return err
	}
	resp, err := s.m.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation at %s: %s", endpoint, resp.Status)
	}
	return nil
}

// resourceParam is the RFC 8707 resource to ask for: the configured one
// (empty: none), else the resource metadata's, else the server's canonical
// URL.
func resourceParam(cfg Config, d *discovery) string {
	if cfg.Resource != nil {
		return *cfg.Resource
	}
	return d.resource
}

// unionScopes is a ∪ b in order, for step-up (2026-07-28: the client keeps
// what it was granted and adds what the challenge asks for).
func unionScopes(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
