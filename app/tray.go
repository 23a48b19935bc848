package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"sync"
	"time"

	"fyne.io/systray"
	"github.com/pkg/browser"

	"github.com/mcptray/mcptray/icons"
)

// runTray runs the tray icon and menu on this goroutine, the main one (the
// platforms' tray APIs want it), and the hub beside it, until the user
// quits or ctx ends.
func runTray(ctx context.Context, in *instance, hostProblem string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := newTray(in, cancel)
	t.hostProblem = hostProblem
	var runErr error
	var wg sync.WaitGroup
	systray.Run(func() {
		wg.Go(func() {
			runErr = in.run(ctx)
			systray.Quit()
		})
		wg.Go(func() { t.run(ctx) })
	}, func() {
		// Called on the event loop as the tray goes away: everything stops
		// before the process does.
		cancel()
		wg.Wait()
	})
	return runErr
}

// tray is the icon and its menu. Its menu is rebuilt whole from a snapshot
// of the hub on every change; clicks go to a worker, so that no menu handler
// ever blocks (fyne.io/systray drops a click that arrives while the last
// one is still being handled).
type tray struct {
	in       *instance
	log      *slog.Logger
	quit     context.CancelFunc
	notifier notifier
	// hostProblem says why no tray host shows the icon yet, or "": one
	// notification tells the user at start.
	hostProblem string
	actions     chan action
	notes       chan note
	redraw      chan struct{} // an action changed what the menu shows

	// Only the run goroutine uses the fields below.
	filter    noteFilter
	shown     trayModel
	drawn     bool
	genCancel context.CancelFunc // ends the click listeners of the menu shown
	genWG     sync.WaitGroup
}

func newTray(in *instance, quit context.CancelFunc) *tray {
	return &tray{
		in:       in,
		log:      in.log,
		quit:     quit,
		notifier: newNotifier(in.log),
		actions:  make(chan action, 32),
		notes:    make(chan note, 16),
		redraw:   make(chan struct{}, 1),
	}
}

// run keeps the tray up to date until ctx ends.
func (t *tray) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer t.notifier.Close()
	wg.Go(func() { t.worker(ctx) })
	wg.Go(func() { t.sendNotes(ctx) })
	wg.Go(func() {
		t.notifier.Run(ctx, func(server string) { t.enqueue(action{actAuthorize, server}) })
	})
	systray.SetTitle("mcptray")
	if t.hostProblem != "" {
		t.notify(noTrayHostNote(os.Getenv("XDG_CURRENT_DESKTOP"), t.in.hub.Endpoint()))
	}
	var prev snapshot
	for {
		changed := t.in.hub.Changes()
		snap := t.snapshot()
		t.render(buildModel(snap))
		for _, n := range t.filter.filter(snap, notesFor(prev, snap)) {
			select {
			case t.notes <- n:
			default:
				t.log.Warn("too many notifications at once; one was dropped", "server", n.Server)
			}
		}
		prev = snap
		select {
		case <-ctx.Done():
			t.stopListeners()
			return
		case <-changed:
			// Changes come in bursts (many servers connecting): gather them,
			// and still redraw within a second.
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		case <-t.redraw:
		case <-time.After(10 * time.Second):
			// Start at login can be changed outside mcptray.
		}
	}
}

// snapshot reads what the tray shows.
func (t *tray) snapshot() snapshot {
	list := t.in.hub.List()
	return snapshot{
		Servers:          list.Servers,
		Endpoint:         list.Endpoint,
		SettingsPath:     list.SettingsPath,
		SettingsErrors:   list.SettingsErrors,
		SettingsWarnings: list.SettingsWarnings,
		Secrets:          list.Secrets,
		StartAtLogin:     startAtLogin(),
		Version:          version,
		Browser:          t.in.browser,
		Clients:          t.in.clients.List(),
	}
}

// render shows a model, rebuilding the menu whole when it changed.
func (t *tray) render(m trayModel) {
	if t.drawn && reflect.DeepEqual(m, t.shown) {
		return
	}
	if !t.drawn || m.Icon != t.shown.Icon {
		if runtime.GOOS == "darwin" {
			systray.SetTemplateIcon(icons.TrayTemplate(m.Icon), icons.Tray(m.Icon))
		} else {
			systray.SetIcon(icons.Tray(m.Icon))
		}
	}
	if !t.drawn || m.Tooltip != t.shown.Tooltip {
		systray.SetTooltip(m.Tooltip)
	}
	if !t.drawn || !reflect.DeepEqual(m.Items, t.shown.Items) {
		t.stopListeners()
		systray.ResetMenu()
		ctx, cancel := context.WithCancel(context.Background())
		t.genCancel = cancel
		t.add(ctx, nil, m.Items)
	}
	t.shown, t.drawn = m, true
}

