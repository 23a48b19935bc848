package oauthflow

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestTheProjectsClientMetadataDocument: the document in the repository
// is the one the defaults name: its client_id is DefaultClientMetadataURL,
// its redirect_uris DefaultClientMetadataRedirectURIs, and it describes a
// public native client, as the draft requires of a document without a
// key.
func TestTheProjectsClientMetadataDocument(t *testing.T) {
	raw, err := os.ReadFile("../docs/oauth/client-metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ClientID     string   `json:"client_id"`
		RedirectURIs []string `json:"redirect_uris"`
		GrantTypes   []string `json:"grant_types"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
		AppType      string   `json:"application_type"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ClientID != DefaultClientMetadataURL {
		t.Errorf("client_id %q, DefaultClientMetadataURL %q", doc.ClientID, DefaultClientMetadataURL)
	}
	if !slices.Equal(doc.RedirectURIs, strings.Split(DefaultClientMetadataRedirectURIs, ",")) {
		t.Errorf("redirect_uris %v, DefaultClientMetadataRedirectURIs %q", doc.RedirectURIs, DefaultClientMetadataRedirectURIs)
	}
	if !slices.Contains(doc.RedirectURIs, "http://localhost:3000/oauth/callback") {
		t.Error("the document does not cover the default callback")
	}
	if doc.AuthMethod != "none" || doc.AppType != "native" || !slices.Equal(doc.GrantTypes, []string{"authorization_code", "refresh_token"}) {
		t.Errorf("document %+v", doc)
	}
}

// TestOwnClientMetadataDocument: with a server that supports Client ID
// Metadata Documents and no client configured, mcptray identifies with its
// own, when its redirect URI is the document's; it registers otherwise;
// the user's clientMetadataUrl wins.
func TestOwnClientMetadataDocument(t *testing.T) {
	const own = "https://pages.example/mcptray/client-metadata.json"
	for _, c := range []struct {
		name     string
		covered  bool
		users    string
		wantID   string
		register bool
	}{
		{"covered", true, "", own, false},
		{"other redirect", false, "", "client-1", true},
		{"the user's wins", true, "https://corp.example/mcptray.json", "https://corp.example/mcptray.json", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			as := newFakeAS(t)
			as.cimd = true
			h := newHarnessWith(t, as, func(o *Options) {
				o.ClientMetadataURL = own
				o.ClientMetadataRedirectURIs = []string{"http://localhost:3000/oauth/callback"}
			})
			cfg := h.cfg()
			if c.covered {
				h.m.cimdURIs = []string{cfg.RedirectURI}
			}
			cfg.ClientMetadataURL = c.users
			for _, id := range []string{own, c.users} {
				if id != "" {
					as.addClient(fakeClient{id: id, method: "none", redirects: []string{cfg.RedirectURI}})
				}
			}
			h.signIn("s", cfg)
			h.expectOK("s", cfg)
			if q := as.authRequests[0]; q.Get("client_id") != c.wantID {
				t.Errorf("client_id %q, want %q", q.Get("client_id"), c.wantID)
			}
			if got := len(as.registrations) > 0; got != c.register {
				t.Errorf("registered: %v", got)
			}
			if s := h.m.Summary("s"); c.wantID == own && (s.Registration != "cimd" || s.ClientID != own) {
				t.Errorf("summary %+v", s)
			}
		})
	}
}
