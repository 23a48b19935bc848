package oauthflow

import (
	_ "embed"
	"encoding/json"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Preset is what mcptray knows of one provider's authorization server that
// its metadata does not say: how it registers clients, whether it takes
// the RFC 8707 resource, which scopes it needs, what its metadata omits.
// The presets are data (presets.json), applied by host: the issuer's, else
// the MCP server's. The settings' oauth block wins over a preset (a
// configured resource, scopes, client).
type Preset struct {
	Name string `json:"name"`
	// Hosts match the issuer's host or the MCP server's: "github.com"
	// matches github.com and its subdomains.
	Hosts []string `json:"hosts,omitempty"`
	// IssuerPath matches an issuer whose path holds it ("/realms/":
	// Keycloak, whose host is anyone's).
	IssuerPath string `json:"issuerPath,omitempty"`
	// Registration is how it registers clients: "static" (the user brings
	// a client id), "dynamic" (RFC 7591), "cimd" (Client ID Metadata
	// Documents). For the README; the metadata decides what is used.
	Registration string `json:"registration"`
	// ClientHelp says how to get a client where the server registers none,
	// {redirect} standing for mcptray's redirect URI.
	ClientHelp string `json:"clientHelp,omitempty"`
	// RegistrationHelp is added to the error of a refused registration.
	RegistrationHelp string `json:"registrationHelp,omitempty"`
	// Resource false: the RFC 8707 resource is not sent (the server
	// refuses it, or binds nothing to it).
	Resource *bool `json:"resource,omitempty"`
	// Audience: the resource also goes as "audience" in the authorization
	// request, the parameter the server binds tokens with (Auth0).
	Audience bool `json:"audience,omitempty"`
	// Scopes are asked for when neither the settings nor the server name
	// any.
	Scopes []string `json:"scopes,omitempty"`
	// OfflineAccess: "add" asks for offline_access (for a refresh token)
	// though the metadata does not list it; "never" leaves it out (the
	// server refuses it); "" asks for it where the metadata lists it.
	OfflineAccess string `json:"offlineAccess,omitempty"`
	// AuthParams are added to the authorization request.
	AuthParams map[string]string `json:"authParams,omitempty"`
	// PKCEUnlisted: the metadata omits code_challenge_methods_supported,
	// though the server does S256.
	PKCEUnlisted bool `json:"pkceUnlisted,omitempty"`
	// IssuerPlaceholder: a multi-tenant metadata document names its
	// issuer with this in place of the tenant ("{tenantid}").
	IssuerPlaceholder string `json:"issuerPlaceholder,omitempty"`
	// InitialAccessTokenScheme is the Authorization scheme of
	// oauth.dynamicRegistration.initialAccessToken; "Bearer" when empty.
	InitialAccessTokenScheme string `json:"initialAccessTokenScheme,omitempty"`
	// Notes say what else it does, for the README.
	Notes string `json:"notes,omitempty"`
}

//go:embed presets.json
var presetsJSON []byte

// builtinPresets are presets.json's.
func builtinPresets() []Preset {
	var ps []Preset
	if err := json.Unmarshal(presetsJSON, &ps); err != nil {
		panic("oauthflow: presets.json: " + err.Error())
	}
	return ps
}

// presetFor returns the preset for an issuer, or for the MCP server's URL
// when the issuer matches none (either may be ""), or nil.
func (m *Manager) presetFor(issuer, serverURL string) *Preset {
	for _, raw := range []string{issuer, serverURL} {
		u, err := url.Parse(raw)
		if raw == "" || err != nil {
			continue
		}
		host := strings.ToLower(u.Hostname())
		for i := range m.presets {
			p := &m.presets[i]
			if p.IssuerPath != "" && raw == issuer && strings.Contains(u.Path, p.IssuerPath) {
				return p
			}
			for _, h := range p.Hosts {
				if host == h || strings.HasSuffix(host, "."+h) {
					return p
				}
			}
		}
	}
	return nil
}

// The accessors below answer for no preset too (a nil *Preset).

func (p *Preset) sendsResource() bool { return p == nil || p.Resource == nil || *p.Resource }

func (p *Preset) pkceUnlisted() bool { return p != nil && p.PKCEUnlisted }

func (p *Preset) defaultScopes() []string {
	if p == nil {
		return nil
	}
	return p.Scopes
}

func (p *Preset) offlineAccess() string {
	if p == nil {
		return ""
	}
	return p.OfflineAccess
}

func (p *Preset) initialAccessTokenScheme() string {
	if p == nil || p.InitialAccessTokenScheme == "" {
		return "Bearer"
	}
	return p.InitialAccessTokenScheme
}

func (p *Preset) clientHelp(redirect string) string {
	if p == nil {
		return ""
	}
	return strings.ReplaceAll(p.ClientHelp, "{redirect}", redirect)
}

func (p *Preset) registrationHelp() string {
	if p == nil {
		return ""
	}
	return p.RegistrationHelp
}

// authParams are the preset's additions to the authorization request.
func (p *Preset) authParams(resource string) []oauth2.AuthCodeOption {
	if p == nil {
		return nil
	}
	var out []oauth2.AuthCodeOption
	for k, v := range p.AuthParams {
		out = append(out, oauth2.SetAuthURLParam(k, v))
	}
	if p.Audience && resource != "" {
		out = append(out, oauth2.SetAuthURLParam("audience", resource))
	}
	return out
}

// issuerMatches reports whether a metadata document's issuer is the
// preset's template of the issuer it was looked up for: Microsoft Entra
// ID's multi-tenant documents (/common, /organizations, /consumers) name
// https://login.microsoftonline.com/{tenantid}/v2.0 for every tenant.
func (p *Preset) issuerMatches(got, lookedUp string) bool {
	if p == nil || p.IssuerPlaceholder == "" || !strings.Contains(got, p.IssuerPlaceholder) {
		return false
	}
	before, after, _ := strings.Cut(got, p.IssuerPlaceholder)
	want := strings.TrimSuffix(lookedUp, "/")
	got = strings.TrimSuffix(after, "/")
	if !strings.HasPrefix(want, before) || !strings.HasSuffix(want, got) {
		return false
	}
	tenant := strings.TrimSuffix(strings.TrimPrefix(want, before), got)
	return tenant != "" && !strings.Contains(tenant, "/")
}
