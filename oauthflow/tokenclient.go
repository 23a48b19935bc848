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

// This file is mcptray's one client of an authorization server's token,
// revocation and device authorization endpoints: the code exchange, the
// refresh grant (RFC 6749 §4.1.3, §6), the device grant (RFC 8628 §3.1,
// §3.4) and revocation (RFC 7009), with one rule for authenticating the
// client, one way of reading answers and one error type.

// TokenError is an error answer of a token or revocation endpoint (RFC 6749
// §5.2; RFC 7009 §2.2.1 and RFC 8628 §3.5 use the same form). It holds the
// standard fields only: the rest of the body may quote secrets or an
// attacker's text.
type TokenError struct {
	Endpoint    string // "token endpoint", "revocation endpoint" or "device authorization endpoint"
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
	// Scope is what was granted; nil when the answer omits it, which means
	// what was asked for (RFC 6749 §5.1), "" when it granted none.
	Scope *string `json:"scope"`
}

// deviceResponse is a device authorization endpoint's answer (RFC 8628
// §3.2).
type deviceResponse struct {
	DeviceCode              string `json:"device_code"` // a secret
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceGrantType is RFC 8628's grant type.
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

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

// deviceAuthorization asks for a device code and a user code (RFC 8628
// §3.1), with the resource indicator (RFC 8707 §2.1).
func (s *server) deviceAuthorization(ctx context.Context, endpoint string, c *client, scopes []string, resource string) (*deviceResponse, error) {
	form := url.Values{}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	raw, err := s.post(ctx, endpoint, c, form, 30*time.Second)
	if err != nil {
		return nil, err
	}
	var dr deviceResponse
	if err := json.Unmarshal(raw.body, &dr); err != nil || dr.DeviceCode == "" || dr.UserCode == "" || dr.VerificationURI == "" {
		return nil, fmt.Errorf("device authorization at %s: the answer has no device_code, user_code or verification_uri", endpoint)
	}
	if err := checkSecureURL(dr.VerificationURI); err != nil {
		return nil, fmt.Errorf("device authorization at %s: %w", endpoint, err)
	}
	if dr.VerificationURIComplete != "" && checkSecureURL(dr.VerificationURIComplete) != nil {
		dr.VerificationURIComplete = ""
	}
	return &dr, nil
}

// deviceToken polls for the tokens of a device authorization (RFC 8628
// §3.4); authorization_pending and slow_down come back as TokenErrors.
func (s *server) deviceToken(ctx context.Context, endpoint string, c *client, deviceCode, resource string) (*tokenResponse, error) {
	form := url.Values{"grant_type": {deviceGrantType}, "device_code": {deviceCode}}
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
	a, err := s.post(ctx, endpoint, c, form, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if !a.parsed {
		return nil, fmt.Errorf("token request to %s: the answer is not JSON", endpoint)
	}
	body := a.tokens
	if body.AccessToken == "" {
		return nil, fmt.Errorf("token request to %s: the answer has no access_token", endpoint)
	}
	if body.TokenType != "" && !strings.EqualFold(body.TokenType, "bearer") {
		return nil, fmt.Errorf("token request to %s: token type %q, want Bearer", endpoint, body.TokenType)
	}
	return &body, nil
}

// answer is a successful answer of one of the endpoints.
type answer struct {
	body   []byte
	parsed bool // the body is a JSON (or form-encoded) object, read into tokens
	tokens tokenResponse
}

// post sends a form to a token, revocation or device authorization
// endpoint with the client authenticated as the authorization server
// registered it (RFC 6749 §2.3.1): HTTP Basic, client_secret_post, or just
// client_id for a public client. A client whose method nobody said (a
// configured client with a secret, a registration answer without
// token_endpoint_auth_method, as the TypeScript SDK's server sends) tries
// Basic, then the body.
func (s *server) post(ctx context.Context, endpoint string, c *client, form url.Values, timeout time.Duration) (*answer, error) {
	method := c.AuthMethod
	if method == "" {
		method = "client_secret_basic"
	}
	a, err := s.postAs(ctx, endpoint, c, form, method, timeout)
	var te *TokenError
	if c.AuthMethod == "" && errors.As(err, &te) && (te.Code == "invalid_client" || te.Status == http.StatusUnauthorized) {
		method = "client_secret_post"
		a, err = s.postAs(ctx, endpoint, c, form, method, timeout)
	}
	return a, err
}

// postAs sends one request with the client authenticated by method.
func (s *server) postAs(ctx context.Context, endpoint string, c *client, form url.Values, method string, timeout time.Duration) (*answer, error) {
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
	a := &answer{body: raw, parsed: true}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		v, _ := url.ParseQuery(string(raw))
		body.AccessToken, body.TokenType, body.RefreshToken = v.Get("access_token"), v.Get("token_type"), v.Get("refresh_token")
		if v.Has("scope") {
			sc := v.Get("scope")
			body.Scope = &sc
		}
		body.ExpiresIn, _ = strconv.ParseInt(v.Get("expires_in"), 10, 64)
		body.Error, body.Description = v.Get("error"), v.Get("error_description")
	} else if json.Unmarshal(raw, &body) != nil {
		a.parsed = false
	}
	what := "token endpoint"
	switch {
	case form.Has("token"):
		what = "revocation endpoint"
	case !form.Has("grant_type"):
		what = "device authorization endpoint"
	}
	// Some servers (GitHub, Slack) answer errors with 200: the body
	// decides. An answer that is no OAuth error (a redirect, a 5xx, a page
	// of HTML) is a failure to reach the server, not a refusal: it leaves
	// the tokens alone.
	switch {
	case body.Error != "":
		return nil, &TokenError{Endpoint: what, Code: printable(body.Error), Description: printable(body.Description), Status: resp.StatusCode}
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, &TokenError{Endpoint: what, Code: "invalid_client", Description: "401 Unauthorized without an error code", Status: resp.StatusCode}
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("the %s answered %d %s, not an OAuth answer", what, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	a.tokens = body.tokenResponse
	return a, nil
}

// printable keeps an authorization server's text short and on one line,
// for a state and a page.
func printable(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}
