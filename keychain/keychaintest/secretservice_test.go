//go:build linux

package keychaintest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcptray/mcptray/keychain"
)

var session *Session

func TestMain(m *testing.M) {
	var err error
	session, err = Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "secret service:", err)
		os.Exit(1)
	}
	code := m.Run()
	session.Stop()
	os.Exit(code)
}

// TestRealSecretService stores, reads, and loses (by hand) a secret in
// gnome-keyring over a private session bus.
func TestRealSecretService(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secrets.json")
	s, err := keychain.Open(keychain.Options{File: file, VerifyEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Kind != keychain.KindKeychain || st.Message != "" {
		t.Fatalf("status with a Secret Service: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// A bundle bigger than any platform's item: the Secret Service takes it
	// in one item.
	bundle := `{"accessToken":"` + strings.Repeat("a", 6000) + `"}`
	if err := s.Set(ctx, "linear", []byte(bundle)); err != nil {
		t.Fatal(err)
	}
	got, ok := session.Lookup(keychain.Service, "linear")
	if !ok || got != bundle {
		t.Fatalf("secret-tool lookup: found=%v, same=%v", ok, got == bundle)
	}
	if _, ok := session.Lookup(keychain.Service, "linear#1"); ok {
		t.Error("the Secret Service item was split")
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("secrets.json was written though the keychain works")
	}

	fresh, _ := keychain.Open(keychain.Options{File: file})
	v, ok, err := fresh.Get(ctx, "linear")
	if err != nil || !ok || string(v) != bundle {
		t.Fatalf("read back by another store: %v %v", ok, err)
	}

	changed := s.Changes()
	if err := session.Clear(keychain.Service, "linear"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("the item deleted with secret-tool was not noticed")
	}
	if _, ok, _ := s.Get(ctx, "linear"); ok {
		t.Error("the deleted item is still served")
	}
}
