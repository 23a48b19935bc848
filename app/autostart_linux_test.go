package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartAtLoginEntry(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if startAtLogin() {
		t.Fatal("on before it was turned on")
	}
	if err := setStartAtLogin(true); err != nil {
		t.Fatal(err)
	}
	if !startAtLogin() {
		t.Error("off after it was turned on")
	}
	entry, _ := userAutostart()
	exe, _ := os.Executable()
	if b, _ := os.ReadFile(entry); !strings.Contains(string(b), "\nTryExec="+exe+"\n") {
		t.Errorf("the entry has no TryExec for %s:\n%s", exe, b)
	}
	if _, err := exec.LookPath("desktop-file-validate"); err != nil {
		t.Fatal("desktop-file-validate is not installed: scripts/test installs desktop-file-utils")
	}
	if out, err := exec.Command("desktop-file-validate", entry).CombinedOutput(); err != nil {
		t.Errorf("the autostart entry is not valid: %v\n%s", err, out)
	}
	if err := setStartAtLogin(false); err != nil {
		t.Fatal(err)
	}
	if startAtLogin() {
		t.Error("on after it was turned off")
	}
	if _, err := os.Stat(entry); err == nil && !hasSystemAutostart() {
		t.Error("turning it off left the user's entry, with no system entry to hide")
	}
	if got := quoteExec("/opt/my apps/mcptray"); got != `"/opt/my apps/mcptray"` {
		t.Errorf("quoteExec: %s", got)
	}
	if entryEnabled("[Desktop Entry]\nHidden=true\n") || !entryEnabled(desktopEntry("/usr/bin/mcptray", false)) {
		t.Error("entryEnabled misreads Hidden")
	}
}

func hasSystemAutostart() bool {
	_, err := os.Stat(filepath.Clean(systemAutostart))
	return err == nil
}
