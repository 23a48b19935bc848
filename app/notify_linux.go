package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/godbus/dbus/v5"
)

// dbusNotifier sends desktop notifications over D-Bus
// (org.freedesktop.Notifications), with an "Authorize…" action where the
// notification is about a sign-in.
type dbusNotifier struct {
	conn *dbus.Conn
	log  *slog.Logger

	mu       sync.Mutex        // guards byID, byServer
	byID     map[uint32]string // notification id → server
	byServer map[string]uint32 // server → its last notification, replaced by the next
}

// newNotifier connects to the session bus; without one, notifications are
// only logged.
func newNotifier(log *slog.Logger) notifier {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		log.Info("no desktop notifications: no D-Bus session bus", "err", err)
		return logNotifier{log}
	}
	return &dbusNotifier{conn: conn, log: log, byID: map[uint32]string{}, byServer: map[string]uint32{}}
}

func (d *dbusNotifier) Notify(n note) error {
	var actions []string
	if n.Authorize {
		actions = []string{"default", "Authorize…", "authorize", "Authorize…"}
	}
	d.mu.Lock()
	replaces := d.byServer[n.Server]
	d.mu.Unlock()
	obj := d.conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
	var id uint32
	err := obj.Call("org.freedesktop.Notifications.Notify", 0,
		"mcptray", replaces, "mcptray", n.Title, n.Body, actions,
		map[string]dbus.Variant{"desktop-entry": dbus.MakeVariant("mcptray")}, int32(-1)).Store(&id)
	if err != nil {
		return err
	}
	d.mu.Lock()
	if old := d.byServer[n.Server]; old != id {
		delete(d.byID, old) // replaced, or long closed
	}
	d.byID[id], d.byServer[n.Server] = n.Server, id
	d.mu.Unlock()
	return nil
}

// Run calls clicked for a click on a notification's action, until ctx
// ends.
func (d *dbusNotifier) Run(ctx context.Context, clicked func(server string)) {
	if err := d.conn.AddMatchSignal(
		dbus.WithMatchInterface("org.freedesktop.Notifications"),
		dbus.WithMatchMember("ActionInvoked"),
	); err != nil {
		d.log.Debug("notification actions unavailable", "err", err)
		<-ctx.Done()
		return
	}
	signals := make(chan *dbus.Signal, 8)
	d.conn.Signal(signals)
	defer d.conn.RemoveSignal(signals)
	for {
		select {
		case <-ctx.Done():
			return
		case sig, ok := <-signals:
			if !ok {
				return
			}
			if sig.Name != "org.freedesktop.Notifications.ActionInvoked" || len(sig.Body) < 2 {
				continue
			}
			id, _ := sig.Body[0].(uint32)
			d.mu.Lock()
			server := d.byID[id]
			d.mu.Unlock()
			if server != "" {
				clicked(server)
			}
		}
	}
}

func (d *dbusNotifier) Close() { d.conn.Close() }
