package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/pkg/browser"

	"github.com/mcptray/mcptray/hub"
)

// This file is the command line: the usage text, the commands, and flags
// that may come before or after the command (`mcptray signout x --listen
// ...` as well as `mcptray --listen ... signout x`).

// cliArgs are a command's arguments.
type cliArgs struct {
	pos   []string // after the command's name
	after []string // after "--": the command of a stdio server to add
	dash  bool     // there was a "--"
	add   addFlags
	auth  authorizeFlags
}

// addFlags are the flags of `mcptray add`.
type addFlags struct {
	typ     string
	headers []string
	env     []string
}

func (a addFlags) set() bool { return a.typ != "" || len(a.headers) > 0 || len(a.env) > 0 }

// command is one of mcptray's commands.
type command struct {
	name  string
	usage string // the arguments, as the usage text shows them
	what  string
	more  string // what `mcptray help NAME` adds
	check func(c cliArgs) error
	run   func(o options, c cliArgs, stdout, stderr io.Writer) error
}

// nameArg checks for exactly one argument, a server's name.
func nameArg(c cliArgs) error {
	if len(c.pos) != 1 {
		return errors.New("want one server name")
	}
	return nil
}

func noArgs(c cliArgs) error {
	if len(c.pos) != 0 {
		return fmt.Errorf("unexpected argument %q", c.pos[0])
	}
	return nil
}

var commands = []command{
	{name: "status", what: "list the servers of the running mcptray and their state", check: noArgs,
		more: "It says what is wrong with each server that does not connect, and the fix. With no mcptray running, it says how to start one, and what the settings file configures.",
		run:  func(o options, _ cliArgs, stdout, _ io.Writer) error { return status(o, stdout) }},
	{name: "dashboard", usage: "[NAME]", what: "open the dashboard (or a server's page of it) in your browser", check: func(c cliArgs) error {
		if len(c.pos) > 1 {
			return errors.New("want at most one server name")
		}
		return nil
	},
		more: "It prints the address too. With bearer keys in the settings, the address is a link that works once, for two minutes.",
		run:  func(o options, c cliArgs, stdout, _ io.Writer) error { return dashboard(o, c, stdout) }},
	{name: "add", usage: "NAME URL", what: "add a remote server (streamable HTTP, or SSE); signs in if it asks", check: checkAdd,
		more: "mcptray add NAME -- COMMAND ARGS…  adds a local server that mcptray runs (stdio).\n\nFlags of add:\n  --type TYPE            sse or streamable-http (default: sse for a URL ending in /sse, else streamable-http)\n  --header 'NAME: VALUE' an HTTP header for a remote server; repeat it for more\n  --env NAME=VALUE       an environment variable for a local server; repeat it for more\n\n${VAR} in a value is taken from the environment when the server connects; the file keeps the placeholder.\nThe server is added to the running mcptray, which connects it at once; when it asks for a sign-in,\nyour browser opens and add waits for it. With no mcptray running, add writes the settings file.",
		run:  func(o options, c cliArgs, stdout, _ io.Writer) error { return addServer(o, c, stdout) }},
	{name: "remove", usage: "NAME", what: "remove a server from the settings", check: nameArg,
		run: func(o options, c cliArgs, stdout, _ io.Writer) error { return removeServer(o, c.pos[0], stdout) }},
	{name: "logs", usage: "NAME", what: "show a server's recent events and last lines of stderr", check: nameArg,
		more: "With no mcptray running, it shows the server's lines of the log file.",
		run:  func(o options, c cliArgs, stdout, _ io.Writer) error { return serverLogs(o, c.pos[0], stdout) }},
	{name: "authorize", usage: "NAME", what: "sign in to an OAuth server in your browser", check: nameArg,
		more: "Flags of authorize:\n  --paste    for a browser on another machine: print the URL, then read the address the browser was sent back to\n  --device   sign in with a code typed in at a URL (RFC 8628), where the server offers it;\n             chosen by itself without a display\n\nIt waits until the sign-in completes, and fails at once when it fails.",
		run: func(o options, c cliArgs, stdout, _ io.Writer) error {
			return authorize(o, c.pos[0], c.auth, stdin, stdout)
		}},
	{name: "signout", usage: "NAME", what: "revoke and delete a server's tokens", check: nameArg,
		run: func(o options, c cliArgs, stdout, _ io.Writer) error { return signout(o, c.pos[0], stdout) }},
	{name: "connect", usage: "[CLIENT]", what: "connect an AI client to mcptray; without CLIENT, list them and whether each is", check: checkConnect,
		more: "CLIENT is one of: " + clientIDs() + ".\nIt adds an entry named mcptray to the client's own config file, in its format, and changes nothing else\nthere (the first change keeps a copy of the file as it was, beside it: FILE.mcptray-backup). The entry\nreaches this mcptray (--settings and --listen), with a bearer key when the settings have keys. Claude\nDesktop's entry runs `mcptray stdio`. Running it again changes nothing.",
		run:  func(o options, c cliArgs, stdout, _ io.Writer) error { return connect(o, c, stdout) }},
	{name: "disconnect", usage: "CLIENT", what: "remove mcptray's entry from an AI client's config file", check: checkDisconnect,
		run: func(_ options, c cliArgs, stdout, _ io.Writer) error { return disconnect(c, stdout) }},
	{name: "stdio", what: "serve the running mcptray over stdio, for clients that start only stdio servers", check: noArgs,
		more: "It bridges its stdin and stdout to the running mcptray's endpoint, in whichever MCP revision the client speaks,\nso that a client such as Claude Desktop needs neither Node.js nor mcp-remote (`mcptray connect claude-desktop`\nwrites its entry). When no mcptray runs on the settings file, it starts one (the tray app), which keeps running\nafter the client quits. Nothing but MCP goes to stdout.",
		run: func(o options, _ cliArgs, stdout, stderr io.Writer) error {
			return stdioBridge(o, os.Stdin, stdout, stderr)
		}},
	{name: "version", what: "print the version", check: noArgs,
		run: func(_ options, _ cliArgs, stdout, _ io.Writer) error {
			fmt.Fprintln(stdout, "mcptray", version)
			return nil
		}},
	// help is run's own: it is listed here for the usage text.
	{name: "help", usage: "[COMMAND]", what: "show this text, or a command's"},
}

func lookupCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// usageText is what `mcptray help` and --help print.
func usageText() string {
	var b strings.Builder
	b.WriteString(`mcptray serves every MCP server you configure from one local endpoint,
http://localhost:3000/mcp, and shows them in the tray.

Usage:
  mcptray [FLAGS]                    run mcptray: the tray icon (or none, with --headless)
  mcptray COMMAND [ARGS] [FLAGS]

Commands:
`)
	for _, c := range commands {
		left := c.name
		if c.usage != "" {
			left += " " + c.usage
		}
		fmt.Fprintf(&b, "  %-31s  %s\n", left, c.what)
		if c.name == "add" {
			fmt.Fprintf(&b, "  %-31s  %s\n", "add NAME -- COMMAND ARGS…", "add a local server that mcptray runs (stdio)")
		}
	}
	fmt.Fprintf(&b, `
Flags (before or after the command):
  --settings FILE      the settings file (default: %s)
  --listen HOST:PORT   the local endpoint (default: %s)
  --headless           run without a tray icon
  --no-browser         never open a browser for sign-ins; show their URLs instead
  --log-level LEVEL    debug, info, warn or error (default: info)
  --version            print the version
  --help               show this text; with a command, the command's

Examples:
  mcptray add linear https://mcp.linear.app/mcp
  mcptray add everything -- npx -y @modelcontextprotocol/server-everything
  mcptray add github https://api.githubcopilot.com/mcp/ --header 'Authorization: Bearer ${GITHUB_TOKEN}'
  mcptray connect cursor
  mcptray status
  mcptray logs everything
  mcptray remove everything

More: https://github.com/mcptray/mcptray#readme
`, defaultSettingsHint(), hub.DefaultListen)
	return b.String()
}

// commandHelp is what `mcptray help NAME` prints.
func commandHelp(c *command) string {
	line := "mcptray " + c.name
	if c.usage != "" {
		line += " " + c.usage
	}
	s := "Usage: " + line + " [FLAGS]\n\n" + sentence(c.what) + "\n"
	if c.more != "" {
		s += "\n" + c.more + "\n"
	}
	return s + "\nThe flags every command takes: mcptray help\n"
}

