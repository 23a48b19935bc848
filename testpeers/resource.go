//go:build unix

package testpeers

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// TokenInfo is what a resource server learned about an access token.
type TokenInfo struct {
	ClientID  string
	Subject   string
	Scopes    []string
	Audience  []string
	ExpiresAt time.Time
}

// ErrInactiveToken is a TokenVerifier's answer for a token that is not (or
// no longer) valid.
var ErrInactiveToken = errors.New("inactive token")

// TokenVerifier checks an access token for a ResourceServer.
type TokenVerifier func(ctx context.Context, token string) (*TokenInfo, error)

// Introspection verifies tokens with an RFC 7662 introspection endpoint;
// auth, when not nil, authenticates the resource server's request.
func Introspection(endpoint string, auth func(*http.Request)) TokenVerifier {
	return func(ctx context.Context, token string) (*TokenInfo, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(url.Values{"token": {token}}.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("introspect: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			return nil, fmt.Errorf("introspect: %s: %s", resp.Status, body)
		}
		var r struct {
			Active   bool            `json:"active"`
			Scope    string          `json:"scope"`
			ClientID string          `json:"client_id"`
			Sub      string          `json:"sub"`
			Aud      json.RawMessage `json:"aud"`
			Exp      int64           `json:"exp"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return nil, fmt.Errorf("introspect: %w", err)
		}
		if !r.Active {
			return nil, ErrInactiveToken
		}
		return &TokenInfo{ClientID: r.ClientID, Subject: r.Sub, Scopes: strings.Fields(r.Scope), Audience: audience(r.Aud), ExpiresAt: time.Unix(r.Exp, 0)}, nil
	}
}

// JWTVerifier verifies RS256 JWT access tokens signed by a key of jwksURL
// and issued by issuer.
func JWTVerifier(issuer, jwksURL string) TokenVerifier {
	var mu sync.Mutex // guards keys
	keys := map[string]*rsa.PublicKey{}
	key := func(ctx context.Context, kid string) (*rsa.PublicKey, error) {
		mu.Lock()
		k, ok := keys[kid]
		mu.Unlock()
		if ok {
			return k, nil
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []struct{ Kid, Kty, N, E string } `json:"keys"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, k := range set.Keys {
			n, err1 := base64.RawURLEncoding.DecodeString(k.N)
			e, err2 := base64.RawURLEncoding.DecodeString(k.E)
			if k.Kty != "RSA" || err1 != nil || err2 != nil {
				continue
			}
			keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		}
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		// Signed by a key the issuer does not have: not its token.
		return nil, ErrInactiveToken
	}
	return func(ctx context.Context, token string) (*TokenInfo, error) {
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			return nil, ErrInactiveToken
		}
		var header struct{ Alg, Kid string }
		if err := decodeSegment(parts[0], &header); err != nil || header.Alg != "RS256" {
			return nil, ErrInactiveToken
		}
		k, err := key(ctx, header.Kid)
		if err != nil {
			return nil, err
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return nil, ErrInactiveToken
		}
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) != nil {
			return nil, ErrInactiveToken
		}
		var c struct {
			Iss      string          `json:"iss"`
			Sub      string          `json:"sub"`
			Aud      json.RawMessage `json:"aud"`
			Exp      int64           `json:"exp"`
			Scope    json.RawMessage `json:"scope"`
			ClientID string          `json:"client_id"`
		}
		if err := decodeSegment(parts[1], &c); err != nil {
			return nil, ErrInactiveToken
		}
		if c.Iss != issuer || time.Now().After(time.Unix(c.Exp, 0)) {
			return nil, ErrInactiveToken
		}
		// Scope is a space-separated string (RFC 9068 section 2.2.3); some
		// servers write an array.
		var scopes []string
		var s string
		if json.Unmarshal(c.Scope, &s) == nil {
			scopes = strings.Fields(s)
		} else {
			_ = json.Unmarshal(c.Scope, &scopes)
		}
		return &TokenInfo{ClientID: c.ClientID, Subject: c.Sub, Scopes: scopes, Audience: audience(c.Aud), ExpiresAt: time.Unix(c.Exp, 0)}, nil
	}
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// audience reads an "aud" that is a string or an array of strings.
func audience(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

// ResourceOptions configures a ResourceServer.
type ResourceOptions struct {
	// AuthorizationServers are the issuers named in the RFC 9728 metadata.
	AuthorizationServers []string
	// Scopes are the metadata's scopes_supported and the scope of the 401
	// challenge.
	Scopes []string
	// ToolScopes adds a tool for each entry, which answers 403
	// insufficient_scope (naming the scope) to a token without it.
	ToolScopes map[string]string
	// Verify checks tokens.
	Verify TokenVerifier
	// RequireAudience refuses a token whose audiences do not include the
	// server's URL (RFC 8707: the token was issued for this resource).
	RequireAudience bool
}

// ResourceServer is a Go MCP server (mcp-go, streamable HTTP) that only
// answers requests bearing an access token its authorization server
// issued, the way the MCP authorization spec asks of a protected server.
type ResourceServer struct {
	URL         string // the MCP endpoint
	MetadataURL string // its RFC 9728 protected resource metadata
	opts        ResourceOptions

	mu     sync.Mutex // guards tokens
	tokens []TokenInfo
}

type tokenInfoKey struct{}

// StartResourceServer starts a ResourceServer on 127.0.0.1, stopped when t
// ends. Its tools: whoami (the token's client and scopes), echo, and one
// per ToolScopes entry.
func StartResourceServer(t testing.TB, opts ResourceOptions) *ResourceServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	rs := &ResourceServer{URL: base + "/mcp", MetadataURL: base + "/.well-known/oauth-protected-resource/mcp", opts: opts}

	s := server.NewMCPServer("mcptray-protected-peer", "1.0.0", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("whoami", mcp.WithDescription("Tells whom the token belongs to")), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		info, _ := ctx.Value(tokenInfoKey{}).(*TokenInfo)
		if info == nil {
			return mcp.NewToolResultError("no token"), nil
		}
		return mcp.NewToolResultText(fmt.Sprintf("client %s with scopes %s", info.ClientID, strings.Join(info.Scopes, " "))), nil
	})
	s.AddTool(mcp.NewTool("echo", mcp.WithDescription("Echoes its text"), mcp.WithString("text", mcp.Required())), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(req.GetString("text", "")), nil
	})
	for tool, scope := range opts.ToolScopes {
		s.AddTool(mcp.NewTool(tool, mcp.WithDescription("Needs the scope "+scope)), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("done with " + scope), nil
		})
	}
	mcpHandler := server.NewStreamableHTTPServer(s, server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
		if info, ok := r.Context().Value(tokenInfoKey{}).(*TokenInfo); ok {
			return context.WithValue(ctx, tokenInfoKey{}, info)
		}
		return ctx
	}))

	mux := http.NewServeMux()
	metadata := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"resource":                 rs.URL,
			"authorization_servers":    opts.AuthorizationServers,
			"scopes_supported":         opts.Scopes,
			"bearer_methods_supported": []string{"header"},
		})
	}
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", metadata)
	mux.Handle("/mcp", rs.protect(mcpHandler))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
		<-done
	})
	return rs
}

