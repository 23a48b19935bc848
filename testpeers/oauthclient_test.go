//go:build unix

package testpeers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/oauth2"
)

// The tests' OAuth client is a plain one (x/oauth2, PKCE, RFC 8707
// resource): mcptray's own client is tested elsewhere; these tests prove
// what each peer does.

type asMetadata struct {
	Issuer                 string   `json:"issuer"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint"`
	TokenEndpoint          string   `json:"token_endpoint"`
	RegistrationEndpoint   string   `json:"registration_endpoint"`
	RevocationEndpoint     string   `json:"revocation_endpoint"`
	IntrospectionEndpoint  string   `json:"introspection_endpoint"`
	JWKSURI                string   `json:"jwks_uri"`
	ScopesSupported        []string `json:"scopes_supported"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
	IssParameterSupported  bool     `json:"authorization_response_iss_parameter_supported"`
	CIMDSupported          bool     `json:"client_id_metadata_document_supported"`
	DeviceAuthorizationURL string   `json:"device_authorization_endpoint"`
}

// discover reads the issuer's OpenID discovery document (every peer here
// serves one; RFC 8414's is checked by the tests that care).
func discover(t *testing.T, issuer string) asMetadata {
	t.Helper()
	var m asMetadata
	status := getJSON(t, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &m)
	if status != http.StatusOK {
		t.Fatalf("discovery of %s: %d", issuer, status)
	}
	if m.Issuer != issuer {
		t.Fatalf("discovery issuer %q, want %q", m.Issuer, issuer)
	}
	return m
}

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	return resp.StatusCode
}

// register sends an RFC 7591 registration and returns the status and the
// decoded answer.
func register(t *testing.T, endpoint string, md map[string]any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(md)
	resp, err := http.Post(endpoint, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// nativeClient is the registration metadata of a public loopback client.
func nativeClient(redirect, scope string) map[string]any {
	md := map[string]any{
		"client_name":                "mcptray test client",
		"redirect_uris":              []string{redirect},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"application_type":           "native",
	}
	if scope != "" {
		md["scope"] = scope
	}
	return md
}

// flow is one client's view of an authorization server.
type flow struct {
	meta     asMetadata
	clientID string
	secret   string
	redirect string
	resource string
}

func (f *flow) config(scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if f.secret != "" {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{
		ClientID:     f.clientID,
		ClientSecret: f.secret,
		RedirectURL:  f.redirect,
		Scopes:       scopes,
		Endpoint:     oauth2.Endpoint{AuthURL: f.meta.AuthorizationEndpoint, TokenURL: f.meta.TokenEndpoint, AuthStyle: style},
	}
}

// authorization is what came back to the redirect URI.
type authorization struct {
	callback *url.URL
	verifier string
	state    string
}

func (a authorization) param(k string) string { return a.callback.Query().Get(k) }

// authorize sends b through the authorization request for scopes and
// returns the redirect to the callback. It fails t when the walk fails.
func (f *flow) authorize(t *testing.T, b *Browser, scopes ...string) authorization {
	t.Helper()
	a, err := f.tryAuthorize(b, scopes...)
	if err != nil {
		t.Fatalf("authorize %v: %v\npages:\n%s", scopes, err, b.Pages())
	}
	return a
}

func (f *flow) tryAuthorize(b *Browser, scopes ...string) (authorization, error) {
	verifier := oauth2.GenerateVerifier()
	state := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if f.resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", f.resource))
	}
	u := f.config(scopes...).AuthCodeURL(state, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cb, err := b.Authorize(ctx, u, f.redirect)
	a := authorization{callback: cb, verifier: verifier, state: state}
	if err == nil && cb.Query().Get("state") != state {
		err = fmt.Errorf("state %q came back, want %q", cb.Query().Get("state"), state)
	}
	return a, err
}

// exchange trades the authorization's code for tokens.
func (f *flow) exchange(t *testing.T, a authorization) *oauth2.Token {
	t.Helper()
	if e := a.param("error"); e != "" {
		t.Fatalf("authorization failed: %s: %s", e, a.param("error_description"))
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(a.verifier)}
	if f.resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", f.resource))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := f.config().Exchange(ctx, a.param("code"), opts...)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	return tok
}

// tokenError is an RFC 6749 section 5.2 error answer.
type tokenError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *tokenError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Description)
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
}

// refresh runs the refresh grant by hand, with resource (this project
// sends it in refreshes too), so that a test sees the server's answer.
func (f *flow) refresh(t *testing.T, refreshToken string) (*tokenResponse, *tokenError) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if f.resource != "" {
		form.Set("resource", f.resource)
	}
	var out tokenResponse
	if terr := f.post(t, f.meta.TokenEndpoint, form, &out); terr != nil {
		return nil, terr
	}
	return &out, nil
}

// revoke runs RFC 7009 revocation.
func (f *flow) revoke(t *testing.T, token, hint string) *tokenError {
	t.Helper()
	return f.post(t, f.meta.RevocationEndpoint, url.Values{"token": {token}, "token_type_hint": {hint}}, nil)
}

func (f *flow) post(t *testing.T, endpoint string, form url.Values, out any) *tokenError {
	t.Helper()
	if f.secret == "" {
		form.Set("client_id", f.clientID)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if f.secret != "" {
		req.SetBasicAuth(url.QueryEscape(f.clientID), url.QueryEscape(f.secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e := &tokenError{Status: resp.StatusCode}
		_ = json.Unmarshal(body, e)
		if e.Code == "" {
			e.Description = string(body)
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: %v: %s", endpoint, err, body)
		}
	}
	return nil
}

// callTool calls tool over MCP with the access token and returns its text.
func callTool(t *testing.T, endpoint, token, tool string) (string, error) {
	t.Helper()
	c, err := client.NewStreamableHttpClient(endpoint, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		return "", err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		return "", err
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, item := range res.Content {
		if tc, ok := item.(mcp.TextContent); ok {
			out.WriteString(tc.Text)
		}
	}
	if res.IsError {
		return "", fmt.Errorf("tool error: %s", out.String())
	}
	return out.String(), nil
}

// rawCall posts one JSON-RPC request to the resource server and returns
// the status and the WWW-Authenticate challenge.
func rawCall(t *testing.T, endpoint, token, method string, params any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// checkChallenges proves the resource server's 401 and 403: no token and a
// bad one get 401 with resource_metadata; a token without scope gets 403
// insufficient_scope naming it for tool.
func checkChallenges(t *testing.T, rs *ResourceServer, token, tool, scope string) {
	t.Helper()
	status, h := rawCall(t, rs.URL, "", "initialize", map[string]any{})
	if status != http.StatusUnauthorized || !strings.Contains(h, `resource_metadata="`+rs.MetadataURL+`"`) {
		t.Errorf("no token: %d %q, want 401 with resource_metadata", status, h)
	}
	var prm struct {
		Resource string   `json:"resource"`
		AS       []string `json:"authorization_servers"`
	}
	if getJSON(t, rs.MetadataURL, &prm); prm.Resource != rs.URL || len(prm.AS) == 0 {
		t.Errorf("resource metadata %+v", prm)
	}
	status, h = rawCall(t, rs.URL, "not-a-token", "initialize", map[string]any{})
	if status != http.StatusUnauthorized || !strings.Contains(h, `error="invalid_token"`) {
		t.Errorf("bad token: %d %q, want 401 invalid_token", status, h)
	}
	status, h = rawCall(t, rs.URL, token, "tools/call", map[string]any{"name": tool})
	if status != http.StatusForbidden || !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="`+scope+`"`) {
		t.Errorf("tool %s without %s: %d %q, want 403 insufficient_scope", tool, scope, status, h)
	}
}
