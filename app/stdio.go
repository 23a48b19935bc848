package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mcptray/mcptray/hub"
)

// `mcptray stdio` is the stdio server for clients that only start stdio
// servers (Claude Desktop's config file): it bridges its stdin and stdout
// to the running mcptray's /mcp (hub.Bridge), so that such a client needs
// neither Node.js nor mcp-remote.
//
// When no mcptray runs on the settings file, it starts one: the tray app,
// as the applications menu would, detached from the client, so that it
// keeps running (and shows its icon, and its sign-in notifications) after
// the client quits, for every client; the user quits it from the tray.
// Where no tray can show, that app serves as with --headless, by itself.
// Its output goes to the log file.

// stdioStartWait bounds the wait for a started mcptray to answer.
var stdioStartWait = 30 * time.Second

// stdioBridge runs `mcptray stdio` until the client closes stdin.
func stdioBridge(o options, stdin io.Reader, stdout, stderr io.Writer) error {
	// stdout is the MCP channel: everything else goes to stderr, which
	// clients keep in their logs.
	log, err := newLogger(o.logLevel, stderr)
	if err != nil {
		return err
	}
	c, err := reachInstance(o, log)
	if err != nil {
		return err
	}
	headers := map[string]string{}
	if c.token != "" {
		headers["Authorization"] = "Bearer " + c.token
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Debug("bridging stdio", "endpoint", c.base+"/mcp")
	return hub.Bridge(ctx, hub.BridgeConfig{URL: c.base + "/mcp", Headers: headers, In: stdin, Out: stdout, Log: log})
}

// reachInstance finds the mcptray of the options, starting one when none
// runs, and returns a client of it.
func reachInstance(o options, log *slog.Logger) (*apiClient, error) {
	started := false
	var exited <-chan error
	deadline := time.Now().Add(stdioStartWait)
	for {
		c, err := newAPIClient(o)
		if err != nil {
			return nil, err
		}
		if isMcptray(strings.TrimPrefix(c.base, "http://")) {
			return c, nil
		}
		if !started {
			if exited, err = startInstanceDetached(o, log); err != nil {
				return nil, err
			}
			started = true
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("mcptray did not start (%v); its log says why: %s", err, logFileHint())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("mcptray did not answer at %s within %v of its start; its log: %s", c.base, stdioStartWait, logFileHint())
		}
	}
}

// startInstanceDetached starts mcptray (the tray app) for the options'
// settings file and address, in a session of its own, its output to the
// log file. The channel gets its exit, should it exit; it runs on after
// this process otherwise.
func startInstanceDetached(o options, log *slog.Logger) (<-chan error, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	path, err := settingsPath(o)
	if err != nil {
		return nil, err
	}
	args := []string{"--settings", path}
	if o.listenSet {
		args = append(args, "--listen", o.listen)
	}
	if o.noBrowser {
		args = append(args, "--no-browser")
	}
	cmd := exec.Command(exe, args...)
	cmd.SysProcAttr = detached()
	if f, err := openLogFile(); err == nil {
		defer f.Close() // the child has its own copy
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mcptray: %w", err)
	}
	log.Info("mcptray was not running; started it", "pid", cmd.Process.Pid, "settings", path)
	exited := make(chan error, 1)
	// Reaps the child if it exits while this process runs; it ends with
	// whichever of the two ends first.
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}

// logFileHint names the log file, for a message.
func logFileHint() string {
	dir, err := logDir()
	if err != nil {
		return "the log file"
	}
	return filepath.Join(dir, "mcptray.log")
}
