package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Start at login on Linux is an XDG autostart entry. The .deb installs one
// for every user in /etc/xdg/autostart; a user's own entry of the same name
// in ~/.config/autostart overrides it, with Hidden=true to turn it off.
const systemAutostart = "/etc/xdg/autostart/mcptray.desktop"

func userAutostart() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "autostart", "mcptray.desktop"), nil
}

// startAtLogin reports whether mcptray starts when the user logs in.
func startAtLogin() bool {
	user, err := userAutostart()
	if err != nil {
		return false
	}
	if data, err := os.ReadFile(user); err == nil {
		return entryEnabled(string(data))
	}
	if data, err := os.ReadFile(systemAutostart); err == nil {
		return entryEnabled(string(data))
	}
	return false
}

// entryEnabled reads Hidden and X-GNOME-Autostart-enabled of an entry.
func entryEnabled(entry string) bool {
	for _, line := range strings.Split(entry, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		if k == "Hidden" && strings.EqualFold(v, "true") || k == "X-GNOME-Autostart-enabled" && strings.EqualFold(v, "false") {
			return false
		}
	}
	return true
}

// setStartAtLogin turns starting at login on or off for this user.
func setStartAtLogin(on bool) error {
	user, err := userAutostart()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	_, systemErr := os.Stat(systemAutostart)
	hasSystem := systemErr == nil
	if !on && !hasSystem {
		if err := os.Remove(user); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(user), 0o755); err != nil {
		return err
	}
	return os.WriteFile(user, []byte(desktopEntry(exe, !on)), 0o644)
}

// desktopEntry is an autostart entry that runs exe, or, hidden, that turns
// the system's entry off. TryExec makes a login skip the entry once exe is
// gone (the package removed, say), instead of failing to start it every
// time.
func desktopEntry(exe string, hidden bool) string {
	return fmt.Sprintf(`[Desktop Entry]
Type=Application
Name=mcptray
Comment=One local endpoint for all your MCP servers
TryExec=%s
Exec=%s
Icon=mcptray
Terminal=false
Categories=Utility;
X-GNOME-Autostart-enabled=%t
Hidden=%t
`, escapeValue(exe), quoteExec(exe), !hidden, hidden)
}

// escapeValue escapes a string value of a desktop entry (Desktop Entry
// Specification, "Possible value types": \\, \n, \t, \r, \s).
func escapeValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s)
}

// quoteExec quotes a path for an Exec key (Desktop Entry Specification,
// "The Exec key").
func quoteExec(p string) string {
	if !strings.ContainsAny(p, " \t\"'\\$`") {
		return p
	}
	r := strings.NewReplacer(`\`, `\\\\`, `"`, `\"`, "`", "\\`", `$`, `\$`)
	return `"` + r.Replace(p) + `"`
}
