//go:build linux

// Package keychaintest runs a real Secret Service for tests: a private
// dbus-daemon and gnome-keyring-daemon, unlocked with a throwaway password,
// in a temporary HOME and XDG_RUNTIME_DIR, with DISPLAY unset so that no
// prompt can appear. go-keyring talks to godbus's cached session bus, so a
// test binary starts one in TestMain, before anything touches the bus.
package keychaintest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Session is a running private Secret Service.
type Session struct {
	Dir     string // the temporary folder with HOME and the runtime folder
	Address string // DBUS_SESSION_BUS_ADDRESS
	procs   []*exec.Cmd
}

// Start runs the bus and the keyring, and points this process at them
// (DBUS_SESSION_BUS_ADDRESS, HOME, XDG_RUNTIME_DIR). It fails when
// dbus-daemon or gnome-keyring-daemon is not installed: scripts/test installs
// them.
func Start() (*Session, error) {
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon", "secret-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s is not installed: run scripts/test, which installs dbus-daemon, gnome-keyring and libsecret-tools", bin)
		}
	}
	dir, err := os.MkdirTemp("", "mcptray-secret-service")
	if err != nil {
		return nil, err
	}
	s := &Session{Dir: dir}
	home, run := filepath.Join(dir, "home"), filepath.Join(dir, "run")
	for _, d := range []string{home, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// A configuration of our own: the stock session one lets the bus start
	// services itself (a second gnome-keyring, in the real HOME).
	conf := filepath.Join(dir, "session.conf")
	if err := os.WriteFile(conf, []byte(busConfig(run)), 0o600); err != nil {
		return nil, err
	}
	bus := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--print-address=1")
	bus.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := bus.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := bus.Start(); err != nil {
		return nil, fmt.Errorf("dbus-daemon: %w", err)
	}
	s.procs = append(s.procs, bus)
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("dbus-daemon did not print its address: %w", err)
	}
	s.Address = strings.TrimSpace(addr)
	for k, v := range map[string]string{"DBUS_SESSION_BUS_ADDRESS": s.Address, "HOME": home, "XDG_RUNTIME_DIR": run} {
		os.Setenv(k, v)
	}
	os.Unsetenv("DISPLAY")
	os.Unsetenv("WAYLAND_DISPLAY")

	keyring := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	keyring.Env = os.Environ()
	keyring.Stdin = strings.NewReader("throwaway-test-password")
	keyring.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := keyring.Start(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("gnome-keyring-daemon: %w", err)
	}
	s.procs = append(s.procs, keyring)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if out, err := exec.Command("dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
			"/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets").Output(); err == nil && strings.Contains(string(out), "true") {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("org.freedesktop.secrets did not appear on the bus within 10 s")
		}
	}
}

// Lookup runs secret-tool lookup for an item of go-keyring's, returning its
// secret and whether it exists.
func (s *Session) Lookup(service, user string) (string, bool) {
	out, err := exec.Command("secret-tool", "lookup", "service", service, "username", user).Output()
	if err != nil {
		return "", false
	}
	return string(out), true
}

// Clear removes an item as a user would with secret-tool.
func (s *Session) Clear(service, user string) error {
	return exec.Command("secret-tool", "clear", "service", service, "username", user).Run()
}

// Stop ends the keyring and the bus and removes the folder.
func (s *Session) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	os.RemoveAll(s.Dir)
}

// busConfig is a session bus with no service activation, listening in run.
func busConfig(run string) string {
	return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=` + run + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`
}
