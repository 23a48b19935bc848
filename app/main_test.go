//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcptray/mcptray/settings"
)

// binaries holds mcptray and the hub's test server, built once.
var binaries struct{ mcptray, testserver string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcptray-app-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// mcptray's own folders (the secrets of settings kept elsewhere, the
	// log) go to the test's, not the user's.
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	binaries.mcptray = filepath.Join(dir, "mcptray")
	binaries.testserver = filepath.Join(dir, "testserver")
	for out, pkg := range map[string]string{binaries.mcptray: ".", binaries.testserver: "../testpeers/goserver"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg, err)
			os.Exit(1)
		}
	}
	stopSecrets, err := startSecretService()
	if err != nil {
		fmt.Fprintln(os.Stderr, "secret service:", err)
		os.Exit(1)
	}
	code := m.Run()
	stopSecrets()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestVersion(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"--version"}, &out, &errs); code != 0 || strings.TrimSpace(out.String()) != "mcptray "+version {
		t.Errorf("--version: %d %q %q", code, out.String(), errs.String())
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errs); code != 2 || !strings.Contains(errs.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, errs.String())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestHeadlessLifecycle runs the real binary as a user would: it serves,
// `mcptray status` shows its servers, a second start says it already runs,
// and SIGTERM stops it with no child left.
func TestHeadlessLifecycle(t *testing.T) {
	dir := t.TempDir()
	settingsFile := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(settingsFile, []byte(fmt.Sprintf(`{"mcpServers": {"tools": {"command": %q, "args": ["stdio"]}, "broken": {"url": "http://127.0.0.1:1/mcp"}}}`, binaries.testserver)), 0o600)
	addr := freeAddr(t)
	var stderr bytes.Buffer
	cmd := exec.Command(binaries.mcptray, "--headless", "--settings", settingsFile, "--listen", addr)
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

	var childPID int
	deadline := time.Now().Add(30 * time.Second)
	for childPID == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not connect:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
		resp, err := http.Get("http://" + addr + "/api/servers")
		if err != nil {
			continue
		}
		var list struct {
			Servers []struct {
				Name, State string
				PID         int
			}
		}
		json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		for _, s := range list.Servers {
			if s.Name == "tools" && s.State == "connected" {
				childPID = s.PID
			}
		}
	}

	var out, errs bytes.Buffer
	if code := run([]string{"status", "--listen", addr, "--settings", settingsFile}, &out, &errs); code != 0 {
		t.Fatalf("status: %d %s", code, errs.String())
	}
	table := out.String()
	for _, want := range []string{"NAME", "tools", "stdio", "connected", "broken", "error", "cannot reach http://127.0.0.1:1/mcp"} {
		if !strings.Contains(table, want) {
			t.Errorf("status output lacks %q:\n%s", want, table)
		}
	}

	// Without --listen, the commands find it from the settings file's lock.
	out.Reset()
	if code := run([]string{"status", "--settings", settingsFile}, &out, &errs); code != 0 || !strings.Contains(out.String(), "endpoint: http://localhost:"+addr[strings.LastIndex(addr, ":")+1:]+"/mcp") {
		t.Errorf("status found by the lock file: %d %s %s", code, out.String(), errs.String())
	}

	// A second instance on the same settings file refuses, whatever its
	// --listen, and names the one that runs.
	for _, listen := range []string{addr, freeAddr(t)} {
		second := exec.Command(binaries.mcptray, "--headless", "--settings", settingsFile, "--listen", listen)
		msg, err := second.CombinedOutput()
		if err == nil {
			t.Fatalf("a second instance started on %s", listen)
		}
		want := fmt.Sprintf("mcptray is already running on %s (pid %d, http://localhost:", settingsFile, cmd.Process.Pid)
		if !strings.Contains(string(msg), want) || strings.Contains(string(msg), "goroutine") {
			t.Errorf("second start on %s said:\n%s\nwant %q", listen, msg, want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("mcptray did not stop within 15 s of SIGTERM")
	}
	if err := syscall.Kill(childPID, 0); err == nil {
		t.Errorf("the stdio server (pid %d) still runs", childPID)
	}

	var notRunning bytes.Buffer
	if code := run([]string{"status", "--listen", addr}, &out, &notRunning); code != 1 || !strings.Contains(notRunning.String(), "not running") {
		t.Errorf("status with nothing running: %d %q", code, notRunning.String())
	}
}

// TestSecretsFileInAPrivateFolder: the secrets file (when no keychain keeps
// the secrets) is next to the settings only in a folder mcptray keeps
// private; next to settings in a folder of the user's own, it goes to
// mcptray's folder instead, made 0700; one an older mcptray left there
// stays in use (issue 11).
func TestSecretsFileInAPrivateFolder(t *testing.T) {
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(path string) *settings.Store {
		s, err := settings.Open(path, log)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// mcptray's default folder, loose: tightened, and the file beside.
	def := filepath.Join(config, "mcptray", "mcp_settings.json")
	os.MkdirAll(filepath.Dir(def), 0o755)
	os.Chmod(filepath.Dir(def), 0o755)
	if got, err := secretsFile(open(def), log); err != nil || got != filepath.Join(config, "mcptray", "secrets.json") {
		t.Errorf("default settings: %q %v", got, err)
	}
	if fi, _ := os.Stat(filepath.Join(config, "mcptray")); fi.Mode().Perm() != 0o700 {
		t.Errorf("mcptray's folder is %v, want 0700", fi.Mode().Perm())
	}
	// A folder of the user's: left as it is, the secrets elsewhere.
	own := t.TempDir()
	os.Chmod(own, 0o755)
	path := filepath.Join(own, "mcp_settings.json")
	got, err := secretsFile(open(path), log)
	if err != nil || filepath.Dir(got) != filepath.Join(config, "mcptray") || !strings.HasPrefix(filepath.Base(got), "secrets-") {
		t.Errorf("settings in the user's folder: %q %v", got, err)
	}
	if fi, _ := os.Stat(own); fi.Mode().Perm() != 0o755 {
		t.Errorf("the user's folder became %v", fi.Mode().Perm())
	}
	other, _ := secretsFile(open(filepath.Join(t.TempDir(), "mcp_settings.json")), log)
	if other == got {
		t.Error("two settings files share one secrets file")
	}
	// An older mcptray's secrets.json beside them stays.
	os.WriteFile(filepath.Join(own, "secrets.json"), []byte(`{"version":1,"secrets":{}}`), 0o600)
	if got, _ := secretsFile(open(path), log); got != filepath.Join(own, "secrets.json") {
		t.Errorf("with an older secrets.json beside: %q", got)
	}
}
