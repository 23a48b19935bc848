package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/internal/atomicfile"
	"github.com/mcptray/mcptray/settings"
)

// This file is `mcptray connect`: the AI clients mcptray knows, where each
// keeps its MCP servers on each platform and in what format, and the entry
// that reaches this mcptray. connect adds that entry to the client's own
// config file and disconnect removes it; everything else in the file stays
// as the user wrote it (jsonedit.go, tomledit.go). The first change keeps a
// copy of the file as it was; a change that changes nothing writes nothing.

// entryName is the name of mcptray's entry in every client's config.
const entryName = "mcptray"

// configFormat is the format of a client's config file.
type configFormat int

const (
	formatJSON  configFormat = iota // strict JSON
	formatJSONC                     // JSON with comments and trailing commas
	formatTOML
)

func (f configFormat) String() string {
	switch f {
	case formatJSONC:
		return "JSON with comments"
	case formatTOML:
		return "TOML"
	}
	return "JSON"
}

// layout is where a platform keeps a user's files: its GOOS, the user's
// home folder and environment. The paths of every client are functions of
// it, so that the three platforms' can be checked on any one of them.
type layout struct {
	goos string
	home string
	env  func(string) string
}

// systemLayout is this machine's layout.
var systemLayout = func() layout {
	home, _ := os.UserHomeDir()
	return layout{goos: runtime.GOOS, home: home, env: os.Getenv}
}

func (l layout) getenv(k string) string {
	if l.env == nil {
		return ""
	}
	return l.env(k)
}

// configDir is the folder where Linux programs keep their configuration
// ($XDG_CONFIG_HOME, by default ~/.config: the XDG Base Directory
// Specification).
func (l layout) configDir() string {
	if v := l.getenv("XDG_CONFIG_HOME"); v != "" && filepath.IsAbs(v) {
		return v
	}
	return filepath.Join(l.home, ".config")
}

// appData is Windows's roaming application data folder (%APPDATA%).
func (l layout) appData() string {
	if v := l.getenv("APPDATA"); v != "" {
		return v
	}
	return filepath.Join(l.home, "AppData", "Roaming")
}

// appSupport is macOS's ~/Library/Application Support.
func (l layout) appSupport() string { return filepath.Join(l.home, "Library", "Application Support") }

// clientTarget is the mcptray a client's entry reaches.
type clientTarget struct {
	URL   string // its MCP endpoint, http://localhost:3000/mcp
	Token string // a bearer key of the settings with access to everything, when they have keys
	// Exe and Args run `mcptray stdio` for this instance, for clients that
	// only start stdio servers.
	Exe  string
	Args []string
}

// headers are the HTTP headers of an entry: the bearer key, if any.
func (t clientTarget) headers() map[string]string {
	if t.Token == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + t.Token}
}

// clientDef is an AI client mcptray connects.
type clientDef struct {
	ID, Name string
	Format   configFormat
	// Key is the object (or TOML table) of the file that holds its
	// servers, by name.
	Key string
	// paths returns the config file the client reads its (user-wide) MCP
	// servers from, and the folders or files of which any one, present,
	// says the client is installed.
	paths func(l layout) (file string, markers []string)
	// entry is mcptray's entry for it: a JSON value, or the TOML table's
	// keys.
	entry func(t clientTarget) (any, error)
}

// jsonField is one member of an ordered JSON object.
type jsonField struct {
	Key   string
	Value any
}

// jsonObject is a JSON object that keeps its members' order, so that an
// entry reads as the client's documentation writes it.
type jsonObject []jsonField

