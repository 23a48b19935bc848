//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/mcptray/mcptray/testpeers"
)

// watcher is a minimal StatusNotifierWatcher, the part of a tray host an
// item registers with.
type watcher struct {
	mu    sync.Mutex // guards items
	items []string   // bus names of the registered items
}

func (w *watcher) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	w.mu.Lock()
	w.items = append(w.items, string(sender))
	w.mu.Unlock()
	return nil
}

func (w *watcher) item() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.items) == 0 {
		return ""
	}
	return w.items[len(w.items)-1]
}

// notifications is org.freedesktop.Notifications, keeping what it gets.
type notifications struct {
	mu   sync.Mutex // guards got
	got  []string   // summary: body
	next uint32
}

func (n *notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, summary+": "+body+" ["+strings.Join(actions, ",")+"]")
	n.next++
	return n.next, nil
}

func (n *notifications) all() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.got, "\n")
}

// layoutItem is a com.canonical.dbusmenu layout node.
type layoutItem struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// layoutLabels flattens a menu into "label" lines, submenus indented, with ids.
func layoutLabels(v layoutItem, depth int, ids map[string]int32, out *[]string) {
	for _, c := range v.Children {
		var child layoutItem
		if err := dbus.Store([]any{c.Value()}, &child); err != nil {
			continue
		}
		label, _ := child.Props["label"].Value().(string)
		if t, _ := child.Props["type"].Value().(string); t == "separator" {
			label = "---"
		}
		*out = append(*out, strings.Repeat("  ", depth)+label)
		if _, seen := ids[label]; !seen {
			ids[label] = child.ID
		}
		ids[strings.Repeat(">", depth)+label] = child.ID
		layoutLabels(child, depth+1, ids, out)
	}
}

// TestTrayOverDBus runs the real app with a private session bus, reads its
// menu as a tray host would (com.canonical.dbusmenu), clicks Authorize…,
// and sees the browser asked to open the sign-in URL and a notification
// arrive.
func TestTrayOverDBus(t *testing.T) {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := &watcher{}
	conn.Export(w, "/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher")
	if reply, err := conn.RequestName("org.kde.StatusNotifierWatcher", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own the watcher name: %v %v", reply, err)
	}
	n := &notifications{}
	conn.Export(n, "/org/freedesktop/Notifications", "org.freedesktop.Notifications")
	if reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own the notifications name: %v %v", reply, err)
	}

	as := testpeers.StartOAuthServer(t, 60)
	dir := t.TempDir()
	opened := filepath.Join(dir, "opened")
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	// The browser: a fake xdg-open first on PATH that writes down its URL.
	os.WriteFile(filepath.Join(bin, "xdg-open"), []byte("#!/bin/sh\necho \"$1\" >> "+opened+"\n"), 0o755)
	settingsFile := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(settingsFile, []byte(fmt.Sprintf(`{
  "mcpServers": {
    "tools": {"command": %q, "args": ["stdio"]},
    "notion": {"url": %q, "oauth": {"authorizedAt": "2026-11-01T09:00:00Z"}}
  }
}`, binaries.testserver, as.MCPURL)), 0o600)

	var stderr bytes.Buffer
	cmd := exec.Command(binaries.mcptray, "--settings", settingsFile, "--listen", freeAddr(t))
	cmd.Env = append(os.Environ(), "DISPLAY=:99", "PATH="+bin+":"+os.Getenv("PATH"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("mcptray's log:\n%s", stderr.String())
		}
	}()

	// The icon registers with the watcher.
	waitFor(t, 20*time.Second, func() bool { return w.item() != "" })
	item := conn.Object(w.item(), "/StatusNotifierItem")
	// A tray host finds the menu where the item's Menu property says.
	mp, err := item.GetProperty("org.kde.StatusNotifierItem.Menu")
	if err != nil {
		t.Fatalf("the item has no Menu property: %v", err)
	}
	menu := conn.Object(w.item(), mp.Value().(dbus.ObjectPath))
	var lines []string
	var ids map[string]int32
	read := func() bool {
		var rev uint32
		var root layoutItem
		if err := menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &root); err != nil {
			return false
		}
		lines, ids = nil, map[string]int32{}
		layoutLabels(root, 0, ids, &lines)
		text := strings.Join(lines, "\n")
		return strings.Contains(text, "tools: connected (8 tools)") && strings.Contains(text, "notion: needs authorization") && strings.Contains(text, "  Authorize…")
	}
	deadline := time.Now().Add(60 * time.Second)
	for !read() {
		if time.Now().After(deadline) {
			t.Fatalf("the menu did not show both servers:\n%s", strings.Join(lines, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	menuText := strings.Join(lines, "\n")
	for _, want := range []string{"mcptray: 1 of 2 servers connected", "Copy endpoint URL", "Open settings file", "Open log folder", "Start at login", "Quit", "  Reconnect", "  Show details"} {
		if !strings.Contains(menuText, want) {
			t.Errorf("the menu lacks %q:\n%s", want, menuText)
		}
	}
	var tooltip []any
	if v, err := item.GetProperty("org.kde.StatusNotifierItem.ToolTip"); err == nil {
		dbus.Store([]any{v.Value()}, &tooltip)
	}
	if !strings.Contains(fmt.Sprint(tooltip), "1 of 2 servers connected") {
		t.Errorf("tooltip %v", tooltip)
	}

	// Credentials that used to work stopped: a notification, no browser.
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(n.all(), "notion needs you to sign in again") })
	if !strings.Contains(n.all(), "Authorize…") {
		t.Errorf("the notification has no Authorize… action: %s", n.all())
	}
	if _, err := os.Stat(opened); err == nil {
		t.Fatal("the browser opened by itself for credentials that stopped working")
	}

	// Click Authorize… under notion.
	id := ids[">Authorize…"]
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		b, _ := os.ReadFile(opened)
		return strings.HasPrefix(string(b), as.Issuer+"/auth?")
	})

	// Start at login writes the user's XDG autostart entry, and the menu
	// shows the box checked.
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, ids["Start at login"], "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(dir, "config", "autostart", "mcptray.desktop")
	waitFor(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(entry)
		return err == nil && strings.Contains(string(b), "Exec="+binaries.mcptray) && strings.Contains(string(b), "Hidden=false")
	})
	waitFor(t, 5*time.Second, func() bool {
		// The menu is rebuilt whole, with new ids: find the item again.
		var rev uint32
		var root layoutItem
		if err := menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &root); err != nil {
			return false
		}
		for _, c := range root.Children {
			var child layoutItem
			if dbus.Store([]any{c.Value()}, &child) != nil {
				continue
			}
			if l, _ := child.Props["label"].Value().(string); l == "Start at login" {
				st, _ := child.Props["toggle-state"].Value().(int32)
				return st == 1
			}
		}
		return false
	})
	read()

	// Quit from the menu stops the app and its servers.
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, ids["Quit"], "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after Quit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Quit did not stop mcptray")
	}
}
