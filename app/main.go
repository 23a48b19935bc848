// Command mcptray is a desktop tray application that serves every MCP server
// the user configured from one local endpoint, http://localhost:3000/mcp, and
// signs in to the OAuth-protected ones.
//
// Usage:
//
//	mcptray [--settings FILE] [--listen ADDR] [--headless] [--no-browser]   run (the tray, or without one)
//	mcptray status                      list the servers of the running instance
//	mcptray authorize NAME              sign in to an OAuth server
//	mcptray signout NAME                revoke and delete its tokens
//	mcptray --version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/browser"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/keychain"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// verifyEvery is how often secrets are checked for removal by hand; tests
// shorten it.
var verifyEvery = time.Minute

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags every command shares.
type options struct {
	settings  string
	listen    string
	headless  bool
	noBrowser bool
	logLevel  string
	version   bool
}

func (o *options) flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.settings, "settings", "", "settings file (default: "+defaultSettingsHint()+")")
	fs.StringVar(&o.listen, "listen", hub.DefaultListen, "address of the local MCP endpoint")
	fs.BoolVar(&o.headless, "headless", false, "run without a tray icon")
	fs.BoolVar(&o.noBrowser, "no-browser", false, "never open a browser; print or log authorization URLs instead")
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
	// xdg-open chatters on stdout; set once, before any goroutine opens
	// a URL, since it is the package's global.
	browser.Stdout = io.Discard
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var o options
	fs := o.flags("mcptray "+cmd, stderr)
	var af authorizeFlags
	if cmd == "authorize" {
		fs.BoolVar(&af.paste, "paste", false, "for a browser on another machine: print the URL, then read the address it was sent back to")
		fs.BoolVar(&af.device, "device", false, "sign in with a code typed in at a URL (RFC 8628), where the server offers it")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cmd == "authorize" && fs.NArg() > 1 {
		// Flags may follow the name: mcptray authorize NAME --paste.
		name := fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
		if fs.NArg() != 0 {
			fmt.Fprintln(stderr, "usage: mcptray authorize NAME [--paste | --device]")
			return 2
		}
		args = []string{name}
	} else {
		args = fs.Args()
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
	case "authorize", "signout":
		if len(args) != 1 {
			fmt.Fprintf(stderr, "usage: mcptray %s NAME\n", cmd)
			return 2
		}
		if cmd == "authorize" {
			if af.paste && af.device {
				fmt.Fprintln(stderr, "mcptray authorize: --paste and --device exclude each other")
				return 2
			}
			err = authorize(o, args[0], af, stdin, stdout)
		} else {
			err = signout(o, args[0], stdout)
		}
	default:
		fmt.Fprintf(stderr, "mcptray: unknown command %q (want status, authorize, signout, or no command to run)\n", cmd)
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

// serve runs mcptray, with the tray unless --headless or there is none to
// show, until the user quits, or SIGINT or SIGTERM.
func serve(o options, stderr io.Writer) error {
	why := ""
	if !o.headless {
		why = trayProblem()
	}
	useTray := !o.headless && why == ""
	out := stderr
	if useTray {
		// Started from the desktop, nobody reads stderr: keep a log file.
		if f, err := openLogFile(); err == nil {
			defer f.Close()
			out = io.MultiWriter(stderr, f)
		}
	}
	log, err := newLogger(o.logLevel, out)
	if err != nil {
		return err
	}
	// Libraries that use the standard logger (fyne.io/systray) write
	// through slog, at debug.
	stdlog.SetFlags(0)
	stdlog.SetOutput(slogWriter{log})
	if why != "" {
		log.Info("running without a tray", "reason", why)
	}
	in, err := newInstance(o, log, browserOpener(o, log))
	if err != nil {
		return err
	}
	if err := in.hub.Listen(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if useTray {
		if p := trayHostProblem(); p != "" {
			log.Info("no tray host is running yet; the icon appears when one starts", "reason", p)
		}
		err = runTray(ctx, in)
	} else {
		err = in.run(ctx)
	}
	log.Info("stopped")
	return err
}

// slogWriter turns the standard logger's lines into debug records.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

// instance is one running mcptray: the settings, the secret store, OAuth
// and the hub, wired together.
type instance struct {
	log     *slog.Logger
	store   *settings.Store
	secrets *keychain.Store
	auth    *oauthflow.Manager
	hub     *hub.Hub
}

// newInstance wires mcptray from its options; open shows authorization
// URLs to the user (nil: nobody to show them to).
func newInstance(o options, log *slog.Logger, open func(context.Context, string) error) (*instance, error) {
	path, err := settingsPath(o)
	if err != nil {
		return nil, err
	}
	store, err := settings.Open(path, log)
	if err != nil {
		return nil, err
	}
	secrets, err := keychain.Open(keychain.Options{
		Mode:        store.Current().SecretStore(),
		File:        filepath.Join(filepath.Dir(store.Path()), "secrets.json"),
		Logger:      log,
		VerifyEvery: verifyEvery,
	})
	if err != nil {
		return nil, err
	}
	auth, err := oauthflow.New(oauthflow.Options{Store: secrets, OpenBrowser: open, Logger: log, Version: version})
	if err != nil {
		return nil, err
	}
	h, err := hub.New(hub.Config{Settings: store, Listen: o.listen, Logger: log, Version: version, Auth: auth, Secrets: secrets})
	if err != nil {
		return nil, err
	}
	return &instance{log: log, store: store, secrets: secrets, auth: auth, hub: h}, nil
}

// run serves until ctx ends and waits for everything to stop: the
// settings watch, the secret store's checks, OAuth's background work and
// the hub.
func (in *instance) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := in.store.Run(ctx); err != nil {
			in.log.Error("the settings watch stopped", "err", err)
		}
	})
	wg.Go(func() { in.secrets.Run(ctx) })
	wg.Go(func() { in.auth.Run(ctx) })
	err := in.hub.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// browserOpener is how the app shows authorization URLs: the system
// browser, or nothing (the URL is logged) with --no-browser or without a
// display.
func browserOpener(o options, log *slog.Logger) func(context.Context, string) error {
	if o.noBrowser {
		return nil
	}
	if reason := noDisplay(); reason != "" {
		log.Info("no browser will open for sign-ins; their URLs go to the log and to `mcptray authorize`", "reason", reason)
		return nil
	}
	return func(_ context.Context, url string) error { return browser.OpenURL(url) }
}

// noDisplay says why no browser can open here, or "".
func noDisplay() string {
	if runtime.GOOS == "linux" && os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return "no DISPLAY or WAYLAND_DISPLAY"
	}
	return ""
}
