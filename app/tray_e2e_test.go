//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
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

// desktop is a private session bus's tray host and notification server, as
// a desktop has them.
type desktop struct {
	conn  *dbus.Conn
	w     *watcher // nil: a desktop without a tray host
	notes *notifications
}

// newDesktop owns the notification server's name on the test's session bus,
// and the StatusNotifierWatcher's when withHost; it lets them go at the end
// of the test.
func newDesktop(t *testing.T, withHost bool) *desktop {
	t.Helper()
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	d := &desktop{conn: conn, notes: &notifications{}}
	t.Cleanup(func() {
		conn.Close()
		if t.Failed() {
			t.Logf("notifications:\n%s", d.notes.all())
		}
	})
	if withHost {
		d.w = &watcher{}
		conn.Export(d.w, "/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher")
		if reply, err := conn.RequestName("org.kde.StatusNotifierWatcher", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
			t.Fatalf("own the watcher name: %v %v", reply, err)
		}
	}
	conn.Export(d.notes, "/org/freedesktop/Notifications", "org.freedesktop.Notifications")
	if reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own the notifications name: %v %v", reply, err)
	}
	return d
}

// desktopApp is an mcptray started as from the desktop: a display, the
// session bus, a browser that writes down what it is asked to open, a
// PATH with nothing else on it (no clipboard tool), and its own config
// and cache folders.
type desktopApp struct {
	cmd    *exec.Cmd
	stderr *testpeers.Buffer
	dir    string // its home: config, cache, the browser's list
	opened string // the file the browser writes each URL to
}

func startDesktopApp(t *testing.T, dir string, args ...string) *desktopApp {
	t.Helper()
	a := &desktopApp{dir: dir, opened: filepath.Join(dir, "opened"), stderr: &testpeers.Buffer{}}
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "xdg-open"), []byte("#!/bin/sh\necho \"$1\" >> "+a.opened+"\n"), 0o755)
	a.cmd = exec.Command(binaries.mcptray, args...)
	a.cmd.Env = append(os.Environ(), "DISPLAY=:99", "PATH="+bin, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "XDG_CURRENT_DESKTOP=ubuntu:GNOME")
	a.cmd.Stderr = a.stderr
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("mcptray %v said:\n%s", args, a.stderr.String())
		}
	})
	return a
}

// wait waits for the app to exit, and returns its exit code.
func (a *desktopApp) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatal(err)
	case <-time.After(limit):
		t.Fatalf("mcptray did not exit within %v", limit)
	}
	return -1
}

func (a *desktopApp) openedURLs() string {
	b, _ := os.ReadFile(a.opened)
	return string(b)
}

// readMenu reads the whole menu, as a tray host does, into indented lines
// of the raw dbusmenu labels, and the ids by label (">label" for one in a
// submenu).
func readMenu(menu dbus.BusObject) ([]string, map[string]int32, error) {
	var rev uint32
	var root layoutItem
	if err := menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &root); err != nil {
		return nil, nil, err
	}
	var lines []string
	ids := map[string]int32{}
	layoutLabels(root, 0, ids, &lines)
	return lines, ids, nil
}

// TestTrayOverDBus runs the real app with a private session bus, reads its
// menu as a tray host would (com.canonical.dbusmenu), clicks Authorize…,
// and sees the browser asked to open the sign-in URL and notifications
// arrive that say what happened. The raw labels carry "__" for each
// underscore, which dbusmenu shows as one.
func TestTrayOverDBus(t *testing.T) {
	d := newDesktop(t, true)
	n := d.notes
	as := testpeers.StartOAuthServer(t, 60)
	dir := t.TempDir()
	settingsFile := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(settingsFile, []byte(fmt.Sprintf(`{
  "mcpServers": {
    "github_work": {"command": %q, "args": ["stdio"]},
    "notion": {"url": %q, "oauth": {"authorizedAt": "2026-11-01T09:00:00Z"}},
    "bad_url": {"type": "sse", "url": "localhost:3000/sse"}
  },
  "servers": {}
}`, binaries.testserver, as.MCPURL)), 0o600)
	app := startDesktopApp(t, dir, "--settings", settingsFile, "--listen", freeAddr(t))
	w := d.w
	conn := d.conn

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
		var err error
		if lines, ids, err = readMenu(menu); err != nil {
			return false
		}
		text := strings.Join(lines, "\n")
		return strings.Contains(text, "github__work: connected (8 tools)") && strings.Contains(text, "notion: needs sign-in") && strings.Contains(text, "  Authorize…")
	}
	deadline := time.Now().Add(60 * time.Second)
	for !read() {
		if time.Now().After(deadline) {
			t.Fatalf("the menu did not show the servers:\n%s", strings.Join(lines, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	menuText := strings.Join(lines, "\n")
	for _, want := range []string{
		"mcptray: 1 of 3 servers connected", "Copy endpoint URL", "Open settings file", "Open log folder", "Start at login", "Quit", "  Reconnect", "  Show details",
		// A bad server is an error of its own, with the whole error and
		// the fix at the top of its submenu; the others run.
		"bad__url: settings error",
		"  mcp__settings.json line 5: url \"localhost:3000/sse\": want",
		"  Fix: correct its entry in the settings file (Open settings",
		// The warning of the file, whole in its submenu.
		"mcp__settings.json line 7: \"servers\" is not read: did you…",
		"  mean \"mcpServers\"?",
		// notion's submenu says why, and the fix.
		"  Fix: choose Authorize… to sign in in your browser.",
	} {
		if !strings.Contains(menuText, want) {
			t.Errorf("the menu lacks %q:\n%s", want, menuText)
		}
	}
	for _, l := range lines {
		if strings.Contains(strings.ReplaceAll(l, "__", ""), "_") {
			t.Errorf("label %q has an underscore dbusmenu would take for a mnemonic", l)
		}
	}
	var tooltip []any
	if v, err := item.GetProperty("org.kde.StatusNotifierItem.ToolTip"); err == nil {
		dbus.Store([]any{v.Value()}, &tooltip)
	}
	if !strings.Contains(fmt.Sprint(tooltip), "1 of 3 servers connected") {
		t.Errorf("tooltip %v", tooltip)
	}

	// Credentials that used to work stopped: a notification, no browser.
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(n.all(), "notion needs you to sign in again") })
	if !strings.Contains(n.all(), "Authorize…") {
		t.Errorf("the notification has no Authorize… action: %s", n.all())
	}
	if app.openedURLs() != "" {
		t.Fatal("the browser opened by itself for credentials that stopped working")
	}

	// Click Authorize… under notion: the browser opens on the sign-in
	// page, and a notification says where to finish.
	id := ids[">Authorize…"]
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return strings.HasPrefix(app.openedURLs(), as.Issuer+"/auth?") })
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(n.all(), "Sign in to notion in your browser") })

	// Copy endpoint URL without a clipboard tool: the URL in a
	// notification.
	read() // the menu is rebuilt whole on a change, with new ids
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, ids["Copy endpoint URL"], "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(n.all(), "Your MCP endpoint: Connect your MCP clients to http://localhost:")
	})

	// Start at login writes the user's XDG autostart entry, with TryExec,
	// and the menu shows the box checked.
	read()
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, ids["Start at login"], "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(dir, "config", "autostart", "mcptray.desktop")
	waitFor(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(entry)
		return err == nil && strings.Contains(string(b), "Exec="+binaries.mcptray) && strings.Contains(string(b), "TryExec="+binaries.mcptray) && strings.Contains(string(b), "Hidden=false")
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
	if code := app.wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit %d after Quit", code)
	}
}

