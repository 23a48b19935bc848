//go:build unix

// Package gobuild builds the Go programs among mcptray's test peers that
// live in modules of their own (testpeers/hydra, testpeers/zitadelop), once
// for each version of their sources, into the user's cache folder. The
// tests call it through package testpeers; scripts/test runs
// testpeers/gobuild/prebuild first so that the first test does not wait
// for Hydra to compile.
package gobuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// Program is a test peer built from a module under testpeers.
type Program struct {
	Name   string   // the binary's name, and the folder of its module under testpeers
	Pkg    string   // the package to build, inside that module
	Tags   []string // build tags
	CGO    bool     // needs cgo (a C compiler)
	Source []string // folders whose .go files are the program's own (besides go.mod and go.sum)
}

// Programs are the peers this package builds.
var Programs = map[string]Program{
	// Hydra keeps its memory database in SQLite, which needs cgo and these
	// tags (Hydra's Makefile builds with them).
	"hydra":     {Name: "hydra", Pkg: "github.com/ory/hydra/v2", Tags: []string{"sqlite", "sqlite_omit_load_extension"}, CGO: true},
	"zitadelop": {Name: "zitadelop", Pkg: ".", Source: []string{"."}},
}

// The user's HOME and cache folder as the process started: tests that
// give themselves a private HOME (keychaintest does, for its Secret
// Service) must still find the binaries, and the go command its build and
// module caches, where they are; package variables are set before any
// TestMain runs.
var (
	startHome, homeSet   = os.LookupEnv("HOME")
	startXDG, xdgSet     = os.LookupEnv("XDG_CACHE_HOME")
	startCache, cacheErr = os.UserCacheDir()
)

// goEnv is the environment for the go command, with the HOME and
// XDG_CACHE_HOME the process started with.
func goEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CACHE_HOME=")
	})
	if homeSet {
		env = append(env, "HOME="+startHome)
	}
	if xdgSet {
		env = append(env, "XDG_CACHE_HOME="+startXDG)
	}
	return append(env, "GOWORK=off", "GOFLAGS=-mod=readonly")
}

// GoEnv is the environment for a go command that builds a test peer: the
// HOME and XDG_CACHE_HOME the process started with, so that the go
// command finds its build and module caches even in a test that gave
// itself a private HOME.
func GoEnv() []string { return goEnv() }

// CacheDir is the user cache folder as the process started, or an error.
func CacheDir() (string, error) { return startCache, cacheErr }

// Dir returns the testpeers folder in the source tree.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Build returns the path of the named program's binary, building it first
// when the cache has none for its current sources. Concurrent callers (test
// binaries of several packages) wait for one build.
func Build(ctx context.Context, name string) (string, error) {
	p, ok := Programs[name]
	if !ok {
		return "", fmt.Errorf("unknown test peer %q", name)
	}
	mod := filepath.Join(Dir(), p.Name)
	key, err := p.key(ctx, mod)
	if err != nil {
		return "", err
	}
	if cacheErr != nil {
		return "", fmt.Errorf("cache folder: %w", cacheErr)
	}
	root := filepath.Join(startCache, "mcptray-testpeers")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(root, p.Name+"-"+key, p.Name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}

	// One build at a time per program, across processes.
	lock, err := os.OpenFile(filepath.Join(root, p.Name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks too
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	args := []string{"build", "-o", tmp}
	if len(p.Tags) > 0 {
		args = append(args, "-tags", strings.Join(p.Tags, ","))
	}
	cmd := exec.CommandContext(ctx, "go", append(args, p.Pkg)...)
	cmd.Dir = mod
	cmd.Env = goEnv()
	if p.CGO {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", p.Name, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// key is a digest of what the binary is built from: the go command's
// version, the build settings, go.mod, go.sum and the program's own files.
func (p Program) key(ctx context.Context, mod string) (string, error) {
	h := sha256.New()
	goenv := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOOS", "GOARCH")
	goenv.Env = goEnv()
	v, err := goenv.Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%v\x00", v, p.Pkg, strings.Join(p.Tags, ","), p.CGO)
	files := []string{"go.mod", "go.sum"}
	for _, dir := range p.Source {
		entries, err := os.ReadDir(filepath.Join(mod, dir))
		if err != nil {
			return "", err
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(mod, f))
		if err != nil && !(errors.Is(err, fs.ErrNotExist) && f == "go.sum") {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
