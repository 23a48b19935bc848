// Command mcptray is a desktop tray application that serves every MCP server
// the user configured from one local endpoint, http://localhost:3000/mcp, and
// signs in to the OAuth-protected ones. `mcptray help` lists its commands
// (cli.go).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
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
	"github.com/mcptray/mcptray/internal/atomicfile"
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
	if len(os.Args) > 1 {
		attachConsole() // a command run from a console answers there (Windows)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags every command shares.
type options struct {
	settings  string
	listen    string
	listenSet bool // --listen was given, not defaulted
	headless  bool
	noBrowser bool
	logLevel  string
	version   bool
}

func defaultSettingsHint() string {
	if p, err := settings.DefaultPath(); err == nil {
		return p
	}
	return "the user config folder"
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
func serve(o options, stderr io.Writer) (err error) {
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
	if useTray {
		// Nobody reads stderr: a failure to start goes to the log file
		// and to a notification as well, never to nothing.
		defer func() {
			if err != nil {
				log.Error("mcptray could not start", "err", err)
				notifyNow(log, startFailedNote(err))
				err = &reported{err}
			}
		}()
	}
	// Libraries that use the standard logger (fyne.io/systray) write
	// through slog, at debug.
	stdlog.SetFlags(0)
	stdlog.SetOutput(slogWriter{log})
	if why != "" {
		log.Info("running without a tray", "reason", why)
	}
	path, err := settingsPath(o)
	if err != nil {
		return err
	}
	lock, err := lockSettings(path)
	var running *runningError
	if errors.As(err, &running) && useTray {
		return bringForward(log, dashboardOf(running.instanceInfo, path), running.where())
	}
	if err != nil {
		return err
	}
	defer lock.release()
	in, err := newInstance(o, log, browserOpener(o, log))
	if err != nil {
		return err
	}
	if err := in.hub.Listen(); err != nil {
		var other *hub.AlreadyRunningError
		if errors.As(err, &other) && useTray {
			return bringForward(log, dashboardOf(instanceInfo{Addr: other.Addr, URL: "http://" + other.Addr}, ""), fmt.Sprintf("It runs at http://%s (pid %d), with another settings file; to run both, start this one with another --listen.", other.Addr, other.PID))
		}
		return err
	}
	if err := lock.listening(in.hub.BaseURL(), in.hub.Addr()); err != nil {
		log.Warn("a second mcptray will not find this one's address", "err", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if useTray {
		host := trayHostProblem()
		if host != "" {
			log.Warn("no tray host is running: the icon appears when one starts", "reason", host)
		}
		err = runTray(ctx, in, host)
	} else {
		err = in.run(ctx)
	}
	log.Info("stopped")
	return err
}

// reported is an error already logged and shown: run exits 1 without
// printing it again.
type reported struct{ err error }

func (r *reported) Error() string { return r.err.Error() }
func (r *reported) Unwrap() error { return r.err }

// dashboardOf is the address of the dashboard of the mcptray that runs as
// info says, whose settings file is path ("" when it is another's): a
// one-time link when that mcptray needs one (bearer keys), which a key of
// the settings file asks for; its base URL's / otherwise, or "".
func dashboardOf(info instanceInfo, path string) string {
	if info.Addr == "" {
		if info.URL == "" {
			return ""
		}
		return info.URL + "/"
	}
	c := &apiClient{base: "http://" + info.Addr, http: &http.Client{Timeout: 5 * time.Second}}
	if path != "" {
		c.token = bearerKeyOf(path)
	}
	if u, err := dashboardLink(c, "/"); err == nil {
		return u
	}
	if info.URL != "" {
		return info.URL + "/"
	}
	return ""
}

// bringForward answers a second launch from the desktop: instead of a
// second instance, the one that runs shows its dashboard in the browser,
// and a notification says so.
func bringForward(log *slog.Logger, dashboard, where string) error {
	n := note{Title: "mcptray is already running", Body: where + " Its menu is in the tray."}
	if dashboard != "" && noDisplay() == "" {
		if err := browser.OpenURL(dashboard); err == nil {
			n.Body = where + " Its dashboard opened in your browser; its menu is in the tray."
		}
	}
	log.Info("mcptray is already running; this launch brought it forward instead", "running", where)
	notifyNow(log, n)
	return nil
}

// notifyNow shows one notification, outside the tray.
func notifyNow(log *slog.Logger, n note) {
	nf := newNotifier(log)
	defer nf.Close()
	if err := nf.Notify(n); err != nil {
		log.Debug("notification not shown", "err", err)
	}
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
	clients *hubClients // the AI clients, connected to this instance
	browser bool        // sign-ins open the browser
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
	secretsAt, err := secretsFile(store, log)
	if err != nil {
		return nil, err
	}
	secrets, err := keychain.Open(keychain.Options{
		Mode:        store.Current().SecretStore(),
		File:        secretsAt,
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
	// The clients' entries reach this instance where it listens.
	var h *hub.Hub
	clients := &hubClients{layout: systemLayout, target: func() (clientTarget, error) {
		t, err := makeTarget(store.Current(), h.Addr())
		if err != nil {
			return t, err
		}
		t.Exe, t.Args = stdioCommand(o, store.Path())
		return t, nil
	}}
	h, err = hub.New(hub.Config{Settings: store, Listen: o.listen, Logger: log, Version: version, Auth: auth, Secrets: secrets, Clients: clients})
	if err != nil {
		return nil, err
	}
	return &instance{log: log, store: store, secrets: secrets, auth: auth, hub: h, clients: clients, browser: open != nil}, nil
}

// secretsFile is where secrets go when no keychain keeps them: next to the
// settings when their folder is mcptray's (0700), else in mcptray's own
// folder, named for the settings file, so that no secret sits in a folder
// others may list (issue 11). A secrets.json that an older mcptray left
// next to the settings stays in use.
func secretsFile(store *settings.Store, log *slog.Logger) (string, error) {
	beside := filepath.Join(filepath.Dir(store.Path()), "secrets.json")
	if store.OwnsFolder() {
		return beside, nil
	}
	if _, err := os.Stat(beside); err == nil {
		return beside, nil
	}
	def, err := settings.DefaultPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(def)
	was, err := atomicfile.PrivateDir(dir)
	if err != nil {
		return "", fmt.Errorf("secrets folder: %w", err)
	}
	if was != 0 {
		log.Warn("mcptray's folder could be read by other users; made it private (0700)", "path", dir, "mode", was.String())
	}
	sum := sha256.Sum256([]byte(store.Path()))
	return filepath.Join(dir, "secrets-"+hex.EncodeToString(sum[:4])+".json"), nil
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
