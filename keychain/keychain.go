// Package keychain keeps mcptray's secrets (client secrets, access and
// refresh tokens, pending code verifiers) in the operating system's keychain:
// macOS Keychain, Windows Credential Manager, or the Secret Service on Linux,
// through github.com/zalando/go-keyring.
//
// A Store holds one opaque value per key (one item per server, so that a
// token refresh is one keychain write; macOS asks the user per item
// accessed), and keeps what it read in memory: the keychain is read at start
// and after a change, not on every request. Every keychain call is bounded
// in time, because go-keyring has none and a locked Secret Service with a
// display waits for a password prompt for ever.
//
// Where there is no keychain (headless Linux without a Secret Service, a
// locked keyring, a refused prompt), secrets go to secrets.json beside the
// settings file, mode 0600 in a 0700 folder, and Status says so.
package keychain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/mcptray/mcptray/internal/atomicfile"
	"github.com/mcptray/mcptray/internal/broadcast"
)

// Service is the keychain service name of mcptray's items.
const Service = "mcptray"

// Where a secret is kept, as Status and Where report it.
const (
	KindKeychain = "keychain"
	KindFile     = "file"
)

// Modes of Options.Mode, as in the settings' systemConfig.secretStore.
const (
	ModeAuto     = "auto"
	ModeKeychain = "keychain"
	ModeFile     = "file"
)

// ErrTimeout is wrapped by the error of a keychain call that did not answer
// in time.
var ErrTimeout = errors.New("the keychain did not answer")

// Options configure a Store.
type Options struct {
	Mode string // ModeAuto (default), ModeKeychain or ModeFile
	File string // secrets.json, for ModeFile and the fallback; required
	// Service names the keychain items; Service when empty.
	Service string
	// Timeout bounds one keychain call (5 s when 0).
	Timeout time.Duration
	// ItemLimit is the largest value one keychain item takes; larger values
	// are compressed, then split. 0 picks the platform's limit.
	ItemLimit int
	// VerifyEvery is how often Run checks that cached secrets are still in
	// the keychain (a user may delete an item by hand); a minute when 0.
	VerifyEvery time.Duration
	Logger      *slog.Logger
	// backend replaces go-keyring in tests of this package.
	backend backend
}

// Status says where secrets are kept and what went wrong, for the log, the
// control API and the tray.
type Status struct {
	Kind    string `json:"kind"`              // where new secrets go: keychain or file
	File    string `json:"file,omitempty"`    // the fallback file, when secrets are in it
	Message string `json:"message,omitempty"` // "secrets are stored in a file: …", a keychain error
}

// Store keeps secrets by key.
type Store struct {
	opts  Options
	log   *slog.Logger
	kc    *chunked // nil when the keychain is not used
	file  *fileStore
	calls callGuard

	// mu guards cache, where, reason and problem.
	mu      sync.Mutex
	cache   map[string][]byte // nil value: known to be missing
	where   map[string]string // key → KindKeychain or KindFile
	reason  string            // why new secrets go to the file, in auto mode
	problem string            // the last keychain error, while it lasts

	changes broadcast.Signal // secrets removed outside mcptray
}