// add puts items into the menu, or into parent's submenu.
func (t *tray) add(ctx context.Context, parent *systray.MenuItem, items []menuItem) {
	for _, it := range items {
		if it.Separator {
			if parent == nil {
				systray.AddSeparator()
			} else {
				parent.AddSeparator()
			}
			continue
		}
		var mi *systray.MenuItem
		label := escapeLabel(runtime.GOOS, it.Label)
		switch {
		case parent == nil && it.Checkable:
			mi = systray.AddMenuItemCheckbox(label, it.Tooltip, it.Checked)
		case parent == nil:
			mi = systray.AddMenuItem(label, it.Tooltip)
		case it.Checkable:
			mi = parent.AddSubMenuItemCheckbox(label, it.Tooltip, it.Checked)
		default:
			mi = parent.AddSubMenuItem(label, it.Tooltip)
		}
		if it.Disabled {
			mi.Disable()
		}
		t.add(ctx, mi, it.Children)
		if it.Action.kind != actNone && !it.Disabled {
			a := it.Action
			t.genWG.Go(func() {
				for {
					select {
					case <-mi.ClickedCh:
						t.enqueue(a)
					case <-ctx.Done():
						return
					}
				}
			})
		}
	}
}

// stopListeners ends the click listeners of the menu shown.
func (t *tray) stopListeners() {
	if t.genCancel != nil {
		t.genCancel()
		t.genWG.Wait()
		t.genCancel = nil
	}
}

// enqueue hands a click to the worker without waiting.
func (t *tray) enqueue(a action) {
	select {
	case t.actions <- a:
	default:
		t.log.Warn("busy; a menu click was dropped")
	}
}

// worker carries out clicks one at a time.
func (t *tray) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-t.actions:
			if err := t.do(ctx, a); err != nil {
				if !errors.Is(err, errNoClipboard) {
					t.log.Error("menu action failed", "server", a.server, "err", err)
				}
				t.notify(actionNote(a, err, t.in.hub.Endpoint()))
			}
			select {
			case t.redraw <- struct{}{}:
			default:
			}
		}
	}
}

func (t *tray) do(ctx context.Context, a action) error {
	h := t.in.hub
	switch a.kind {
	case actCopyEndpoint:
		return copyToClipboard(h.Endpoint())
	case actAuthorize:
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, err := t.in.auth.Authorize(ctx, a.server, true)
		return err
	case actReconnect:
		return h.Reconnect(a.server)
	case actEnable:
		return h.SetEnabled(a.server, true)
	case actDisable:
		return h.SetEnabled(a.server, false)
	case actSignOut:
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return t.in.auth.SignOut(ctx, a.server)
	case actDashboard:
		return browser.OpenURL(h.DashboardURL("/"))
	case actDetails:
		return browser.OpenURL(h.DashboardURL("/servers/" + url.PathEscape(a.server)))
	case actConnectClient, actDisconnectClient:
		var msg string
		var err error
		if a.kind == actConnectClient {
			msg, err = t.in.clients.Connect(a.server)
		} else {
			msg, err = t.in.clients.Disconnect(a.server)
		}
		if err != nil {
			return err
		}
		t.notify(clientNote(a, msg))
		return nil
	case actOpenSettings:
		return openPath(h.SettingsPath())
	case actOpenLogs:
		dir, err := logDir()
		if err != nil {
			return err
		}
		return openPath(dir)
	case actStartAtLogin:
		on := !startAtLogin()
		if on {
			if err := installedExecutable(); err != nil {
				return err
			}
		}
		if err := setStartAtLogin(on); err != nil {
			return fmt.Errorf("start at login: %w", err)
		}
		t.log.Info("start at login", "on", on)
		return nil
	case actQuit:
		t.log.Info("quitting from the tray")
		t.quit()
	}
	return nil
}

func (t *tray) notify(n note) {
	select {
	case t.notes <- n:
	default:
	}
}

// sendNotes delivers notifications off the run goroutine: a D-Bus call or
// an osascript may take a while.
func (t *tray) sendNotes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-t.notes:
			if err := t.notifier.Notify(n); err != nil {
				t.log.Debug("notification not shown", "server", n.Server, "err", err)
			}
		}
	}
}
