package hub

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// TestMigratesMCPHubSecrets loads a settings file MCPHub wrote, with
// secrets in plain text, and expects them in the secret store and out of
// the file, every other byte of the file kept.
func TestMigratesMCPHubSecrets(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("..", "settings", "testdata", "mcphub_settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(path, orig, 0o600)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := settings.Open(path, log)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := keychain.Open(keychain.Options{Mode: keychain.ModeFile, File: filepath.Join(dir, "secrets.json"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := oauthflow.New(oauthflow.Options{Store: secrets, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Settings: store, Logger: log, Auth: auth, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	h.configureAuth(context.Background(), store.Current())

	after, _ := os.ReadFile(path)
	for _, secret := range []string{"fake-linear-secret-0000", "fake-access-token-0000", "fake-refresh-token-0000", "fake-verifier-0000"} {
		if strings.Contains(string(after), secret) {
			t.Errorf("the settings file still holds %s", secret)
		}
	}
	for _, kept := range []string{`"clientSecret": "${GITHUB_OAUTH_APP_SECRET}"`, `"clientId": "lin_client_0000"`, `"state": "st-0000"`, `"tokenStore": "file"`} {
		if !strings.Contains(string(after), kept) {
			t.Errorf("the settings file lost %s", kept)
		}
	}
	// Only the linear server's oauth block changed.
	if a, b := strings.Count(string(orig), "\n"), strings.Count(string(after), "\n"); b < a-4 || b > a {
		t.Errorf("%d lines became %d: more than the secrets changed", a, b)
	}
	if !strings.Contains(string(after), `"bearerKeys"`) || !strings.Contains(string(after), `"smartRouting"`) {
		t.Error("fields mcptray does not know were lost")
	}
	bundle, ok, err := secrets.Get(context.Background(), "linear")
	if err != nil || !ok {
		t.Fatalf("no bundle for linear: %v", err)
	}
	for _, secret := range []string{"fake-linear-secret-0000", "fake-access-token-0000", "fake-refresh-token-0000", "fake-verifier-0000"} {
		if !strings.Contains(string(bundle), secret) {
			t.Errorf("the secret store lacks %s", secret)
		}
	}
	if _, ok, _ := secrets.Get(context.Background(), "github"); ok {
		t.Error("a ${VAR} placeholder was taken for a secret")
	}
	fi, _ := os.Stat(filepath.Join(dir, "secrets.json"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets.json has mode %v", fi.Mode().Perm())
	}

	// A second pass finds nothing left to move and writes nothing.
	before, _ := os.Stat(path)
	h.configureAuth(context.Background(), store.Current())
	if now, _ := os.Stat(path); !now.ModTime().Equal(before.ModTime()) {
		t.Error("a second migration rewrote the file")
	}
}
