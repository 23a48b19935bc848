package main

import (
	"os"
	"path/filepath"

	"github.com/godbus/dbus/v5"
)

// trayProblem says why no tray can show here, or "". Without a session
// bus, fyne.io/systray would wait for ever (and godbus would start a bus of
// its own with dbus-launch, and leave it running).
func trayProblem() string {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if _, err := os.Stat(filepath.Join(dir, "bus")); dir == "" || err != nil {
			return "no D-Bus session bus"
		}
	}
	return ""
}

// trayHostProblem says whether a tray host (a StatusNotifierWatcher) runs.
// Without one the icon is registered as soon as one starts.
func trayHostProblem() string {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	var has bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has); err != nil {
		return err.Error()
	}
	if !has {
		return "no StatusNotifierWatcher on the session bus"
	}
	return ""
}
