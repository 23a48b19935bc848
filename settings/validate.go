package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Parse decodes and validates a settings file; path names the file in the
// errors, which carry the line and column of each problem.
//
// Only a file the hub cannot act on at all fails: invalid JSON, a file that
// is not an object, a section of the wrong type ("mcpServers": []), and
// settings every server depends on (systemConfig.nameSeparator,
// secretStore, a group without an id or name). The error then lists every
// problem of the file at once: an *Error for one, Errors for several (List
// gives them either way).
//
// A mistake in one server's entry is that server's Problem instead, and the
// file takes effect for the others. Mistakes that change nothing by
// themselves (a server defined twice, "servers" where "mcpServers" belongs)
// are the Warnings of the settings.
func Parse(path string, data []byte) (*Settings, error) {
	var probe any
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, syntaxError(path, data, err)
	}
	if _, ok := probe.(map[string]any); !ok {
		return nil, &Error{Path: path, Line: 1, Col: 1, Err: errors.New("settings must be a JSON object")}
	}
	var s Settings
	var fatal []*Error
	if err := json.Unmarshal(data, &s); err != nil {
		s = Settings{}
		fatal = decodeSections(path, data, &s)
	}
	if s.Servers == nil {
		s.Servers = map[string]*Server{}
	}
	fatal = append(fatal, s.validate(path, data)...)
	if len(fatal) > 0 {
		// Every error of the file at once: the servers' too, though alone
		// they would not stop it.
		return nil, oneOrMany(append(fatal, s.Problems()...))
	}
	return &s, nil
}

// decodeSections decodes the top-level sections one at a time into s,
// leaving out those of the wrong type, and returns an error for each of
// those.
func decodeSections(path string, data []byte, s *Settings) []*Error {
	var top map[string]json.RawMessage
	_ = json.Unmarshal(data, &top) // an object: Parse checked
	pos := positionsOf(data)
	var errs []*Error
	good := map[string]json.RawMessage{}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		var one Settings
		if err := json.Unmarshal(wrapKey(k, top[k]), &one); err != nil {
			e := &Error{Path: path, Err: fieldTypeError(err)}
			var typ *json.UnmarshalTypeError
			keys := []string{k}
			if errors.As(err, &typ) {
				keys = strings.Split(jsonFieldPath(typ.Field), ".")
			} else {
				e.Err = fmt.Errorf("%s: %w", k, err)
			}
			e.Line, e.Col = pos.lookup(data, keys...)
			errs = append(errs, e)
			continue
		}
		good[k] = top[k]
	}
	if rest, err := json.Marshal(good); err == nil {
		_ = json.Unmarshal(rest, s) // each section decoded on its own
	}
	s.order = objectKeys(data, "mcpServers")
	return errs
}

// validate checks the settings: it sets each server's Problem and the
// Warnings, and returns what stops the whole file. data, when not nil, is
// the file the settings were read from, for the positions and the warnings.
func (s *Settings) validate(path string, data []byte) []*Error {
	pos := positionsOf(data)
	at := func(err error, server string, keys ...string) *Error {
		e := &Error{Path: path, Server: server, Err: err}
		e.Line, e.Col = pos.lookup(data, keys...)
		return e
	}
	var fatal []*Error
	sep := DefaultSeparator
	if s.System != nil && s.System.NameSeparator != nil && *s.System.NameSeparator != "" {
		if validName.MatchString(*s.System.NameSeparator) {
			sep = *s.System.NameSeparator
		} else {
			fatal = append(fatal, at(fmt.Errorf("nameSeparator %q would make invalid MCP tool names: use letters, digits, '_', '-' or '.'", *s.System.NameSeparator), "", "systemConfig", "nameSeparator"))
		}
	}
	for _, name := range s.ServerNames() {
		srv := s.Servers[name]
		if srv == nil { // null
			srv = &Server{raw: json.RawMessage("null"), decodeErrs: []fieldError{{err: errNotObject}}}
			s.Servers[name] = srv
		}
		var probs []*Error
		for _, fe := range srv.decodeErrs {
			probs = append(probs, at(fe.err, name, "mcpServers", name, fe.field))
		}
		if srv.raw == nil {
			for _, p := range srv.check(name, sep) {
				probs = append(probs, at(p.err, name, "mcpServers", name, p.field))
			}
		}
		srv.Problem = oneOrMany(probs)
	}
	switch s.SecretStore() {
	case "auto", "keychain", "file":
	default:
		fatal = append(fatal, at(fmt.Errorf("secretStore %q: want auto, keychain or file", s.SecretStore()), "", "systemConfig", "secretStore"))
	}
	fatal = append(fatal, s.checkRouteNames(at)...)
	if data != nil {
		s.Warnings = warnings(path, data, pos)
	}
	return fatal
}