// parseCommandLine finds the command, its arguments and the flags, which
// may come before or after the command and its arguments.
func parseCommandLine(args []string) (cmd string, o options, c cliArgs, help bool, err error) {
	before := args
	if i := slices.Index(args, "--"); i >= 0 {
		before, c.after, c.dash = args[:i], args[i+1:], true
	}
	var rest []string
	for _, a := range before {
		switch a {
		case "-h", "-help", "--help":
			help = true
		default:
			rest = append(rest, a)
		}
	}
	fs := flag.NewFlagSet("mcptray", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the errors are told once, by run, with a pointer to help
	fs.StringVar(&o.settings, "settings", "", "")
	fs.StringVar(&o.listen, "listen", hub.DefaultListen, "")
	fs.BoolVar(&o.headless, "headless", false, "")
	fs.BoolVar(&o.noBrowser, "no-browser", false, "")
	fs.StringVar(&o.logLevel, "log-level", "info", "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.StringVar(&c.add.typ, "type", "", "")
	fs.Func("header", "", func(v string) error { c.add.headers = append(c.add.headers, v); return nil })
	fs.Func("env", "", func(v string) error { c.add.env = append(c.add.env, v); return nil })
	fs.BoolVar(&c.auth.paste, "paste", false, "")
	fs.BoolVar(&c.auth.device, "device", false, "")
	var pos []string
	for {
		if err := fs.Parse(rest); err != nil {
			return "", o, c, help, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "listen" {
			o.listenSet = true
		}
	})
	if len(pos) > 0 {
		cmd, c.pos = pos[0], pos[1:]
	}
	return cmd, o, c, help, nil
}

// run is main without the exit, for tests: 0 when done, 1 when the command
// failed, 2 for a mistake in the command line.
func run(args []string, stdout, stderr io.Writer) int {
	// xdg-open chatters on stdout; set once, before any goroutine opens
	// a URL, since it is the package's global.
	browser.Stdout = io.Discard
	usageError := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mcptray: "+format+"\nRun `mcptray help` for usage.\n", a...)
		return 2
	}
	cmd, o, c, help, err := parseCommandLine(args)
	if err != nil {
		return usageError("%v", err)
	}
	if help || cmd == "help" {
		topic := cmd
		if cmd == "help" {
			topic = ""
			if len(c.pos) > 0 {
				topic = c.pos[0]
			}
		}
		if topic == "" {
			fmt.Fprint(stdout, usageText())
			return 0
		}
		if t := lookupCommand(topic); t != nil && t.name != "help" {
			fmt.Fprint(stdout, commandHelp(t))
			return 0
		}
		return usageError("no command %q", topic)
	}
	if o.version {
		fmt.Fprintln(stdout, "mcptray", version)
		return 0
	}
	var runCmd func(options, cliArgs, io.Writer, io.Writer) error
	if cmd == "" {
		runCmd = func(o options, _ cliArgs, _, stderr io.Writer) error { return serve(o, stderr) }
	} else {
		command := lookupCommand(cmd)
		if command == nil {
			return usageError("unknown command %q (the commands: %s)", cmd, commandNames())
		}
		if err := command.check(c); err != nil {
			return usageError("%s: %v; usage: mcptray %s %s", cmd, err, cmd, command.usage)
		}
		runCmd = command.run
	}
	if c.add.set() && cmd != "add" {
		return usageError("--type, --header and --env are flags of `mcptray add`")
	}
	if (c.auth.paste || c.auth.device) && cmd != "authorize" {
		return usageError("--paste and --device are flags of `mcptray authorize`")
	}
	if c.auth.paste && c.auth.device {
		return usageError("authorize: --paste and --device exclude each other")
	}
	if c.dash && cmd != "add" {
		return usageError("`--` is for `mcptray add NAME -- COMMAND ARGS…`")
	}
	if err := runCmd(o, c, stdout, stderr); err != nil {
		var r *reported
		if !errors.As(err, &r) {
			fmt.Fprintln(stderr, "mcptray:", err)
		}
		return 1
	}
	return 0
}

func commandNames() string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}
