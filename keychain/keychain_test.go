package keychain

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// limitedKeyring is go-keyring's mock with Windows Credential Manager's
// size limit, counting its items.
type limitedKeyring struct {
	limit int

	mu    sync.Mutex // guards items
	items map[string]string
	// block, when set, makes every call wait for it to close.
	block chan struct{}
	fail  error
}

func (k *limitedKeyring) wait() error {
	k.mu.Lock()
	b, f := k.block, k.fail
	k.mu.Unlock()
	if b != nil {
		<-b
	}
	return f
}

func (k *limitedKeyring) Get(service, user string) (string, error) {
	if err := k.wait(); err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.items[service+"/"+user]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (k *limitedKeyring) Set(service, user, password string) error {
	if err := k.wait(); err != nil {
		return err
	}
	if k.limit > 0 && len(password) > k.limit {
		return keyring.ErrSetDataTooBig
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.items == nil {
		k.items = map[string]string{}
	}
	k.items[service+"/"+user] = password
	return nil
}

func (k *limitedKeyring) Delete(service, user string) error {
	if err := k.wait(); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.items[service+"/"+user]; !ok {
		return keyring.ErrNotFound
	}
	delete(k.items, service+"/"+user)
	return nil
}

func (k *limitedKeyring) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.items)
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func open(t *testing.T, o Options) *Store {
	t.Helper()
	if o.File == "" {
		o.File = filepath.Join(t.TempDir(), "cfg", "secrets.json")
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestChunkingOverWindowsLimit(t *testing.T) {
	kc := &limitedKeyring{limit: 2560}
	s := open(t, Options{backend: kc, ItemLimit: 2500})
	ctx := context.Background()
	// JWTs do not compress much: random base64 stands for them.
	bundle := fmt.Sprintf(`{"accessToken":%q,"refreshToken":%q,"idToken":%q}`, randomToken(4000), randomToken(2000), randomToken(3000))
	if err := s.Set(ctx, "linear", []byte(bundle)); err != nil {
		t.Fatal(err)
	}
	if kc.count() < 4 {
		t.Fatalf("%d items for a %d-byte bundle: it was not split", kc.count(), len(bundle))
	}
	fresh := open(t, Options{backend: kc, ItemLimit: 2500, File: s.opts.File})
	got, ok, err := fresh.Get(ctx, "linear")
	if err != nil || !ok || string(got) != bundle {
		t.Fatalf("read back: ok=%v err=%v, equal=%v", ok, err, string(got) == bundle)
	}

	// A smaller bundle leaves no stale parts behind.
	small := `{"accessToken":"short"}`
	if err := s.Set(ctx, "linear", []byte(small)); err != nil {
		t.Fatal(err)
	}
	if kc.count() != 1 {
		t.Errorf("%d items after shrinking, want 1", kc.count())
	}
	got, _, _ = open(t, Options{backend: kc, ItemLimit: 2500}).Get(ctx, "linear")
	if string(got) != small {
		t.Errorf("after shrinking: %q", got)
	}

	if err := s.Delete(ctx, "linear"); err != nil {
		t.Fatal(err)
	}
	if kc.count() != 0 {
		t.Errorf("%d items after delete", kc.count())
	}
}

func TestCompressionKeepsOneItem(t *testing.T) {
	keyring.MockInit()
	s := open(t, Options{backend: osKeyring{}, ItemLimit: 2500})
	ctx := context.Background()
	bundle := `{"clients":{` + strings.Repeat(`"https://issuer.example.com/":{"clientId":"abc","redirectUri":"http://localhost:3000/oauth/callback"},`, 60) + `"x":{}}}`
	if err := s.Set(ctx, "notion", []byte(bundle)); err != nil {
		t.Fatal(err)
	}
	stored, err := keyring.Get(Service, "notion")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, gzPrefix) || len(stored) > 2500 {
		t.Errorf("a compressible %d-byte bundle was stored as %d bytes (%.20q)", len(bundle), len(stored), stored)
	}
	if _, err := keyring.Get(Service, "notion#1"); err == nil {
		t.Error("it was split though compression made it fit")
	}
	got, _, _ := open(t, Options{backend: osKeyring{}, ItemLimit: 2500}).Get(ctx, "notion")
	if string(got) != bundle {
		t.Error("compressed bundle read back wrong")
	}
}

func TestFallbackToFileWhenThereIsNoKeychain(t *testing.T) {
	keyring.MockInitWithError(errors.New("The name org.freedesktop.secrets was not provided by any .service files"))
	dir := filepath.Join(t.TempDir(), "mcptray")
	file := filepath.Join(dir, "secrets.json")
	s := open(t, Options{backend: osKeyring{}, File: file})
	st := s.Status()
	if st.Kind != KindFile || !strings.Contains(st.Message, "secrets are stored in a file") || !strings.Contains(st.Message, "org.freedesktop.secrets") {
		t.Errorf("status %+v", st)
	}
	ctx := context.Background()
	if err := s.Set(ctx, "github", []byte(`{"accessToken":"gho_fake"}`)); err != nil {
		t.Fatal(err)
	}
	if s.Where("github") != KindFile {
		t.Errorf("where: %q", s.Where("github"))
	}
	if runtime.GOOS != "windows" {
		checkMode(t, file, 0o600)
		checkMode(t, dir, 0o700)
	}
	got, ok, err := open(t, Options{backend: osKeyring{}, File: file}).Get(ctx, "github")
	if err != nil || !ok || string(got) != `{"accessToken":"gho_fake"}` {
		t.Errorf("read back from the file: %q %v %v", got, ok, err)
	}
}

func TestModeFileNeverTouchesTheKeychain(t *testing.T) {
	kc := &limitedKeyring{fail: errors.New("must not be called")}
	s := open(t, Options{Mode: ModeFile, backend: kc})
	if err := s.Set(context.Background(), "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if s.Status().Kind != KindFile || kc.count() != 0 {
		t.Errorf("status %+v, items %d", s.Status(), kc.count())
	}
}

func TestAHungKeychainIsNotWaitedOn(t *testing.T) {
	kc := &limitedKeyring{}
	s := open(t, Options{backend: kc, Timeout: 200 * time.Millisecond})
	if s.Status().Kind != KindKeychain {
		t.Fatalf("status %+v", s.Status())
	}
	release := make(chan struct{})
	defer close(release)
	kc.mu.Lock()
	kc.block = release // a password prompt nobody answers
	kc.mu.Unlock()

	ctx := context.Background()
	start := time.Now()
	if err := s.Set(ctx, "srv", []byte("token-1")); err != nil {
		t.Fatalf("Set during a hang: %v (auto mode should fall back to the file)", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Set waited %v on a hung keychain", d)
	}
	if st := s.Status(); st.Kind != KindFile || !strings.Contains(st.Message, "did not answer") {
		t.Errorf("status after the hang: %+v", st)
	}
	got, ok, _ := s.Get(ctx, "srv")
	if !ok || string(got) != "token-1" {
		t.Error("the token was lost")
	}
	// Later calls fail at once, with ErrTimeout, instead of queueing
	// behind the hung one: "has been waiting since" is the guard's answer
	// when it sees the hung call, not after a wait of its own.
	start = time.Now()
	_, _, err := s.load(ctx, "other")
	if took := time.Since(start); took > time.Second || !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "has been waiting since") {
		t.Errorf("a call during the hang took %v and answered %v; want ErrTimeout at once", took, err)
	}
}

func TestModeKeychainKeepsTokenInMemoryWhenSaveFails(t *testing.T) {
	kc := &limitedKeyring{}
	s := open(t, Options{Mode: ModeKeychain, backend: kc})
	kc.mu.Lock()
	kc.fail = errors.New("user refused the prompt")
	kc.mu.Unlock()
	ctx := context.Background()
	err := s.Set(ctx, "srv", []byte("token-2"))
	if err == nil || !strings.Contains(err.Error(), "kept in memory") {
		t.Errorf("Set: %v", err)
	}
	if got, ok, _ := s.Get(ctx, "srv"); !ok || string(got) != "token-2" {
		t.Error("the token was lost")
	}
	if st := s.Status(); !strings.Contains(st.Message, "refused") {
		t.Errorf("status does not show the error: %+v", st)
	}
}

func TestItemDeletedByHandIsNoticed(t *testing.T) {
	keyring.MockInit()
	s := open(t, Options{backend: osKeyring{}})
	ctx := context.Background()
	if err := s.Set(ctx, "srv", []byte("token-3")); err != nil {
		t.Fatal(err)
	}
	if err := keyring.Delete(Service, "srv"); err != nil { // the user, in Seahorse
		t.Fatal(err)
	}
	changed := s.Changes()
	s.verify(ctx)
	select {
	case <-changed:
	default:
		t.Fatal("the removal was not reported")
	}
	if _, ok, _ := s.Get(ctx, "srv"); ok {
		t.Error("the deleted secret is still served from memory")
	}
}

func TestEncodeNeverConfusesValues(t *testing.T) {
	for _, v := range []string{"", "{}", "mcptray:gz:looks encoded", "mcptray:chunks:3:abc", strings.Repeat("x", 5000)} {
		got, err := decode(encode([]byte(v), 2500))
		if err != nil || string(got) != v {
			t.Errorf("round trip of %.30q: %.30q %v", v, got, err)
		}
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}
