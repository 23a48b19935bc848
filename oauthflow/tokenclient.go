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
	"strconv"
	"strings"
	"time"
)

// This file is mcptray's one client of an authorization server's token and
// revocation endpoints: the code exchange and the refresh grant (RFC 6749
// §4.1.3, §6) and revocation (RFC 7009), with one rule for authenticating
// the client and one error type.

// TokenError is an error answer of a token or revocation endpoint (RFC 6749
// §5.2; RFC 7009 §2.2.1 uses the same form). It holds the standard fields
// only: the rest of the body may quote secrets or an attacker's text.
type TokenError struct {
	Endpoint    string // "token endpoint" or "revocation endpoint"
	Code        string // invalid_grant, invalid_client, ...
	Description string
	Status      int
}

func (e *TokenError) Error() string {
	msg := fmt.Sprintf("the %s answered %d %s", e.Endpoint, e.Status, e.Code)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// tokenResponse is a token endpoint's answer (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
}

// exchange trades an authorization code for tokens, with the PKCE verifier
// (RFC 7636 §4.5) and the resource indicator (RFC 8707 §2.2).
func (s *server) exchange(ctx context.Context, d *discovery, c *client, p *pending, code string) (*tokenResponse, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {p.RedirectURI},
		"code_verifier": {p.Verifier},
	}
	if p.Resource != "" {
		form.Set("resource", p.Resource)
	}
	return s.tokenRequest(ctx, d.as.TokenEndpoint, c, form)
}

// refreshGrant runs the refresh grant, with the resource indicator, which
// golang.org/x/oauth2 would not send (RFC 8707 §2.2).
func (s *server) refreshGrant(ctx context.Context, endpoint string, c *client, refreshToken, resource string) (*tokenResponse, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if resource != "" {
		form.Set("resource", resource)
	}
	return s.tokenRequest(ctx, endpoint, c, form)
}

// revoke revokes a token at the revocation endpoint (RFC 7009 §2.1).
func (s *server) revoke(ctx context.Context, endpoint string, c *client, token, hint string) error {
	_, err := s.post(ctx, endpoint, c, url.Values{"token": {token}, "token_type_hint": {hint}}, 15*time.Second)
	return err
}

// tokenRequest sends a token request and reads the tokens from its answer.
func (s *server) tokenRequest(ctx context.Context, endpoint string, c *client, form url.Values) (*tokenResponse, error) {
	body, err := s.post(ctx, endpoint, c, form, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if body == nil {
		return nil, fmt.Errorf("token request to %s: the answer is not JSON", endpoint)
	}
	if body.AccessToken == "" {
		return nil, fmt.Errorf("token request to %s: the answer has no access_token", endpoint)
	}
	if body.TokenType != "" && !strings.EqualFold(body.TokenType, "bearer") {
		return nil, fmt.Errorf("token request to %s: token type %q, want Bearer", endpoint, body.TokenType)
	}
	return body, nil
}

// post sends a form to a token or revocation endpoint with the client
// authenticated as the authorization server registered it (RFC 6749
// §2.3.1): HTTP Basic, client_secret_post, or just client_id for a public
// client. A client whose method nobody said (a configured client with a
// secret, a registration answer without token_endpoint_auth_method, as the
// TypeScript SDK's server sends) tries Basic, then the body.
func (s *server) post(ctx context.Context, endpoint string, c *client, form url.Values, timeout time.Duration) (*tokenResponse, error) {
	method := c.AuthMethod
	if method == "" {
		method = "client_secret_basic"
	}
	body, err := s.postAs(ctx, endpoint, c, form, method, timeout)
	var te *TokenError
	if c.AuthMethod == "" && errors.As(err, &te) && (te.Code == "invalid_client" || te.Status == http.StatusUnauthorized) {
		method = "client_secret_post"
		body, err = s.postAs(ctx, endpoint, c, form, method, timeout)
	}
	return body, err
}

// postAs sends one request with the client authenticated by method. A
// success whose body is not a token response (a revocation's) returns nil.
func (s *server) postAs(ctx context.Context, endpoint string, c *client, form url.Values, method string, timeout time.Duration) (*tokenResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
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
	req.Header.Set("Accept", "application/json") // GitHub answers form-encoded without it
	if method == "client_secret_basic" {
		// RFC 6749 §2.3.1: the id and secret are form-encoded first.
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	}
	resp, err := s.m.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("request to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("request to %s: %w", endpoint, err)
	}
	var body struct {
		tokenResponse
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	parsed := true
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		v, _ := url.ParseQuery(string(raw))
		body.AccessToken, body.TokenType, body.RefreshToken, body.Scope = v.Get("access_token"), v.Get("token_type"), v.Get("refresh_token"), v.Get("scope")
		body.ExpiresIn, _ = strconv.ParseInt(v.Get("expires_in"), 10, 64)
		body.Error, body.Description = v.Get("error"), v.Get("error_description")
	} else if json.Unmarshal(raw, &body) != nil {
		parsed = false
	}
	// Some servers (GitHub) answer errors with 200: the body decides.
	if body.Error != "" || resp.StatusCode != http.StatusOK {
		code := body.Error
		if code == "" {
			code = http.StatusText(resp.StatusCode)
		}
		what := "token endpoint"
		if form.Has("token") {
			what = "revocation endpoint"
		}
		return nil, &TokenError{Endpoint: what, Code: code, Description: body.Description, Status: resp.StatusCode}
	}
	if !parsed {
		return nil, nil
	}
	return &body.tokenResponse, nil
}
