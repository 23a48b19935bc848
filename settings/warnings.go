package settings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// The Go types whose JSON keys the hints compare with.
var (
	reflectSettings = reflect.TypeFor[Settings]()
	reflectServer   = reflect.TypeFor[Server]()
)

// warnings finds what in a file stops nothing by itself but surely does not
// do what the user meant: a key given twice (encoding/json, like
// JavaScript's JSON.parse, which MCPHub uses, keeps the last one), and keys
// nobody reads where another one was meant — the other programs' names for
// mcpServers and for a server's fields. Unknown keys in general are no
// mistake: MCPHub and its users keep their own, and mcptray keeps them too.
func warnings(path string, data []byte, pos positions) []*Error {
	var out []*Error
	warn := func(server string, off int, err error) {
		e := &Error{Path: path, Server: server, Err: err}
		e.Line, e.Col = lineCol(data, off)
		out = append(out, e)
	}
	at := func(keys ...string) int {
		off, _ := pos.offset(keys...)
		return off
	}
	for _, d := range duplicateKeys(data) {
		first, _ := lineCol(data, d.first)
		switch {
		case len(d.path) == 1 && d.path[0] == "mcpServers":
			warn("", d.last, fmt.Errorf("server %q is defined more than once (also on line %d); only the last one is used", d.key, first))
		case len(d.path) == 2 && d.path[0] == "mcpServers":
			warn(d.path[1], d.last, fmt.Errorf("%q is given more than once (also on line %d); only the last one is used", d.key, first))
		default:
			warn("", d.last, fmt.Errorf("%q is given more than once (also on line %d); only the last one is used", strings.Join(append(d.path, d.key), "."), first))
		}
	}
	root, err := parseNode(data)
	if err != nil || root.obj == nil {
		return out
	}
	for _, k := range root.obj.keys {
		if hint := topLevelHint(k, root.obj.vals[k]); hint != "" {
			warn("", at(k), fmt.Errorf("%s", hint))
		}
	}
	servers := root.obj.vals["mcpServers"]
	if servers == nil || servers.obj == nil {
		return out
	}
	for _, name := range servers.obj.keys {
		srv := servers.obj.vals[name]
		if srv.obj == nil {
			continue
		}
		if n := normalKey(name); (n == "mcpservers" || n == "servers") && holdsServers(srv) {
			warn("", at("mcpServers", name), fmt.Errorf("%q inside \"mcpServers\" is read as one server: move the servers in it up one level", name))
			continue
		}
		for _, k := range srv.obj.keys {
			if hint := serverKeyHint(k); hint != "" {
				warn(name, at("mcpServers", name, k), fmt.Errorf("%s", hint))
			}
		}
	}
	return out
}

// normalKey is a key in lower case without '_' and '-', to compare the
// spellings of one name.
func normalKey(k string) string {
	return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(k))
}

// topLevelHint says what a top-level key was meant to be, or "".
func topLevelHint(key string, v *node) string {
	n := normalKey(key)
	switch {
	case key == "mcpServers":
		return ""
	case n == "mcpservers", n == "servers", n == "contextservers":
		return fmt.Sprintf("%q is not read: did you mean \"mcpServers\"?", key)
	case n == "mcp" && v.obj != nil && v.obj.vals["servers"] != nil:
		return fmt.Sprintf("%q is not read (VS Code keeps its servers in \"mcp\": {\"servers\": ...}): did you mean \"mcpServers\"?", key)
	}
	for _, sys := range []string{"nameSeparator", "routing", "install", "secretStore"} {
		if n == normalKey(sys) {
			return fmt.Sprintf("%q is not read at the top level: did you mean systemConfig.%s?", key, sys)
		}
	}
	for known := range jsonKeys(reflectSettings) {
		if n == normalKey(known) && key != known {
			return fmt.Sprintf("%q is not read: did you mean %q? (names are case-sensitive)", key, known)
		}
	}
	if looksLikeServer(v) {
		return fmt.Sprintf("%q looks like a server but is not read: move it into \"mcpServers\"", key)
	}
	return ""
}

// serverKeyHints are the other programs' names of a server's fields
// (Windsurf's serverUrl, Gemini CLI's httpUrl, Cline's transportType,
// Claude's disabled), by normalKey.
var serverKeyHints = map[string]string{
	"serverurl": "url", "httpurl": "url", "uri": "url", "endpoint": "url", "baseurl": "url",
	"cmd": "command", "executable": "command", "program": "command",
	"arguments": "args", "argv": "args",
	"environment": "env", "envs": "env", "envvars": "env", "environmentvariables": "env",
	"header": "headers", "httpheaders": "headers",
	"transport": "type", "transporttype": "type",
	"workingdirectory": "cwd", "workingdir": "cwd", "dir": "cwd",
}

// serverKeyHint says what a key of a server entry was meant to be, or "".
func serverKeyHint(key string) string {
	known := jsonKeys(reflectServer)
	if known[key] {
		return ""
	}
	n := normalKey(key)
	switch n {
	case "disabled":
		return fmt.Sprintf("%q is not read: write \"enabled\": false to turn the server off", key)
	case "timeout":
		return fmt.Sprintf("%q is not read: did you mean \"options\": {\"timeout\": MILLISECONDS}?", key)
	}
	if want, ok := serverKeyHints[n]; ok {
		return fmt.Sprintf("%q is not read: did you mean %q?", key, want)
	}
	for k := range known {
		if n == normalKey(k) {
			return fmt.Sprintf("%q is not read: did you mean %q? (names are case-sensitive)", key, k)
		}
	}
	return ""
}

// looksLikeServer reports whether a value is an object with a command or
// a url.
func looksLikeServer(v *node) bool {
	if v == nil || v.obj == nil {
		return false
	}
	return v.obj.vals["command"] != nil || v.obj.vals["url"] != nil
}

// holdsServers reports whether an object's values look like servers.
func holdsServers(v *node) bool {
	return slices.ContainsFunc(v.obj.keys, func(k string) bool { return looksLikeServer(v.obj.vals[k]) })
}

// dupKey is a key given twice in one object.
type dupKey struct {
	path        []string // the object's keys from the top
	key         string
	first, last int // offsets of the values
}

// duplicateKeys finds keys given more than once in one object, down to a
// server's fields.
func duplicateKeys(data []byte) []dupKey {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []dupKey
	var walk func(path []string) error
	walk = func(path []string) error {
		seen := map[string]int{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			off := skipToValue(data, int(dec.InputOffset()))
			if first, ok := seen[key]; ok {
				out = append(out, dupKey{path: slices.Clone(path), key: key, first: first, last: off})
			} else {
				seen[key] = off
			}
			if len(path) >= 2 {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return err
				}
				continue
			}
			tok, err = dec.Token()
			if err != nil {
				return err
			}
			switch tok {
			case json.Delim('{'):
				if err := walk(append(path, key)); err != nil {
					return err
				}
				if _, err := dec.Token(); err != nil {
					return err
				}
			case json.Delim('['):
				for dec.More() {
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
				}
				if _, err := dec.Token(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if tok, err := dec.Token(); err == nil && tok == json.Delim('{') {
		_ = walk(nil) // what was found before a problem still counts
	}
	return out
}
