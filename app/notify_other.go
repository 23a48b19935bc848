//go:build !linux

package main

import (
	"context"
	"log/slog"

	"github.com/gen2brain/beeep"

	"github.com/mcptray/mcptray/icons"
)

// beeepNotifier sends desktop notifications with github.com/gen2brain/beeep
// (the Notification Center on macOS, toasts on Windows). They carry no
// action: Authorize… is in the menu.
type beeepNotifier struct{ log *slog.Logger }

func newNotifier(log *slog.Logger) notifier {
	beeep.AppName = "mcptray"
	return beeepNotifier{log}
}

func (b beeepNotifier) Notify(n note) error {
	return beeep.Notify(n.Title, n.Body, icons.App(128))
}

func (beeepNotifier) Run(ctx context.Context, _ func(string)) { <-ctx.Done() }
func (beeepNotifier) Close()                                  {}
