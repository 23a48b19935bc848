// Package settings reads, validates, watches and writes mcp_settings.json,
// the settings file mcptray shares with MCPHub.
//
// The file stays MCPHub's: fields mcptray does not know are kept, and a save
// changes only what the program changed, so a diff of the file shows just
// that. Every change goes through [Store.Modify], which re-reads the file
// first so an edit the user made in the meantime is never lost, and writes
// atomically (temporary file in the same folder, fsync, rename) with mode
// 0600 in a 0700 folder.
package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Server types. TypeHTTP is accepted as another name of TypeStreamableHTTP.
const (
	TypeStdio          = "stdio"
	TypeSSE            = "sse"
	TypeStreamableHTTP = "streamable-http"
	TypeHTTP           = "http"
	// TypeOpenAPI is MCPHub's OpenAPI bridge, which mcptray does not run:
	// such a server loads and round-trips, and shows an error state.
	TypeOpenAPI = "openapi"
)

// DefaultSeparator joins a server's name and a tool's name, as in MCPHub.
const DefaultSeparator = "-"

// Empty is what a new settings file holds.
const Empty = "{\n  \"mcpServers\": {}\n}\n"

// validName matches what MCP allows in a tool name (revision 2025-11-25,
// "Tool names": ASCII letters, digits, '_', '-' and '.').
var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Kind returns the server's transport: stdio, sse or streamable-http. A
// missing type means stdio when there is a command and streamable-http when
// there is a URL. An entry that could not be read whole (a field of the
// wrong type) has none: what of it could be read is not what the user
// meant (a command without its args, "enabled": "no" read as enabled), so
// nothing connects it.
func (s *Server) Kind() string {
	if s.raw != nil || len(s.decodeErrs) > 0 {
		return ""
	}
	return s.kind()
}

// kind is Kind from the fields that could be read.
func (s *Server) kind() string {
	switch s.Type {
	case "":
		if s.Command != "" {
			return TypeStdio
		}
		if s.URL != "" {
			return TypeStreamableHTTP
		}
		return ""
	case TypeHTTP:
		return TypeStreamableHTTP
	}
	return s.Type
}

// ConnectionKey is what of a server's settings its connection depends on:
// two settings with the same key share a connection, so an edit to anything
// else (per-tool overrides, the call timeout, the metadata mcptray mirrors
// into the oauth block) reconnects nothing.
func (s *Server) ConnectionKey() string {
	k := struct {
		Kind, Command string
		Args          []string
		Env           map[string]string
		Cwd, URL      string
		Headers       map[string]string
		Enabled       bool
		OAuth         *OAuthConfig
	}{s.Kind(), s.Command, s.Args, s.Env, s.Cwd, s.URL, s.Headers, s.IsEnabled(), nil}
	// A block with nothing configured is no block: the first sign-in of a
	// server configured by URL alone writes one with the mirrored facts
	// only, and must not restart the server (issue 9: the restart lost the
	// sign-in's trace).
	if s.OAuth != nil && !reflect.ValueOf(s.OAuth.OAuthConfig).IsZero() {
		k.OAuth = &s.OAuth.OAuthConfig
	}
	b, _ := json.Marshal(k) // maps marshal in key order
	return string(b)
}

// IsEnabled reports whether the server is enabled; a missing flag means yes.
func (s *Server) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// ToolEnabled reports whether the per-tool overrides leave tool enabled.
func (s *Server) ToolEnabled(tool string) bool { return itemEnabled(s.Tools, tool) }

// PromptEnabled reports whether the per-prompt overrides leave prompt enabled.
func (s *Server) PromptEnabled(prompt string) bool { return itemEnabled(s.Prompts, prompt) }

// ResourceEnabled reports whether the per-resource overrides leave the
// resource with this URI enabled.
func (s *Server) ResourceEnabled(uri string) bool { return itemEnabled(s.Resources, uri) }

func itemEnabled(m map[string]*ItemOverride, name string) bool {
	o := m[name]
	return o == nil || o.Enabled == nil || *o.Enabled
}

// ServerNames returns the names of the servers in the order of the file,
// servers added since last in name order.
func (s *Settings) ServerNames() []string {
	names := make([]string, 0, len(s.Servers))
	seen := map[string]bool{}
	for _, n := range s.order {
		if _, ok := s.Servers[n]; ok && !seen[n] {
			names = append(names, n)
			seen[n] = true
		}
	}
	for _, n := range slices.Sorted(maps.Keys(s.Servers)) {
		if !seen[n] {
			names = append(names, n)
		}
	}
	return names
}

// Separator returns systemConfig.nameSeparator, or "-".
func (s *Settings) Separator() string {
	if s.System != nil && s.System.NameSeparator != nil && *s.System.NameSeparator != "" {
		return *s.System.NameSeparator
	}
	return DefaultSeparator
}

