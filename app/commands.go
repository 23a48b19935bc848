package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// The commands that change the settings (add, remove) go through the
// running instance's control API, which makes the change with
// settings.Store.Modify and applies it at once; with none running, they
// call Store.Modify themselves.

// addConnectWait is how long add waits for a new server to connect (a
// sign-in is waited for until it expires).
var addConnectWait = 60 * time.Second

// checkAdd checks the arguments of add: NAME URL, or NAME -- COMMAND ARGS….
func checkAdd(c cliArgs) error {
	switch {
	case len(c.pos) == 0:
		return errors.New("want a server name")
	case c.dash && len(c.after) == 0:
		return errors.New("want a command after --")
	case c.dash && len(c.pos) > 1:
		return errors.New("give a URL, or a command after --, not both")
	case !c.dash && len(c.pos) != 2:
		return errors.New("want a name and a URL, or a name and a command after --")
	case c.dash && len(c.add.headers) > 0:
		return errors.New("--header is for a remote server (a URL)")
	case !c.dash && len(c.add.env) > 0:
		return errors.New("--env is for a local server (a command after --)")
	}
	return nil
}

// newEntry makes the settings entry of a server to add.
func newEntry(c cliArgs) (*settings.Server, error) {
	if c.dash {
		srv := &settings.Server{Command: c.after[0], Args: c.after[1:]}
		if c.add.typ != "" && c.add.typ != settings.TypeStdio {
			return nil, fmt.Errorf("--type %s: a server with a command is stdio", c.add.typ)
		}
		for _, kv := range c.add.env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--env %q: want NAME=VALUE", kv)
			}
			if srv.Env == nil {
				srv.Env = map[string]string{}
			}
			srv.Env[k] = v
		}
		return srv, nil
	}
	srv := &settings.Server{URL: c.pos[1]}
	switch c.add.typ {
	case "":
		// Without a type a URL means streamable HTTP, in MCPHub as here;
		// an SSE server's URL ends in /sse by convention.
		if u, err := url.Parse(srv.URL); err == nil && strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/sse") {
			srv.Type = settings.TypeSSE
		}
	case settings.TypeSSE, settings.TypeStreamableHTTP, settings.TypeHTTP:
		srv.Type = c.add.typ
	default:
		return nil, fmt.Errorf("--type %q: want sse or streamable-http", c.add.typ)
	}
	for _, h := range c.add.headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--header %q: want 'NAME: VALUE'", h)
		}
		if srv.Headers == nil {
			srv.Headers = map[string]string{}
		}
		srv.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return srv, nil
}

