package keychain

import (
	"os"
	"path/filepath"
)

// sessionBusProblem says why the Secret Service cannot be reached, or "".
// Without DBUS_SESSION_BUS_ADDRESS and without the per-user bus socket,
// godbus would run dbus-launch, which starts a bus of its own and leaves it
// running; mcptray uses the file instead.
func sessionBusProblem() string {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return ""
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			return ""
		}
	}
	return "no D-Bus session bus, so no Secret Service"
}
