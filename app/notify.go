package main

import (
	"context"
	"log/slog"
)

// notifier sends desktop notifications.
type notifier interface {
	Notify(n note) error
	// Run calls clicked when the user clicks a notification's Authorize…,
	// until ctx ends, where the platform has such actions.
	Run(ctx context.Context, clicked func(server string))
	Close()
}

// logNotifier only logs, where notifications cannot be shown.
type logNotifier struct{ log *slog.Logger }

func (l logNotifier) Notify(n note) error {
	l.log.Info("notification", "server", n.Server, "title", n.Title, "body", n.Body)
	return nil
}

func (logNotifier) Run(ctx context.Context, _ func(string)) { <-ctx.Done() }
func (logNotifier) Close()                                  {}
