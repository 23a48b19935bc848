package settings

import (
	"reflect"
	"strings"
	"testing"
)

// TestOAuthBlockParts reads a block with every kind of field and checks
// each lands in its part, unknown fields kept.
func TestOAuthBlockParts(t *testing.T) {
	st, err := Parse("s.json", []byte(`{"mcpServers": {"x": {"url": "https://x.example/mcp", "oauth": {
		"clientId": "id", "clientSecret": "literal-secret", "scopes": ["a"],
		"issuer": "https://as.example", "registeredClientId": "c1", "authorizedAt": "2026-01-01T00:00:00Z",
		"accessToken": "at", "pendingAuthorization": {"state": "st", "codeVerifier": "v"},
		"futureField": 1}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	o := st.Servers["x"].OAuth
	if o.ClientID != "id" || o.Issuer != "https://as.example" || o.AccessToken != "at" || string(o.Extra["futureField"]) != "1" {
		t.Fatalf("block %+v", o)
	}
	if !o.HasSecrets() {
		t.Fatal("a literal secret and a token are secrets")
	}
	sec := o.Secrets()
	if sec.ClientSecret != "literal-secret" || sec.AccessToken != "at" || sec.PendingAuthorization.CodeVerifier != "v" {
		t.Fatalf("secrets %+v", sec)
	}
	o.ClearSecrets("keychain")
	if o.HasSecrets() || o.ClientSecret != "" || o.PendingAuthorization.State != "st" || o.TokenStore != "keychain" {
		t.Fatalf("after ClearSecrets: %+v", o)
	}
	o.ClientSecret = "${SECRET}"
	if o.HasSecrets() || o.Secrets().ClientSecret != "" {
		t.Fatal("a placeholder is configuration, not a secret")
	}

	// A sign-out's mirror keeps when the server was authorized, and where
	// tokens go.
	o.SetMirror(OAuthMirror{Issuer: "https://as.example"})
	if o.AuthorizedAt != "2026-01-01T00:00:00Z" || o.TokenStore != "keychain" || o.RegisteredClient != "" {
		t.Fatalf("after SetMirror: %+v", o.OAuthMirror)
	}
}

// TestConnectionKey: only what a connection depends on changes the key.
func TestConnectionKey(t *testing.T) {
	base := func() *Server {
		return &Server{URL: "https://x.example/mcp", Headers: map[string]string{"A": "1"},
			OAuth: &OAuth{OAuthConfig: OAuthConfig{ClientID: "id"}}}
	}
	k := base().ConnectionKey()
	same := map[string]func(*Server){
		"tool override": func(s *Server) { s.Tools = map[string]*ItemOverride{"t": {Description: "d"}} },
		"mirror":        func(s *Server) { s.OAuth.ExpiresAt, s.OAuth.GrantedScopes = "2030-01-01T00:00:00Z", []string{"a"} },
		"timeout":       func(s *Server) { s.Options = &RequestOptions{Timeout: 5} },
		"type alias":    func(s *Server) { s.Type = TypeHTTP },
	}
	for what, f := range same {
		s := base()
		f(s)
		if s.ConnectionKey() != k {
			t.Errorf("%s changed the connection key", what)
		}
	}
	differ := map[string]func(*Server){
		"url":       func(s *Server) { s.URL += "2" },
		"header":    func(s *Server) { s.Headers["A"] = "2" },
		"client id": func(s *Server) { s.OAuth.ClientID = "other" },
		"scopes":    func(s *Server) { s.OAuth.Scopes = []string{"b"} },
		"disabled":  func(s *Server) { off := false; s.Enabled = &off },
	}
	for what, f := range differ {
		s := base()
		f(s)
		if s.ConnectionKey() == k {
			t.Errorf("a change of %s kept the connection key", what)
		}
	}
}

// TestResolveExpandsEveryOAuthField sets every string of the
// configuration to a placeholder, by reflection, so that a field added
// later is covered too.
func TestResolveExpandsEveryOAuthField(t *testing.T) {
	var c OAuthConfig
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			v.SetString("${V}")
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
			fill(v.Elem())
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.String {
				v.Set(reflect.ValueOf([]string{"${V}"}).Convert(v.Type()))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Field(i).CanSet() {
					fill(v.Field(i))
				}
			}
		}
	}
	fill(reflect.ValueOf(&c).Elem())
	srv := &Server{URL: "https://x.example/mcp", OAuth: &OAuth{OAuthConfig: c}}
	r, err := srv.Resolve(func(string) (string, bool) { return "value", true })
	if err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			if strings.Contains(v.String(), "$") {
				t.Errorf("%s was not expanded: %q", path, v.String())
			}
		case reflect.Pointer:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(path, v.Index(i))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		}
	}
	walk("oauth", reflect.ValueOf(r.OAuth.OAuthConfig))
	if !strings.Contains(srv.OAuth.ClientID, "$") {
		t.Error("Resolve changed the settings themselves")
	}
}

// TestMirrorHoldsSignInFactsOnly: expiresAt changes with every refresh, so
// the mirror never writes it and drops the one an earlier mcptray wrote;
// endpoints not discovered yet in this run keep the file's.
func TestMirrorHoldsSignInFactsOnly(t *testing.T) {
	o := &OAuth{OAuthMirror: OAuthMirror{
		Issuer: "https://as.example", ExpiresAt: "2026-01-01T00:00:00Z",
		Discovered: &DiscoveredEndpoints{Token: "https://as.example/token"},
	}}
	o.SetMirror(OAuthMirror{Issuer: "https://as.example", ExpiresAt: "2026-02-02T00:00:00Z", AuthorizedAt: "2026-01-01T00:00:00Z"})
	if o.ExpiresAt != "" {
		t.Errorf("expiresAt %q written", o.ExpiresAt)
	}
	if o.Discovered == nil || o.Discovered.Token != "https://as.example/token" {
		t.Errorf("discovered endpoints lost: %+v", o.Discovered)
	}
	b, err := o.MarshalJSON()
	if err != nil || strings.Contains(string(b), "expiresAt") {
		t.Errorf("%s %v", b, err)
	}
}

// TestMirrorOnlyBlockKeepsTheConnection: the block the first sign-in of a
// server configured by URL alone writes (mirrored facts only) is no
// configuration, so the server keeps its connection and its trace.
func TestMirrorOnlyBlockKeepsTheConnection(t *testing.T) {
	bare := &Server{URL: "https://x.example/mcp"}
	mirrored := &Server{URL: "https://x.example/mcp", OAuth: &OAuth{OAuthMirror: OAuthMirror{Issuer: "https://as.example", AuthorizedAt: "2026-01-01T00:00:00Z"}}}
	if bare.ConnectionKey() != mirrored.ConnectionKey() {
		t.Error("a mirror-only oauth block changed the connection key")
	}
	configured := &Server{URL: "https://x.example/mcp", OAuth: &OAuth{OAuthConfig: OAuthConfig{Scopes: []string{"a"}}}}
	if bare.ConnectionKey() == configured.ConnectionKey() {
		t.Error("a configured oauth block kept the connection key")
	}
}