func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(encodeJSONString(f.Key))
		b.WriteByte(':')
		v, err := compactJSON(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// httpEntry is the entry of a client that connects to a URL: urlKey names
// the URL, typ is the "type" member the client wants first, if any.
func httpEntry(typ, urlKey string) func(t clientTarget) (any, error) {
	return func(t clientTarget) (any, error) {
		var o jsonObject
		if typ != "" {
			o = append(o, jsonField{"type", typ})
		}
		o = append(o, jsonField{urlKey, t.URL})
		if h := t.headers(); h != nil {
			o = append(o, jsonField{"headers", h})
		}
		return o, nil
	}
}

// clients are the AI clients mcptray connects, each with the config file it
// reads on each platform (its documentation's), in that file's format.
var clients = []clientDef{
	{
		// https://modelcontextprotocol.io/quickstart/user: macOS
		// ~/Library/Application Support/Claude/claude_desktop_config.json,
		// Windows %APPDATA%\Claude\claude_desktop_config.json. Anthropic
		// ships no Linux build; the community builds read
		// ~/.config/Claude (claude-desktop-debian). The file takes stdio
		// servers only (remote ones are added in the app, as connectors):
		// the entry runs `mcptray stdio`.
		ID: "claude-desktop", Name: "Claude Desktop", Format: formatJSON, Key: "mcpServers",
		paths: func(l layout) (string, []string) {
			var dir string
			switch l.goos {
			case "darwin":
				dir = filepath.Join(l.appSupport(), "Claude")
			case "windows":
				dir = filepath.Join(l.appData(), "Claude")
			default:
				dir = filepath.Join(l.configDir(), "Claude")
			}
			return filepath.Join(dir, "claude_desktop_config.json"), []string{dir}
		},
		entry: func(t clientTarget) (any, error) {
			if t.Exe == "" {
				return nil, fmt.Errorf("Claude Desktop starts `mcptray stdio`, but %w", errBuildCache)
			}
			return jsonObject{{"command", t.Exe}, {"args", t.Args}}, nil
		},
	},
	{
		// https://code.claude.com/docs/en/mcp ("MCP installation scopes"):
		// servers of the user scope are in ~/.claude.json, under
		// mcpServers, on every platform; {"type": "http", "url", "headers"}.
		ID: "claude-code", Name: "Claude Code", Format: formatJSON, Key: "mcpServers",
		paths: func(l layout) (string, []string) {
			file := filepath.Join(l.home, ".claude.json")
			return file, []string{filepath.Join(l.home, ".claude"), file}
		},
		entry: httpEntry("http", "url"),
	},
	{
		// https://cursor.com/docs/mcp ("Configuration locations"): the
		// global file is ~/.cursor/mcp.json; a remote server is
		// {"url", "headers"}.
		ID: "cursor", Name: "Cursor", Format: formatJSON, Key: "mcpServers",
		paths: func(l layout) (string, []string) {
			dir := filepath.Join(l.home, ".cursor")
			return filepath.Join(dir, "mcp.json"), []string{dir}
		},
		entry: httpEntry("", "url"),
	},
	{
		// https://code.visualstudio.com/docs/copilot/reference/mcp-configuration:
		// mcp.json in the user profile folder (Code/User under
		// ~/.config, ~/Library/Application Support or %APPDATA%), its
		// servers under "servers", {"type": "http", "url", "headers"}.
		// VS Code reads it as JSON with comments.
		ID: "vscode", Name: "VS Code", Format: formatJSONC, Key: "servers",
		paths: func(l layout) (string, []string) {
			var dir string
			switch l.goos {
			case "darwin":
				dir = filepath.Join(l.appSupport(), "Code", "User")
			case "windows":
				dir = filepath.Join(l.appData(), "Code", "User")
			default:
				dir = filepath.Join(l.configDir(), "Code", "User")
			}
			return filepath.Join(dir, "mcp.json"), []string{dir}
		},
		entry: httpEntry("http", "url"),
	},
	{
		// https://docs.windsurf.com/windsurf/cascade/mcp: Cascade reads
		// ~/.codeium/windsurf/mcp_config.json (%USERPROFILE% on Windows);
		// a remote server's URL is "serverUrl".
		ID: "windsurf", Name: "Windsurf", Format: formatJSON, Key: "mcpServers",
		paths: func(l layout) (string, []string) {
			dir := filepath.Join(l.home, ".codeium", "windsurf")
			return filepath.Join(dir, "mcp_config.json"), []string{dir}
		},
		entry: httpEntry("", "serverUrl"),
	},
	{
		// https://zed.dev/docs/configuring-zed: ~/.config/zed/settings.json
		// on macOS and Linux ($XDG_CONFIG_HOME/zed on Linux),
		// %APPDATA%\Zed\settings.json on Windows, JSON with // comments;
		// https://zed.dev/docs/ai/mcp: "context_servers", a remote server
		// {"url", "headers"}.
		ID: "zed", Name: "Zed", Format: formatJSONC, Key: "context_servers",
		paths: func(l layout) (string, []string) {
			var dir string
			switch l.goos {
			case "windows":
				dir = filepath.Join(l.appData(), "Zed")
			case "darwin":
				dir = filepath.Join(l.home, ".config", "zed")
			default:
				dir = filepath.Join(l.configDir(), "zed")
			}
			return filepath.Join(dir, "settings.json"), []string{dir}
		},
		entry: httpEntry("", "url"),
	},
	{
		// https://github.com/google-gemini/gemini-cli/blob/main/docs/tools/mcp-server.md:
		// ~/.gemini/settings.json, "mcpServers"; a streamable HTTP server
		// is "httpUrl" ("url" is SSE). Its settings loader strips
		// comments (strip-json-comments).
		ID: "gemini-cli", Name: "Gemini CLI", Format: formatJSONC, Key: "mcpServers",
		paths: func(l layout) (string, []string) {
			dir := filepath.Join(l.home, ".gemini")
			return filepath.Join(dir, "settings.json"), []string{dir}
		},
		entry: httpEntry("", "httpUrl"),
	},
	{
		// https://developers.openai.com/codex/mcp: $CODEX_HOME/config.toml,
		// by default ~/.codex/config.toml, a table per server under
		// mcp_servers; a streamable HTTP server has url and http_headers.
		ID: "codex", Name: "Codex CLI", Format: formatTOML, Key: "mcp_servers",
		paths: func(l layout) (string, []string) {
			dir := filepath.Join(l.home, ".codex")
			if v := l.getenv("CODEX_HOME"); v != "" && filepath.IsAbs(v) {
				dir = v
			}
			return filepath.Join(dir, "config.toml"), []string{dir}
		},
		entry: func(t clientTarget) (any, error) {
			kvs := []tomlKV{{"url", t.URL}}
			if h := t.headers(); h != nil {
				kvs = append(kvs, tomlKV{"http_headers", h})
			}
			return kvs, nil
		},
	},
}

// lookupClient finds a client by its id, or its name in any case.
func lookupClient(name string) *clientDef {
	for i := range clients {
		if clients[i].ID == name || strings.EqualFold(clients[i].Name, name) {
			return &clients[i]
		}
	}
	return nil
}

func clientIDs() string {
	var ids []string
	for _, c := range clients {
		ids = append(ids, c.ID)
	}
	return strings.Join(ids, ", ")
}

// clientState is where a client stands with this mcptray.
type clientState struct {
	ID, Name  string
	File      string
	Installed bool
	// Connected: the file has mcptray's entry as connect writes it; Other:
	// it has an entry of that name that reaches somewhere else (another
	// address, an older key).
	Connected, Other bool
	// Problem is why the file cannot be read or changed, naming it.
	Problem string
}

// configFile is a client's config file, read for a change.
type configFile struct {
	def    *clientDef
	path   string
	exists bool
	mode   fs.FileMode
	data   []byte
	json   *jsonDoc
	toml   *tomlDoc
}

// readConfig reads a client's config file, refusing what connect must not
// change: a symbolic link, a file that is not regular or is read-only, one
// whose format is broken. Every error names the file.
func readConfig(def *clientDef, path string) (*configFile, error) {
	f := &configFile{def: def, path: path, mode: 0o600}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		return nil, fmt.Errorf("%s is a symbolic link (to %s): mcptray does not write through links; add the entry where the link points, by hand, or replace the link with the file", path, target)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case fi.Mode().Perm()&0o200 == 0:
		return nil, fmt.Errorf("%s is read-only: mcptray leaves it as it is; make it writable (chmod u+w), or add the entry by hand", path)
	default:
		f.exists, f.mode = true, fi.Mode().Perm()
		if f.data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	switch def.Format {
	case formatTOML:
		f.toml, err = parseTOMLDoc(f.data)
		if err == nil {
			err = f.toml.check(def.Key)
		}
	default:
		f.json, err = parseJSONDoc(f.data, def.Format == formatJSONC)
		if err == nil {
			err = f.json.check(def.Key)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not valid %s as %s reads it (%v): fix it, then connect again; mcptray changed nothing", path, def.Format, def.Name, err)
	}
	return f, nil
}

// entry returns mcptray's entry in the file, as JSON.
func (f *configFile) entry() (json.RawMessage, bool) {
	if f.toml != nil {
		return f.toml.get(f.def.Key, entryName)
	}
	return f.json.get(f.def.Key, entryName)
}

// wanted is the entry connect writes, as JSON, for comparing.
func wanted(def *clientDef, t clientTarget) (any, json.RawMessage, error) {
	e, err := def.entry(t)
	if err != nil {
		return nil, nil, err
	}
	var v any = e
	if kvs, ok := e.([]tomlKV); ok {
		v = tomlValues(kvs)
	}
	b, err := json.Marshal(v)
	return e, b, err
}

// stateOf reads where a client stands.
func stateOf(def *clientDef, l layout, t clientTarget) clientState {
	file, markers := def.paths(l)
	st := clientState{ID: def.ID, Name: def.Name, File: file, Installed: anyExists(markers)}
	if !st.Installed {
		return st
	}
	f, err := readConfig(def, file)
	if err != nil {
		st.Problem = err.Error()
		return st
	}
	if got, ok := f.entry(); ok {
		if _, want, err := wanted(def, t); err == nil && sameJSON(got, want) {
			st.Connected = true
		} else {
			st.Other = true
		}
	}
	return st
}

func anyExists(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

// backupPath is where the first change keeps a client's file as it was.
func backupPath(file string) string { return file + ".mcptray-backup" }

// connectClient adds mcptray's entry to a client's config file and says
// what it did. It changes nothing when the entry is there already.
func connectClient(def *clientDef, l layout, t clientTarget) (string, error) {
	file, markers := def.paths(l)
	if !anyExists(markers) {
		return "", fmt.Errorf("%s is not installed here (there is no %s); install it, or open it once, then connect it", def.Name, markers[0])
	}
	f, err := readConfig(def, file)
	if err != nil {
		return "", err
	}
	e, want, err := wanted(def, t)
	if err != nil {
		return "", err
	}
	if got, ok := f.entry(); ok && sameJSON(got, want) {
		return fmt.Sprintf("%s is connected already: %s has mcptray's entry; nothing changed.", def.Name, file), nil
	}
	var out []byte
	if f.toml != nil {
		out, err = f.toml.set(def.Key, entryName, e.([]tomlKV))
	} else {
		out, err = f.json.set(def.Key, entryName, e)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	backup, err := f.save(out)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Connected %s: added mcptray to %s", def.Name, file)
	if backup != "" {
		msg += " (the file as it was is in " + backup + ")"
	}
	return msg + ". Restart " + def.Name + ", or reload its MCP servers, to see mcptray's tools.", nil
}

// disconnectClient removes mcptray's entry from a client's config file.
func disconnectClient(def *clientDef, l layout) (string, error) {
	file, _ := def.paths(l)
	if _, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("%s has no config file (%s), so no mcptray entry; nothing changed.", def.Name, file), nil
	}
	f, err := readConfig(def, file)
	if err != nil {
		return "", err
	}
	var out []byte
	var had bool
	if f.toml != nil {
		out, had, err = f.toml.remove(def.Key, entryName)
	} else {
		out, had = f.json.remove(def.Key, entryName)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	if !had {
		return fmt.Sprintf("%s has no mcptray entry in %s; nothing changed.", def.Name, file), nil
	}
	backup, err := f.save(out)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Disconnected %s: removed mcptray from %s", def.Name, file)
	if backup != "" {
		msg += " (the file as it was is in " + backup + ")"
	}
	return msg + ".", nil
}

// save writes the file's new contents atomically, in its mode, unless it
// changed since it was read (the client may write it too); the first change
// of a file keeps a copy of it as it was. It returns the copy's path when
// this change made it.
func (f *configFile) save(out []byte) (backup string, err error) {
	if f.exists {
		b := backupPath(f.path)
		if _, err := os.Lstat(b); errors.Is(err, fs.ErrNotExist) {
			if err := atomicfile.Write(b, f.data, atomicfile.Options{Mode: f.mode}); err != nil {
				return "", fmt.Errorf("keep a copy of %s: %w", f.path, err)
			}
			backup = b
		}
	} else if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Dir(f.path), err)
	}
	err = atomicfile.Write(f.path, out, atomicfile.Options{Mode: f.mode, Unchanged: func(now []byte, exists bool) bool {
		if !f.exists {
			return !exists
		}
		return exists && bytes.Equal(now, f.data)
	}})
	if errors.Is(err, atomicfile.ErrChanged) {
		return "", fmt.Errorf("%s changed while mcptray was changing it (%s wrote it?); nothing was changed: try again", f.path, f.def.Name)
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", f.path, err)
	}
	return backup, nil
}

// targetFor is the mcptray the options name: its settings file, where it
// listens (the running one's address when --listen is not given), and a
// bearer key when the settings have keys.
func targetFor(o options) (clientTarget, error) {
	path, err := settingsPath(o)
	if err != nil {
		return clientTarget{}, err
	}
	path = realPath(path)
	listen := o.listen
	if !o.listenSet {
		if info, ok := readInstanceInfo(path); ok && info.Addr != "" && isMcptray(info.Addr) {
			listen = info.Addr
		}
	}
	var st *settings.Settings
	if data, err := readFileIfExists(path); err == nil && data != nil {
		st, _ = settings.Parse(path, data)
	}
	t, err := makeTarget(st, listen)
	if err != nil {
		return t, err
	}
	t.Exe, t.Args = stdioCommand(o, path)
	return t, nil
}

// stdioCommand is the command line of `mcptray stdio` for the instance of
// the options, whose settings file is path: --settings when it is not the
// default one, --listen when it was given (without it, the bridge finds
// the instance of the settings file wherever it listens). The executable
// is "" when it is in Go's build cache, which is cleaned out.
func stdioCommand(o options, path string) (string, []string) {
	args := []string{"stdio"}
	if def, err := settings.DefaultPath(); o.settings != "" && (err != nil || realPath(def) != path) {
		args = append(args, "--settings", path)
	}
	if o.listenSet {
		args = append(args, "--listen", o.listen)
	}
	exe, err := os.Executable()
	if err != nil || inBuildCache(exe, os.Getenv("GOCACHE")) {
		return "", args
	}
	return exe, args
}

// makeTarget is the endpoint of a hub listening on listen with settings st
// (nil: none yet): the base URL the settings give, or http://localhost:PORT,
// and a key of theirs that opens /mcp.
func makeTarget(st *settings.Settings, listen string) (clientTarget, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return clientTarget{}, fmt.Errorf("--listen %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" || host == "127.0.0.1" || host == "::1" {
		host = "localhost"
	}
	base := "http://" + net.JoinHostPort(host, port)
	var t clientTarget
	if st != nil {
		if b := st.BaseURL(); b != "" {
			if u, err := url.Parse(b); err == nil && u.Host != "" {
				base = strings.TrimSuffix(b, "/")
			}
		}
		if keys := st.ActiveBearerKeys(); len(keys) > 0 {
			for _, k := range keys {
				if k.AccessType == "" || k.AccessType == "all" {
					t.Token = k.Token
					break
				}
			}
			if t.Token == "" {
				return t, errors.New("the settings' bearerKeys have none with accessType all, which /mcp needs: add one, or connect the client by hand to /mcp/{server or group} with its key")
			}
		}
	}
	t.URL = base + "/mcp"
	return t, nil
}

// hubClients is the AI clients as the tray and the dashboard show them, for
// the instance that runs: hub.Clients.
type hubClients struct {
	layout func() layout
	target func() (clientTarget, error)
}

var _ hub.Clients = (*hubClients)(nil)

func (c *hubClients) List() []hub.ClientStatus {
	t, err := c.target()
	l := c.layout()
	out := make([]hub.ClientStatus, 0, len(clients))
	for i := range clients {
		st := stateOf(&clients[i], l, t)
		cs := hub.ClientStatus{ID: st.ID, Name: st.Name, File: st.File, Installed: st.Installed, Connected: st.Connected, Other: st.Other, Problem: st.Problem}
		if err != nil && cs.Problem == "" {
			cs.Problem = err.Error()
		}
		out = append(out, cs)
	}
	return out
}

func (c *hubClients) Connect(id string) (string, error) {
	def := lookupClient(id)
	if def == nil {
		return "", fmt.Errorf("no client %q (the clients: %s)", id, clientIDs())
	}
	t, err := c.target()
	if err != nil {
		return "", err
	}
	return connectClient(def, c.layout(), t)
}

func (c *hubClients) Disconnect(id string) (string, error) {
	def := lookupClient(id)
	if def == nil {
		return "", fmt.Errorf("no client %q (the clients: %s)", id, clientIDs())
	}
	return disconnectClient(def, c.layout())
}