// addServer adds a server, and follows it until it connects: through a
// sign-in in the browser when it asks for one.
func addServer(o options, c cliArgs, stdout io.Writer) error {
	name := c.pos[0]
	srv, err := newEntry(c)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(srv)
	if err != nil {
		return err
	}
	client, err := newAPIClient(o)
	if err != nil {
		return err
	}
	var st hub.ServerStatus
	err = client.send(http.MethodPost, "/api/servers", hub.NewServer{Name: name, Server: raw}, &st)
	var nr *notRunningError
	if errors.As(err, &nr) {
		path, err := modifyOffline(o, func(st *settings.Settings) error {
			if _, ok := st.Servers[name]; ok {
				return fmt.Errorf("%w: %q", hub.ErrServerExists, name)
			}
			st.Servers[name] = srv
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Added %s to %s.\nmcptray is not running: start it (`mcptray`) and it connects %s; if %s asks for a sign-in, your browser opens for it then.\n", name, path, name, name)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Added %s.\n", name)
	return follow(o, client, name, stdout)
}

// follow waits for a new server to connect, signs in when it asks, and
// says how it went.
func follow(o options, c *apiClient, name string, stdout io.Writer) error {
	deadline := time.Now().Add(addConnectWait)
	signedIn := false
	for {
		var d hub.ServerDetails
		if err := c.do(http.MethodGet, "/api/servers/"+url.PathEscape(name), &d); err != nil {
			return err
		}
		switch d.State {
		case hub.StateConnected:
			fmt.Fprintf(stdout, "%s is connected: %d %s, %d %s, %d %s. Your MCP clients see its tools now, their names prefixed with %s.\n",
				name, d.Tools, plural(d.Tools, "tool", "tools"), d.Prompts, plural(d.Prompts, "prompt", "prompts"), d.Resources, plural(d.Resources, "resource", "resources"), name)
			return nil
		case hub.StateError:
			text, fix := diagnosis(d.ServerStatus)
			fmt.Fprintf(stdout, "%s does not connect: %s\n%s\n`mcptray logs %s` shows what happened; `mcptray remove %s` takes it out again.\n", name, text, fix, name, name)
			return &reported{fmt.Errorf("%s does not connect", name)}
		case hub.StateNeedsAuthorization:
			if signedIn {
				break // the reconnect after the sign-in is on its way
			}
			if err := signInNew(o, c, name, stdout); err != nil {
				return err
			}
			signedIn = true
			deadline = time.Now().Add(addConnectWait)
		case hub.StateDisabled:
			fmt.Fprintf(stdout, "%s is disabled.\n", name)
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stdout, "%s is still connecting; `mcptray status` shows how it goes.\n", name)
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// signInNew signs in to a server that was just added and asks for it. The
// running mcptray starts the first sign-in of a server by itself (and
// opens its browser, when it has one): add shows that sign-in's page and
// waits for it. When none starts, it asks for one as authorize does.
func signInNew(o options, c *apiClient, name string, stdout io.Writer) error {
	fmt.Fprintf(stdout, "%s asks you to sign in.\n", name)
	path := "/api/servers/" + url.PathEscape(name)
	var si *oauthflow.SignIn
	for wait := time.Now().Add(5 * time.Second); time.Now().Before(wait); time.Sleep(200 * time.Millisecond) {
		var d hub.ServerDetails
		if err := c.do(http.MethodGet, path, &d); err != nil {
			return err
		}
		if d.OAuth != nil && d.OAuth.SignIn != nil && d.OAuth.SignIn.Status == oauthflow.SignInWaiting && d.OAuth.SignIn.URL != "" {
			si = d.OAuth.SignIn
			break
		}
	}
	if si == nil {
		return authorize(o, name, authorizeFlags{}, stdin, stdout)
	}
	if si.Flow == oauthflow.FlowDevice {
		fmt.Fprintf(stdout, "Open this address on any device:\n\n  %s\n\nand enter the code:  %s\n\n", si.VerificationURI, si.UserCode)
	} else {
		opened := "(mcptray could not open a browser here: open it yourself)"
		if si.BrowserOpened {
			opened = "(mcptray opened it in your browser)"
		}
		fmt.Fprintf(stdout, "Its sign-in page %s:\n\n  %s\n\n", opened, si.URL)
	}
	fmt.Fprintln(stdout, "Waiting for the sign-in to complete (Ctrl-C stops waiting)…")
	return waitSignIn(c, name, path, oauthflow.Authorization{URL: si.URL, SignIn: si.ID, Expires: si.Expires}, stdout)
}

// removeServer removes a server.
func removeServer(o options, name string, stdout io.Writer) error {
	client, err := newAPIClient(o)
	if err != nil {
		return err
	}
	err = client.do(http.MethodDelete, "/api/servers/"+url.PathEscape(name), nil)
	var nr *notRunningError
	if errors.As(err, &nr) {
		path, err := modifyOffline(o, func(st *settings.Settings) error {
			if _, ok := st.Servers[name]; !ok {
				return fmt.Errorf("%w: %q", hub.ErrUnknownServer, name)
			}
			delete(st.Servers, name)
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Removed %s from %s.\n", name, path)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Removed %s: it is stopped, and its tools are gone from your MCP clients.\n", name)
	return nil
}

// modifyOffline changes the settings file with settings.Store.Modify, for
// the commands with no mcptray running. It returns the file's path.
func modifyOffline(o options, fn func(*settings.Settings) error) (string, error) {
	path, err := settingsPath(o)
	if err != nil {
		return "", err
	}
	// The store's own log lines (a file it created, the problems it found)
	// are for a running instance; the command says what it did.
	store, err := settings.Open(path, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	if err := store.Err(); err != nil {
		return "", fmt.Errorf("%w: fix it first: %w", settings.ErrFileInvalid, err)
	}
	if err := store.Modify(fn); err != nil {
		return "", err
	}
	return store.Path(), nil
}

// serverLogs prints a server's recent events and last lines of stderr;
// with no mcptray running, its lines of the log file.
func serverLogs(o options, name string, stdout io.Writer) error {
	client, err := newAPIClient(o)
	if err != nil {
		return err
	}
	var l hub.ServerLogs
	err = client.do(http.MethodGet, "/api/servers/"+url.PathEscape(name)+"/logs", &l)
	var nr *notRunningError
	if errors.As(err, &nr) {
		return logFileLines(name, stdout, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Recent events of %s (oldest first):\n", name)
	for _, e := range l.Events {
		fmt.Fprintf(stdout, "%s  %-5s  %s\n", e.Time.Local().Format(time.DateTime), e.Level, e.Message)
	}
	if len(l.Stderr) > 0 {
		fmt.Fprintf(stdout, "\nIts last lines of stderr:\n")
		for _, line := range l.Stderr {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
	}
	return nil
}

// logFileLines prints the last lines of the log file about a server.
func logFileLines(name string, stdout io.Writer, notRunning error) error {
	dir, err := logDir()
	if err != nil {
		return notRunning
	}
	path := filepath.Join(dir, "mcptray.log")
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w, and there is no log file (%s)", notRunning, path)
	}
	defer f.Close()
	// slog's text handler writes server=NAME, quoted when the name needs it.
	keys := []string{"server=" + name + " ", "server=" + strconv.Quote(name) + " "}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text() + " "
		for _, k := range keys {
			if strings.Contains(line, k) {
				lines = append(lines, sc.Text())
				if len(lines) > 200 {
					lines = lines[1:]
				}
				break
			}
		}
	}
	if len(lines) == 0 {
		return fmt.Errorf("%w, and its log file (%s) has nothing about %s", notRunning, path, name)
	}
	fmt.Fprintf(stdout, "%s; the lines about %s in its log file (%s):\n", notRunning, name, path)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return nil
}