// checkRouteNames makes sure every name under /mcp/{name} means one thing: a
// server's name, a group's id and a group's name never coincide. Were a
// group allowed a server's name, /mcp/{name} would serve the group while a
// bearer key scoped to the server would seem to cover it (issue 11).
func (s *Settings) checkRouteNames(at func(err error, server string, keys ...string) *Error) []*Error {
	var fatal []*Error
	taken := map[string]string{} // route name → what it names, for the message
	for _, name := range s.ServerNames() {
		taken[name] = fmt.Sprintf("server %q", name)
	}
	for i, g := range s.Groups {
		if g == nil || (g.ID == "" && g.Name == "") {
			fatal = append(fatal, at(fmt.Errorf("group %d needs an id or a name", i+1), "", "groups"))
			continue
		}
		what := fmt.Sprintf("group %d", i+1)
		if g.Name != "" {
			what = fmt.Sprintf("group %d (%q)", i+1, g.Name)
		}
		names := []string{g.ID}
		if g.Name != g.ID {
			names = append(names, g.Name) // a group may use one word for both
		}
		for _, name := range names {
			if name == "" {
				continue
			}
			if other, ok := taken[name]; ok {
				fatal = append(fatal, at(fmt.Errorf("%s and %s share the name %q, so /mcp/%s would mean either: rename one of them", other, what, name, name), "", "groups"))
				continue
			}
			taken[name] = what
		}
	}
	return fatal
}

// check returns what is wrong with a server entry that decoded, field by
// field.
func (srv *Server) check(name, sep string) []fieldError {
	var out []fieldError
	if err := CheckServerName(name, sep); err != nil {
		out = append(out, fieldError{err: err})
	}
	switch srv.Type {
	case "", TypeStdio, TypeSSE, TypeStreamableHTTP, TypeHTTP, TypeOpenAPI:
		switch srv.kind() {
		case "":
			out = append(out, fieldError{err: errors.New("server needs a command (stdio) or a url (sse, streamable-http)")})
		case TypeStdio:
			if strings.TrimSpace(srv.Command) == "" {
				out = append(out, fieldError{err: errors.New("stdio server needs a command")})
			}
		case TypeSSE, TypeStreamableHTTP:
			if srv.URL == "" {
				out = append(out, fieldError{err: fmt.Errorf("%s server needs a url", srv.kind())})
			} else if !strings.Contains(srv.URL, "$") {
				if err := checkURL(srv.URL); err != nil {
					out = append(out, fieldError{field: "url", err: err})
				}
			}
		}
	default:
		msg := fmt.Sprintf("unknown type %q (want stdio, sse or streamable-http)", srv.Type)
		if guess := typeGuess(srv.Type); guess != "" {
			msg += fmt.Sprintf(": did you mean %q?", guess)
		}
		out = append(out, fieldError{field: "type", err: errors.New(msg)})
	}
	if srv.Options != nil && srv.Options.Timeout < 0 {
		out = append(out, fieldError{field: "options", err: errors.New("options.timeout must not be negative")})
	}
	return out
}

// typeGuess is the type meant by a misspelt one: "streamableHttp",
// "streamable_http" and "HTTP" mean streamable-http, "SSE" sse.
func typeGuess(t string) string {
	switch normalKey(t) {
	case "streamablehttp", "http", "streamable":
		return TypeStreamableHTTP
	case "sse", "eventsource":
		return TypeSSE
	case "stdio", "local", "command":
		return TypeStdio
	}
	return ""
}

// Problems returns the problems of every server, in the order of the file.
func (s *Settings) Problems() []*Error {
	var out []*Error
	for _, name := range s.ServerNames() {
		if srv := s.Servers[name]; srv != nil {
			out = append(out, List(srv.Problem)...)
		}
	}
	return out
}

// problemsByServer returns the text of each server's problems, to see
// which ones a change brought.
func problemsByServer(s *Settings) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for name, srv := range s.Servers {
		if srv == nil {
			continue
		}
		for _, e := range List(srv.Problem) {
			if out[name] == nil {
				out[name] = map[string]bool{}
			}
			out[name][e.Err.Error()] = true
		}
	}
	return out
}

// newProblem returns a problem the settings have that before did not:
// Modify refuses to write a new mistake, while the mistakes already in the
// file stay, and do not stop changes (turning the server off, say).
func newProblem(before map[string]map[string]bool, after *Settings) error {
	for _, name := range after.ServerNames() {
		for _, e := range List(after.Servers[name].Problem) {
			if !before[name][e.Err.Error()] {
				return e
			}
		}
	}
	return nil
}