// BaseURL returns systemConfig.install.baseUrl, or "".
func (s *Settings) BaseURL() string {
	if s.System != nil && s.System.Install != nil {
		return strings.TrimRight(s.System.Install.BaseURL, "/")
	}
	return ""
}

// SecretStore returns systemConfig.secretStore: auto (the default), keychain
// or file.
func (s *Settings) SecretStore() string {
	if s.System != nil && s.System.SecretStore != "" {
		return s.System.SecretStore
	}
	return "auto"
}

// GlobalRouteEnabled reports whether /mcp and /sse serve every server
// (systemConfig.routing.enableGlobalRoute, default true).
func (s *Settings) GlobalRouteEnabled() bool {
	return s.System == nil || s.System.Routing == nil || s.System.Routing.EnableGlobalRoute == nil || *s.System.Routing.EnableGlobalRoute
}

// GroupNameRouteEnabled reports whether a group can be addressed by its name
// as well as its id (systemConfig.routing.enableGroupNameRoute, default true).
func (s *Settings) GroupNameRouteEnabled() bool {
	return s.System == nil || s.System.Routing == nil || s.System.Routing.EnableGroupNameRoute == nil || *s.System.Routing.EnableGroupNameRoute
}

// ActiveBearerKeys returns the enabled bearer keys, including MCPHub's legacy
// single key (routing.enableBearerAuth with routing.bearerAuthKey).
func (s *Settings) ActiveBearerKeys() []*BearerKey {
	var keys []*BearerKey
	for _, k := range s.BearerKeys {
		if k != nil && k.Token != "" && (k.Enabled == nil || *k.Enabled) {
			keys = append(keys, k)
		}
	}
	if r := s.routing(); r != nil && r.EnableBearerAuth != nil && *r.EnableBearerAuth && r.BearerAuthKey != "" {
		keys = append(keys, &BearerKey{ID: "legacy", Name: "routing.bearerAuthKey", Token: r.BearerAuthKey, AccessType: "all"})
	}
	return keys
}

func (s *Settings) routing() *Routing {
	if s.System == nil {
		return nil
	}
	return s.System.Routing
}

// FindGroup returns the group with this id, or with this name when group
// names are routable.
func (s *Settings) FindGroup(key string) *Group {
	for _, g := range s.Groups {
		if g != nil && g.ID != "" && g.ID == key {
			return g
		}
	}
	if s.GroupNameRouteEnabled() {
		for _, g := range s.Groups {
			if g != nil && g.Name == key {
				return g
			}
		}
	}
	return nil
}

// CheckServerName reports whether name can prefix MCP tool names with sep.
func CheckServerName(name, sep string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("server name %q cannot prefix MCP tool names: use only letters, digits, '_', '-' and '.'", name)
	}
	if len(name)+len(sep) >= 128 {
		return fmt.Errorf("server name %q is too long to prefix MCP tool names (128 characters at most in all)", name)
	}
	return nil
}

// checkURL accepts absolute http and https URLs.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want an absolute http or https URL", raw)
	}
	return nil
}

// Error is a problem in the settings file, with where it is.
type Error struct {
	Path      string
	Line, Col int    // 1-based; 0 when unknown
	Server    string // the server the problem is in, if any
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Server != "" {
		fmt.Fprintf(&b, "server %q: ", e.Server)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Brief is the error for a person: the file's name without its folder,
// and the line ("mcp_settings.json line 5: server "notes": ...").
func (e *Error) Brief() string {
	var b strings.Builder
	b.WriteString(filepath.Base(e.Path))
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	b.WriteString(": ")
	if e.Server != "" {
		fmt.Fprintf(&b, "server %q: ", e.Server)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Errors is several problems of one file, in the order of the file.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap gives errors.Is and errors.As each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// List returns the problems of err, an *Error or Errors (or an error
// wrapping one), in the order of the file; nil for nil.
func List(err error) []*Error {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

// oneOrMany is nil, the one problem, or all of them in the order of the file.
func oneOrMany(es []*Error) error {
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	}
	sorted := slices.Clone(es)
	slices.SortStableFunc(sorted, func(a, b *Error) int {
		if a.Line == 0 || b.Line == 0 {
			return cmpBool(a.Line == 0, b.Line == 0)
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return Errors(sorted)
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// syntaxError turns a JSON syntax error into an *Error with its position.
func syntaxError(path string, data []byte, err error) error {
	e := &Error{Path: path, Err: err}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		off := int(syn.Offset)
		if off > 0 && off <= len(data) && syn.Offset < int64(len(data)) {
			off-- // the offset is just past the byte that was wrong
		}
		e.Line, e.Col = lineCol(data, off)
		e.Err = fmt.Errorf("invalid JSON: %s", syn.Error())
	}
	return e
}

func typeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "settings."):
		return "an object"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "float"):
		return "a number"
	}
	return goType
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
