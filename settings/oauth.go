package settings

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"time"
)

// This file owns a server's oauth block: each of its fields is described
// here once, with what mcptray does with it. The block has three parts:
//
//   - OAuthConfig, what the user writes (MCPHub's names). It is the OAuth
//     flow's configuration (oauthflow.Config embeds it), the part a
//     connection depends on (ConnectionKey), and the part whose placeholders
//     Resolve expands.
//   - OAuthMirror, what mcptray writes after a sign-in for the user to see.
//     Never a secret; changing it reconnects nothing.
//   - LegacySecrets, what MCPHub kept in plain text. mcptray moves it into
//     the keychain when it reads such a file, and clears it from the file.
//
// A new field goes into one of the three structs, and that is the only edit
// the settings need.

// OAuth is a server's oauth block.
type OAuth struct {
	OAuthConfig
	OAuthMirror
	LegacySecrets
	Extra map[string]json.RawMessage `json:"-"`
}

// OAuthConfig is the part of the block the user configures.
type OAuthConfig struct {
	// ClientID and ClientSecret name a client the user registered (GitHub,
	// which offers no registration). A literal secret is moved to the
	// keychain; a ${VAR} placeholder is configuration and stays.
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
	// Scopes to ask for instead of those the server asks for.
	Scopes []string `json:"scopes,omitzero"`
	// Resource, when set, is the RFC 8707 resource to ask for; "" sends
	// none (Microsoft Entra refuses the parameter, AADSTS9010010).
	Resource *string `json:"resource,omitempty"`
	// Endpoints to use instead of discovering them.
	AuthorizationEndpoint string `json:"authorizationEndpoint,omitempty"`
	TokenEndpoint         string `json:"tokenEndpoint,omitempty"`
	RevocationEndpoint    string `json:"revocationEndpoint,omitempty"`
	// RedirectURI is where the browser comes back; the hub's callback when
	// empty.
	RedirectURI string `json:"redirectUri,omitempty"`
	// ClientMetadataURL is a Client ID Metadata Document (an https URL),
	// used when the authorization server supports them.
	ClientMetadataURL   string               `json:"clientMetadataUrl,omitempty"`
	DynamicRegistration *DynamicRegistration `json:"dynamicRegistration,omitempty"`
}

// DynamicRegistration configures RFC 7591 registration.
type DynamicRegistration struct {
	Enabled              *bool                      `json:"enabled,omitempty"`
	Issuer               string                     `json:"issuer,omitempty"`
	RegistrationEndpoint string                     `json:"registrationEndpoint,omitempty"`
	Metadata             map[string]any             `json:"metadata,omitzero"` // merged over mcptray's
	InitialAccessToken   string                     `json:"initialAccessToken,omitempty"`
	Extra                map[string]json.RawMessage `json:"-"`
}

// OAuthMirror is what mcptray writes into the block after a sign-in. The
// endpoints discovery found go under discovered, not into
// authorizationEndpoint and tokenEndpoint, which are configuration and
// would stop discovery.
type OAuthMirror struct {
	Issuer           string               `json:"issuer,omitempty"`
	RegisteredClient string               `json:"registeredClientId,omitempty"` // "" for a configured client
	Registration     string               `json:"registration,omitempty"`       // static, cimd or dynamic
	Discovered       *DiscoveredEndpoints `json:"discovered,omitempty"`
	GrantedScopes    []string             `json:"grantedScopes,omitzero"`
	// ExpiresAt is no longer written: it changes with every token refresh,
	// and a file rewritten at each refresh re-applies the settings and
	// redraws the tray (issue 9). The API shows the expiry. SetMirror drops
	// the one an earlier mcptray wrote.
	ExpiresAt string `json:"expiresAt,omitempty"`
	// AuthorizedAt says a sign-in once completed: a server that asks again
	// later lost credentials that worked, and no browser opens by surprise.
	AuthorizedAt string `json:"authorizedAt,omitempty"`
	TokenStore   string `json:"tokenStore,omitempty"` // keychain or file
}

// DiscoveredEndpoints are the authorization server's endpoints as
// discovery found them.
type DiscoveredEndpoints struct {
	Authorization string                     `json:"authorizationEndpoint,omitempty"`
	Token         string                     `json:"tokenEndpoint,omitempty"`
	Revocation    string                     `json:"revocationEndpoint,omitempty"`
	Extra         map[string]json.RawMessage `json:"-"`
}

// LegacySecrets are the secrets MCPHub keeps in the block.
type LegacySecrets struct {
	AccessToken          string                `json:"accessToken,omitempty"`
	RefreshToken         string                `json:"refreshToken,omitempty"`
	PendingAuthorization *PendingAuthorization `json:"pendingAuthorization,omitempty"`
}

// PendingAuthorization is MCPHub's record of an authorization in progress.
type PendingAuthorization struct {
	AuthorizationURL string                     `json:"authorizationUrl,omitempty"`
	State            string                     `json:"state,omitempty"`
	CodeVerifier     string                     `json:"codeVerifier,omitempty"`
	CreatedAt        int64                      `json:"createdAt,omitempty"` // Unix ms
	Extra            map[string]json.RawMessage `json:"-"`
}

// PlainSecrets is what of a block is secret and written in plain text: a
// literal client secret, tokens, a code verifier.
type PlainSecrets struct {
	ClientSecret string // "" when the block holds a ${VAR} placeholder
	LegacySecrets
}

// literalSecret is the client secret when it is a secret, not a ${VAR}
// placeholder.
func (c *OAuthConfig) literalSecret() string {
	if strings.Contains(c.ClientSecret, "$") {
		return ""
	}
	return c.ClientSecret
}