// Open makes a store. In ModeAuto it checks, within the timeout, that the
// keychain answers, and falls back to the file when it does not.
func Open(opts Options) (*Store, error) {
	if opts.File == "" {
		return nil, errors.New("keychain: no fallback file")
	}
	if opts.Mode == "" {
		opts.Mode = ModeAuto
	}
	switch opts.Mode {
	case ModeAuto, ModeKeychain, ModeFile:
	default:
		return nil, fmt.Errorf("keychain: mode %q: want auto, keychain or file", opts.Mode)
	}
	if opts.Service == "" {
		opts.Service = Service
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.ItemLimit == 0 {
		opts.ItemLimit = platformLimit()
	}
	if opts.VerifyEvery <= 0 {
		opts.VerifyEvery = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{
		opts:  opts,
		log:   opts.Logger,
		file:  &fileStore{path: opts.File},
		calls: callGuard{timeout: opts.Timeout, sem: make(chan struct{}, 1)},
		cache: map[string][]byte{},
		where: map[string]string{},
	}
	if removed, err := atomicfile.CleanTemp(opts.File); err != nil {
		s.log.Warn("cannot remove temporary files an interrupted save of the secrets file left", "err", err)
	} else if len(removed) > 0 {
		s.log.Info("removed temporary files an interrupted save of the secrets file left", "count", len(removed))
	}
	if opts.Mode == ModeFile {
		s.log.Info("secrets are stored in a file, as systemConfig.secretStore asks", "file", opts.File)
		return s, nil
	}
	b := opts.backend
	if b == nil {
		if reason := sessionBusProblem(); reason != "" {
			if opts.Mode == ModeKeychain {
				return nil, fmt.Errorf("keychain: %s", reason)
			}
			s.fallBack(reason)
			return s, nil
		}
		b = osKeyring{}
	}
	s.kc = &chunked{b: b, service: opts.Service, limit: opts.ItemLimit}
	if opts.Mode == ModeAuto {
		// One read shows whether a keychain answers at all.
		err := s.calls.do(context.Background(), func() error {
			_, err := b.Get(opts.Service, "mcptray-probe")
			return err
		})
		if err != nil && !errors.Is(err, errBackendNotFound) {
			s.kc = nil
			s.fallBack("the keychain does not answer: " + err.Error())
		}
	}
	return s, nil
}

// fallBack sends new secrets to the file from now on.
func (s *Store) fallBack(reason string) {
	s.mu.Lock()
	first := s.reason == ""
	s.reason = reason
	s.mu.Unlock()
	if first {
		s.log.Warn("secrets are stored in a file", "file", s.opts.File, "reason", reason)
	}
}

// Status says where secrets go and what is wrong.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.opts.Mode == ModeFile:
		return Status{Kind: KindFile, File: s.opts.File, Message: "secrets are stored in a file (systemConfig.secretStore is \"file\")"}
	case s.reason != "":
		return Status{Kind: KindFile, File: s.opts.File, Message: "secrets are stored in a file: " + s.reason}
	case s.problem != "":
		return Status{Kind: KindKeychain, Message: s.problem}
	}
	return Status{Kind: KindKeychain}
}

// Where tells where the secret of key is: KindKeychain, KindFile, or "" when
// there is none.
func (s *Store) Where(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache[key] == nil {
		return ""
	}
	return s.where[key]
}

// Changes returns a channel that is closed when Run notices that secrets
// were removed outside mcptray (a user deleting a keychain item by hand):
// Get then answers for them as it would for keys never set.
func (s *Store) Changes() <-chan struct{} { return s.changes.C() }

// useKeychain reports whether new secrets go to the keychain.
func (s *Store) useKeychain() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kc != nil && s.reason == ""
}

// Get returns the secret of key, and false when there is none. It answers
// from memory after the first read.
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	v, cached := s.cache[key]
	s.mu.Unlock()
	if cached {
		return slices.Clone(v), v != nil, nil
	}
	v, where, err := s.load(ctx, key)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	if _, raced := s.cache[key]; !raced { // a Set meanwhile wins
		s.cache[key], s.where[key] = v, where
	}
	v = s.cache[key]
	s.mu.Unlock()
	return slices.Clone(v), v != nil, nil
}

// load reads key from the keychain, then from the file.
func (s *Store) load(ctx context.Context, key string) ([]byte, string, error) {
	if s.kc != nil {
		var v []byte
		err := s.calls.do(ctx, func() (err error) {
			v, err = s.kc.get(key)
			return err
		})
		switch {
		case err == nil:
			s.setProblem("")
			return v, KindKeychain, nil
		case errors.Is(err, ErrTimeout) || ctx.Err() != nil:
			s.setProblem(err.Error())
			return nil, "", fmt.Errorf("read secret of %s: %w", key, err)
		case !errors.Is(err, errBackendNotFound):
			s.setProblem("the keychain could not be read: " + err.Error())
			if s.opts.Mode == ModeKeychain {
				return nil, "", fmt.Errorf("read secret of %s: %w", key, err)
			}
		}
	}
	v, ok, err := s.file.get(key)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", nil
	}
	return v, KindFile, nil
}

// Set stores the secret of key. It is in memory at once, whatever happens
// to the write: a token that could not be saved keeps working until the
// process ends, and the error shows in Status. In auto mode a keychain that
// refuses the write sends it to the file instead.
func (s *Store) Set(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	s.cache[key] = slices.Clone(value)
	s.mu.Unlock()
	if s.useKeychain() {
		err := s.calls.do(ctx, func() error { return s.kc.set(key, value) })
		if err == nil {
			s.mu.Lock()
			s.where[key] = KindKeychain
			s.problem = ""
			s.mu.Unlock()
			if _, inFile, _ := s.file.get(key); inFile {
				_ = s.file.delete(key) // moved into the keychain
			}
			return nil
		}
		if s.opts.Mode == ModeKeychain {
			s.setProblem("a secret could not be saved to the keychain and is kept in memory only: " + err.Error())
			return fmt.Errorf("save secret of %s to the keychain (kept in memory): %w", key, err)
		}
		s.fallBack("the keychain refused a write: " + err.Error())
	}
	if err := s.file.set(key, value); err != nil {
		s.setProblem("a secret could not be saved and is kept in memory only: " + err.Error())
		return fmt.Errorf("save secret of %s (kept in memory): %w", key, err)
	}
	s.mu.Lock()
	s.where[key] = KindFile
	s.mu.Unlock()
	return nil
}