// TestSecondLaunchBringsTheFirstForward: a second launch from the desktop,
// even with another --listen, starts no second instance on the same
// settings file: it opens the running one's dashboard in the browser, a
// notification says so, and it exits.
func TestSecondLaunchBringsTheFirstForward(t *testing.T) {
	d := newDesktop(t, true)
	dir := t.TempDir()
	settingsFile := filepath.Join(dir, "mcp_settings.json")
	os.WriteFile(settingsFile, []byte(fmt.Sprintf(`{"mcpServers": {"tools": {"command": %q, "args": ["stdio"]}}}`, binaries.testserver)), 0o600)
	addr := freeAddr(t)
	first := startDesktopApp(t, dir, "--settings", settingsFile, "--listen", addr)
	waitFor(t, 20*time.Second, func() bool { return d.w.item() != "" })
	waitFor(t, 20*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/api/servers")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	second := startDesktopApp(t, dir, "--settings", settingsFile, "--listen", freeAddr(t))
	if code := second.wait(t, 20*time.Second); code != 0 {
		t.Errorf("the second launch exited %d", code)
	}
	_, port, _ := net.SplitHostPort(addr)
	dashboard := "http://localhost:" + port + "/"
	if got := second.openedURLs(); strings.TrimSpace(got) != dashboard {
		t.Errorf("the second launch opened %q, want %q", got, dashboard)
	}
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(d.notes.all(), "mcptray is already running: It runs on "+settingsFile+" (pid ")
	})
	if !strings.Contains(d.notes.all(), "Its dashboard opened in your browser; its menu is in the tray.") {
		t.Errorf("notifications: %s", d.notes.all())
	}
	resp, err := http.Get(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `data-server="tools"`) || !strings.Contains(string(page), "Add a server") {
		t.Errorf("the dashboard:\n%s", page)
	}
	if first.cmd.ProcessState != nil {
		t.Error("the first instance stopped")
	}
}

// TestStartFailureIsTold: started from the desktop with its port taken by
// another program, mcptray says why in its log file and in a
// notification, and exits 1.
func TestStartFailureIsTold(t *testing.T) {
	d := newDesktop(t, true)
	dir := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	app := startDesktopApp(t, dir, "--settings", filepath.Join(dir, "mcp_settings.json"), "--listen", taken.Addr().String())
	if code := app.wait(t, 20*time.Second); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	logText := readFile(t, filepath.Join(dir, "cache", "mcptray", "logs", "mcptray.log"))
	if !strings.Contains(logText, "mcptray could not start") || !strings.Contains(logText, "is in use by another program") {
		t.Errorf("the log file says:\n%s", logText)
	}
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(d.notes.all(), "mcptray could not start: "+taken.Addr().String()+" is in use by another program")
	})
	if strings.Count(app.stderr.String(), "is in use by another program") != 1 {
		t.Errorf("the error is not told once on stderr:\n%s", app.stderr.String())
	}
}

// TestNoTrayHostIsTold: on a desktop without a tray host (GNOME without
// the AppIndicator extension), one notification names the fix, and
// mcptray serves meanwhile.
func TestNoTrayHostIsTold(t *testing.T) {
	d := newDesktop(t, false)
	dir := t.TempDir()
	addr := freeAddr(t)
	startDesktopApp(t, dir, "--settings", filepath.Join(dir, "mcp_settings.json"), "--listen", addr)
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(d.notes.all(), "mcptray runs, but its icon cannot show") })
	if all := d.notes.all(); !strings.Contains(all, "install and turn on the AppIndicator extension (gnome-shell-extension-appindicator)") || strings.Count(all, "icon cannot show") != 1 {
		t.Errorf("notifications:\n%s", all)
	}
	resp, err := http.Get("http://" + addr + "/api/servers")
	if err != nil {
		t.Fatalf("mcptray does not serve without a tray host: %v", err)
	}
	resp.Body.Close()
}