// HasSecrets reports whether the block holds secrets in plain text, as
// MCPHub writes them.
func (o *OAuth) HasSecrets() bool {
	return o != nil && (o.literalSecret() != "" || o.AccessToken != "" || o.RefreshToken != "" ||
		o.PendingAuthorization != nil && o.PendingAuthorization.CodeVerifier != "")
}

// Secrets returns the block's plain-text secrets, to move into the keychain.
func (o *OAuth) Secrets() PlainSecrets {
	p := PlainSecrets{ClientSecret: o.literalSecret(), LegacySecrets: o.LegacySecrets}
	if o.PendingAuthorization != nil {
		pa := *o.PendingAuthorization
		p.PendingAuthorization = &pa
	}
	return p
}

// ClearSecrets removes the plain-text secrets once they are in the secret
// store, and records where they went. A pending authorization keeps its
// state and URL, which are not secret.
func (o *OAuth) ClearSecrets(tokenStore string) {
	if o.literalSecret() != "" {
		o.ClientSecret = ""
	}
	o.AccessToken, o.RefreshToken = "", ""
	if p := o.PendingAuthorization; p != nil {
		p.CodeVerifier = ""
		if p.State == "" && p.AuthorizationURL == "" {
			o.PendingAuthorization = nil
		}
	}
	if tokenStore != "" {
		o.TokenStore = tokenStore
	}
}

// SetMirror writes what mcptray learned at a sign-in: facts that change at
// a sign-in, a sign-out or a new registration, never at a refresh. A
// sign-out clears the authorization's facts but keeps AuthorizedAt (the
// server was authorized before) and where tokens go; endpoints not
// discovered yet in this run keep the ones the file has.
func (o *OAuth) SetMirror(m OAuthMirror) {
	m.ExpiresAt = ""
	if m.AuthorizedAt == "" {
		m.AuthorizedAt = o.AuthorizedAt
	}
	if m.TokenStore == "" {
		m.TokenStore = o.TokenStore
	}
	if m.Discovered == nil {
		m.Discovered = o.Discovered
	} else if o.Discovered != nil {
		d := *m.Discovered
		d.Extra = o.Discovered.Extra
		m.Discovered = &d
	}
	if len(m.GrantedScopes) == 0 {
		m.GrantedScopes = nil
	}
	o.OAuthMirror = m
}

// FormatTime is how the mirror writes a time: UTC, to the second.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// expand returns c with every placeholder expanded. It walks the struct, so
// that a new string field is expanded without an edit here; the
// registration metadata, free-form JSON, is copied as it is.
func (c OAuthConfig) expand(x *Expander) OAuthConfig {
	v := reflect.ValueOf(&c).Elem()
	expandValue(v, x)
	return c
}

// expandValue expands the strings in v in place; pointers, slices and maps
// are replaced with expanded copies, so the settings keep their
// placeholders.
func expandValue(v reflect.Value, x *Expander) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(x.Expand(v.String()))
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		cp := reflect.New(v.Type().Elem())
		cp.Elem().Set(v.Elem())
		expandValue(cp.Elem(), x)
		v.Set(cp)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() && v.Type().Field(i).Tag.Get("json") != "-" {
				expandValue(f, x)
			}
		}
	case reflect.Slice:
		if v.IsNil() || v.Type().Elem().Kind() != reflect.String {
			return
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			cp.Index(i).SetString(x.Expand(v.Index(i).String()))
		}
		v.Set(cp)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		if v.Type().Elem().Kind() == reflect.String {
			cp := reflect.MakeMapWithSize(v.Type(), v.Len())
			for it := v.MapRange(); it.Next(); {
				cp.SetMapIndex(it.Key(), reflect.ValueOf(x.Expand(it.Value().String())).Convert(v.Type().Elem()))
			}
			v.Set(cp)
			return
		}
		if m, ok := v.Interface().(map[string]any); ok {
			v.Set(reflect.ValueOf(maps.Clone(m)))
		}
	}
}

func (o *OAuth) UnmarshalJSON(data []byte) error {
	type plain OAuth
	return unmarshalKeepingExtra(data, (*plain)(o), &o.Extra)
}

func (o OAuth) MarshalJSON() ([]byte, error) {
	type plain OAuth
	return marshalWithExtra((*plain)(&o), o.Extra)
}

func (d *DynamicRegistration) UnmarshalJSON(data []byte) error {
	type plain DynamicRegistration
	return unmarshalKeepingExtra(data, (*plain)(d), &d.Extra)
}

func (d DynamicRegistration) MarshalJSON() ([]byte, error) {
	type plain DynamicRegistration
	return marshalWithExtra((*plain)(&d), d.Extra)
}

func (d *DiscoveredEndpoints) UnmarshalJSON(data []byte) error {
	type plain DiscoveredEndpoints
	return unmarshalKeepingExtra(data, (*plain)(d), &d.Extra)
}

func (d DiscoveredEndpoints) MarshalJSON() ([]byte, error) {
	type plain DiscoveredEndpoints
	return marshalWithExtra((*plain)(&d), d.Extra)
}

func (p *PendingAuthorization) UnmarshalJSON(data []byte) error {
	type plain PendingAuthorization
	return unmarshalKeepingExtra(data, (*plain)(p), &p.Extra)
}

func (p PendingAuthorization) MarshalJSON() ([]byte, error) {
	type plain PendingAuthorization
	return marshalWithExtra((*plain)(&p), p.Extra)
}