// Tokens returns what the server learned about every token it accepted,
// in order.
func (rs *ResourceServer) Tokens() []TokenInfo {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.tokens)
}

// protect answers 401 to a request without a valid token (RFC 6750 section
// 3, with RFC 9728 section 5.1's resource_metadata) and 403
// insufficient_scope to a tools/call of a tool whose scope the token lacks.
func (rs *ResourceServer) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		challenge := func(status int, params ...string) {
			h := fmt.Sprintf("Bearer resource_metadata=%q", rs.MetadataURL)
			for i := 0; i+1 < len(params); i += 2 {
				h += fmt.Sprintf(", %s=%q", params[i], params[i+1])
			}
			w.Header().Set("WWW-Authenticate", h)
			http.Error(w, http.StatusText(status), status)
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			if len(rs.opts.Scopes) > 0 {
				challenge(http.StatusUnauthorized, "scope", strings.Join(rs.opts.Scopes, " "))
			} else {
				challenge(http.StatusUnauthorized)
			}
			return
		}
		info, err := rs.opts.Verify(r.Context(), token)
		if errors.Is(err, ErrInactiveToken) || (err == nil && rs.opts.RequireAudience && !slices.Contains(info.Audience, rs.URL)) {
			challenge(http.StatusUnauthorized, "error", "invalid_token", "error_description", "the access token is not valid for this resource")
			return
		}
		if err != nil {
			http.Error(w, "cannot verify the token: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPost && len(rs.opts.ToolScopes) > 0 {
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var call struct {
				Method string `json:"method"`
				Params struct {
					Name string `json:"name"`
				} `json:"params"`
			}
			if json.Unmarshal(body, &call) == nil && call.Method == "tools/call" {
				if need, ok := rs.opts.ToolScopes[call.Params.Name]; ok && !slices.Contains(info.Scopes, need) {
					// MCP authorization, "Scope Challenge Handling": the
					// scope names what the call needs; a client asks for
					// it together with what it holds.
					challenge(http.StatusForbidden, "error", "insufficient_scope", "scope", need, "error_description", "the tool "+call.Params.Name+" needs the scope "+need)
					return
				}
			}
		}
		rs.mu.Lock()
		rs.tokens = append(rs.tokens, *info)
		rs.mu.Unlock()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenInfoKey{}, info)))
	})
}
