// Command mcptray is a desktop tray application that serves every MCP server
// the user configured from one local endpoint, http://localhost:3000/mcp, and
// signs in to the OAuth-protected ones.
//
// Usage:
//
//	mcptray [--settings FILE] [--listen ADDR] [--headless]   run (the tray, or without one)
//	mcptray status                                         list the servers of the running instance
//	mcptray --version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/hub/settings"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags every command shares.
type options struct {
	settings string
	listen   string
	headless bool
	logLevel string
	version  bool
}

func (o *options) flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.settings, "settings", "", "settings file (default: "+defaultSettingsHint()+")")
	fs.StringVar(&o.listen, "listen", hub.DefaultListen, "address of the local MCP endpoint")
	fs.BoolVar(&o.headless, "headless", false, "run without a tray icon")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	return fs
}

func defaultSettingsHint() string {
	if p, err := settings.DefaultPath(); err == nil {
		return p
	}
	return "the user config folder"
}

// run is main without the exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var o options
	fs := o.flags("mcptray "+cmd, stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.version {
		fmt.Fprintln(stdout, "mcptray", version)
		return 0
	}
	var err error
	switch cmd {
	case "":
		err = serve(o, stderr)
	case "status":
		err = status(o, stdout)
	default:
		fmt.Fprintf(stderr, "mcptray: unknown command %q (want status, or no command to run)\n", cmd)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "mcptray:", err)
		return 1
	}
	return 0
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func settingsPath(o options) (string, error) {
	if o.settings != "" {
		return o.settings, nil
	}
	return settings.DefaultPath()
}

// serve runs the hub until SIGINT or SIGTERM.
func serve(o options, stderr io.Writer) error {
	log, err := newLogger(o.logLevel, stderr)
	if err != nil {
		return err
	}
	path, err := settingsPath(o)
	if err != nil {
		return err
	}
	store, err := settings.Open(path, log)
	if err != nil {
		return err
	}
	h, err := hub.New(hub.Config{Settings: store, Listen: o.listen, Logger: log, Version: version})
	if err != nil {
		return err
	}
	if err := h.Listen(); err != nil {
		var running *hub.AlreadyRunningError
		if errors.As(err, &running) {
			return running
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = h.Run(ctx)
	log.Info("stopped")
	return err
}