// Delete removes the secret of key from memory, the keychain and the file.
func (s *Store) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	s.cache[key] = nil
	delete(s.where, key)
	s.mu.Unlock()
	var errs []error
	if s.kc != nil {
		err := s.calls.do(ctx, func() error { return s.kc.delete(key) })
		if err != nil && !errors.Is(err, errBackendNotFound) {
			errs = append(errs, fmt.Errorf("delete secret of %s from the keychain: %w", key, err))
		}
	}
	if err := s.file.delete(key); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run checks every VerifyEvery, until ctx ends, that the secrets in memory
// are still where they were, and forgets (and tells on Changes) those a
// user deleted by hand, so that the server signs in again.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.VerifyEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.calls.wait(s.opts.Timeout)
			return nil
		case <-t.C:
			s.verify(ctx)
		}
	}
}

// verify re-reads the secrets held in memory.
func (s *Store) verify(ctx context.Context) {
	s.mu.Lock()
	held := map[string]string{}
	for k, v := range s.cache {
		if v != nil {
			held[k] = s.where[k]
		}
	}
	s.mu.Unlock()
	gone := 0
	defer func() {
		if gone > 0 {
			s.changes.Notify()
		}
	}()
	for _, key := range slices.Sorted(maps.Keys(held)) {
		var missing bool
		switch held[key] {
		case KindKeychain:
			err := s.calls.do(ctx, func() error {
				_, err := s.kc.get(key)
				return err
			})
			missing = errors.Is(err, errBackendNotFound)
		case KindFile:
			_, ok, err := s.file.get(key)
			missing = err == nil && !ok
		}
		if !missing {
			continue
		}
		s.mu.Lock()
		delete(s.cache, key)
		delete(s.where, key)
		s.mu.Unlock()
		s.log.Info("a secret was removed outside mcptray", "key", key)
		gone++
	}
}

func (s *Store) setProblem(p string) {
	s.mu.Lock()
	changed := s.problem != p
	s.problem = p
	s.mu.Unlock()
	if changed && p != "" {
		s.log.Warn("keychain", "err", p)
	}
}

// callGuard runs keychain calls one at a time, each bounded by timeout.
// A call that hangs keeps running in its goroutine (go-keyring cannot be
// interrupted), but nobody waits on it, and while it hangs further calls fail
// at once instead of queueing behind it.
type callGuard struct {
	timeout time.Duration
	sem     chan struct{} // held while a call runs
	// running is when the call in progress started, in Unix ns; 0 when
	// none. Only the goroutine that runs the call writes it, so a call
	// that ends just as its caller gives up cannot leave it set.
	running atomic.Int64
}

func (g *callGuard) do(ctx context.Context, f func() error) error {
	if since := g.running.Load(); since != 0 && time.Since(time.Unix(0, since)) >= g.timeout {
		return fmt.Errorf("%w: a keychain call has been waiting since %s, perhaps for a password prompt", ErrTimeout, time.Unix(0, since).Format(time.TimeOnly))
	}
	timer := time.NewTimer(g.timeout)
	defer timer.Stop()
	select {
	case g.sem <- struct{}{}:
	case <-timer.C:
		return fmt.Errorf("%w within %s", ErrTimeout, g.timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		g.running.Store(time.Now().UnixNano())
		err := translate(f())
		g.running.Store(0)
		<-g.sem
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("%w within %s", ErrTimeout, g.timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait gives a running call up to d to end, at shutdown.
func (g *callGuard) wait(d time.Duration) {
	select {
	case g.sem <- struct{}{}:
		<-g.sem
	case <-time.After(d):
	}
}

// translate maps go-keyring's not-found to the package's own.
func translate(err error) error {
	if errors.Is(err, keyring.ErrNotFound) {
		return errBackendNotFound
	}
	return err
}

// osKeyring is go-keyring.
type osKeyring struct{}

func (osKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (osKeyring) Set(service, user, password string) error {
	return keyring.Set(service, user, password)
}
func (osKeyring) Delete(service, user string) error { return keyring.Delete(service, user) }

// platformLimit is the largest value one keychain item takes here.
func platformLimit() int {
	switch runtime.GOOS {
	case "windows":
		return 2500 // Credential Manager: 2,560 bytes
	case "darwin":
		return 2800 // go-keyring: about 3,000 with service and account names
	}
	return 0 // the Secret Service has no limit
}
