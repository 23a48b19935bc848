package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Settings is the whole of mcp_settings.json. Fields this program does not
// know are kept in Extra of the struct they belong to and written back on
// every save.
type Settings struct {
	Servers    map[string]*Server         `json:"mcpServers"`
	Groups     []*Group                   `json:"groups,omitempty"`
	System     *SystemConfig              `json:"systemConfig,omitempty"`
	BearerKeys []*BearerKey               `json:"bearerKeys,omitempty"`
	Extra      map[string]json.RawMessage `json:"-"`

	// Warnings are the file's mistakes that stop nothing by themselves: a
	// server defined twice, "servers" where "mcpServers" belongs (see
	// Parse). They are the file's, not the program's: Modify leaves them.
	Warnings []*Error `json:"-"`

	// order is the order of the servers in the file, for display.
	order []string
}

// Server is one entry of mcpServers.
type Server struct {
	Type      string                     `json:"type,omitempty"`
	Command   string                     `json:"command,omitempty"`
	Args      []string                   `json:"args,omitzero"`
	Env       map[string]string          `json:"env,omitzero"`
	Cwd       string                     `json:"cwd,omitempty"`
	URL       string                     `json:"url,omitempty"`
	Headers   map[string]string          `json:"headers,omitzero"`
	Enabled   *bool                      `json:"enabled,omitempty"`
	Tools     map[string]*ItemOverride   `json:"tools,omitzero"`
	Prompts   map[string]*ItemOverride   `json:"prompts,omitzero"`
	Resources map[string]*ItemOverride   `json:"resources,omitzero"`
	Options   *RequestOptions            `json:"options,omitempty"`
	OAuth     *OAuth                     `json:"oauth,omitempty"`
	Extra     map[string]json.RawMessage `json:"-"`

	// Problem, when not nil, is what is wrong with this server's entry (an
	// unknown type, a bad URL, a field of the wrong type): an *Error, or
	// Errors when there are several. The hub shows it as the server's
	// error and does not connect it; every other server runs.
	Problem error `json:"-"`

	// raw is an entry that is not an object, and bad the fields of the
	// wrong type: both are written back as they were, so that a save
	// never loses what the user wrote. decodeErrs says what was wrong.
	raw        json.RawMessage
	bad        map[string]json.RawMessage
	decodeErrs []fieldError
}

// fieldError is a field of a server entry that could not be decoded.
type fieldError struct {
	field string // "" for the entry itself
	err   error
}

// ItemOverride is MCPHub's per-tool (or prompt, or resource) override.
type ItemOverride struct {
	Enabled     *bool                      `json:"enabled,omitempty"`
	Description string                     `json:"description,omitempty"`
	Extra       map[string]json.RawMessage `json:"-"`
}

// RequestOptions is MCPHub's per-server request options; Timeout is in
// milliseconds.
type RequestOptions struct {
	Timeout int64                      `json:"timeout,omitempty"`
	Extra   map[string]json.RawMessage `json:"-"`
}

// Group is one of MCPHub's server groups, served at /mcp/{id or name}.
type Group struct {
	ID          string                     `json:"id,omitempty"`
	Name        string                     `json:"name,omitempty"`
	Description string                     `json:"description,omitempty"`
	Servers     []*GroupServer             `json:"servers,omitzero"`
	Extra       map[string]json.RawMessage `json:"-"`
}

// GroupServer is a member of a group: a bare server name, or an object that
// selects some of the server's tools, prompts or resources.
type GroupServer struct {
	Name      string
	Alias     string
	Tools     *Selection
	Prompts   *Selection
	Resources *Selection
	Extra     map[string]json.RawMessage

	// bare records that the file had just the name, to write it back so.
	bare bool
}

// Selection is "all" or a list of names.
type Selection struct {
	All   bool
	Names []string
}

// Allows reports whether name is selected. A nil Selection selects all.
func (s *Selection) Allows(name string) bool {
	return s == nil || s.All || slices.Contains(s.Names, name)
}

// SystemConfig is MCPHub's systemConfig.
type SystemConfig struct {
	Routing       *Routing                   `json:"routing,omitempty"`
	Install       *Install                   `json:"install,omitempty"`
	NameSeparator *string                    `json:"nameSeparator,omitempty"`
	SecretStore   string                     `json:"secretStore,omitempty"`
	Extra         map[string]json.RawMessage `json:"-"`
}

// Routing is systemConfig.routing.
type Routing struct {
	EnableGlobalRoute    *bool                      `json:"enableGlobalRoute,omitempty"`
	EnableGroupNameRoute *bool                      `json:"enableGroupNameRoute,omitempty"`
	EnableBearerAuth     *bool                      `json:"enableBearerAuth,omitempty"`
	BearerAuthKey        string                     `json:"bearerAuthKey,omitempty"`
	Extra                map[string]json.RawMessage `json:"-"`
}

// Install is systemConfig.install.
type Install struct {
	BaseURL string                     `json:"baseUrl,omitempty"`
	Extra   map[string]json.RawMessage `json:"-"`
}

// BearerKey is one of MCPHub's bearer keys for the local endpoint.
type BearerKey struct {
	ID             string                     `json:"id,omitempty"`
	Name           string                     `json:"name,omitempty"`
	Token          string                     `json:"token,omitempty"`
	Enabled        *bool                      `json:"enabled,omitempty"`
	AccessType     string                     `json:"accessType,omitempty"`
	AllowedGroups  []string                   `json:"allowedGroups,omitzero"`
	AllowedServers []string                   `json:"allowedServers,omitzero"`
	Extra          map[string]json.RawMessage `json:"-"`
}

// The JSON methods below keep fields this program does not know: each type
// decodes its known fields as usual and stashes the other keys in Extra.

func (s *Settings) UnmarshalJSON(data []byte) error {
	type plain Settings
	if err := unmarshalKeepingExtra(data, (*plain)(s), &s.Extra); err != nil {
		return err
	}
	s.order = objectKeys(data, "mcpServers")
	return nil
}

func (s Settings) MarshalJSON() ([]byte, error) {
	type plain Settings
	if s.Servers == nil {
		s.Servers = map[string]*Server{}
	}
	return marshalWithExtra((*plain)(&s), s.Extra)
}

// UnmarshalJSON never fails: an entry that is not an object, or has fields
// of the wrong type, becomes a server with a problem (see validate), so that
// one mistake stops one server, not the file.
func (s *Server) UnmarshalJSON(data []byte) error {
	type plain Server
	err := unmarshalKeepingExtra(data, (*plain)(s), &s.Extra)
	if err == nil {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		*s = Server{raw: bytes.Clone(bytes.TrimSpace(data)), decodeErrs: []fieldError{{err: errNotObject}}}
		return nil
	}
	// Decode each known field on its own to find every one that is wrong.
	*s = Server{}
	known := jsonKeys(reflect.TypeFor[plain]())
	bad := map[string]json.RawMessage{}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if !known[k] {
			continue
		}
		var one plain
		if err := json.Unmarshal(wrapKey(k, fields[k]), &one); err != nil {
			bad[k] = fields[k]
			s.decodeErrs = append(s.decodeErrs, fieldError{field: k, err: fieldTypeError(err)})
		}
	}
	for k := range bad {
		delete(fields, k)
	}
	rest, err := json.Marshal(fields)
	if err == nil {
		err = unmarshalKeepingExtra(rest, (*plain)(s), &s.Extra)
	}
	if err != nil { // cannot happen: each field decoded on its own
		s.decodeErrs = append(s.decodeErrs, fieldError{err: err})
	}
	s.bad = bad
	return nil
}

func (s Server) MarshalJSON() ([]byte, error) {
	if s.raw != nil {
		return s.raw, nil
	}
	type plain Server
	b, err := marshalWithExtra((*plain)(&s), s.Extra)
	if err != nil || len(s.bad) == 0 {
		return b, err
	}
	// Put back the fields of the wrong type, unless the program has set them
	// since.
	var set map[string]json.RawMessage
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	back := map[string]json.RawMessage{}
	for k, v := range s.bad {
		if _, ok := set[k]; !ok {
			back[k] = v
		}
	}
	return appendKeys(b, back, nil), nil
}

// errNotObject is the problem of a server entry that is not an object.
var errNotObject = errors.New("server must be an object")

// wrapKey makes the object {key: value}.
func wrapKey(key string, value json.RawMessage) []byte {
	b := append([]byte{'{'}, encodeString(key)...)
	b = append(b, ':')
	b = append(b, value...)
	return append(b, '}')
}

// fieldTypeError says in the file's terms what is wrong with a value:
// "args: got JSON string, want an array".
func fieldTypeError(err error) error {
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) {
		return err
	}
	field := jsonFieldPath(typ.Field)
	if field == "" {
		return fmt.Errorf("got JSON %s, want %s", typ.Value, typeName(typ.Type.String()))
	}
	return fmt.Errorf("%s: got JSON %s, want %s", field, typ.Value, typeName(typ.Type.String()))
}

// jsonFieldPath drops the names of embedded Go structs from an
// UnmarshalTypeError's field path ("oauth.OAuthConfig.scopes"): the file's
// keys start with a lower-case letter.
func jsonFieldPath(field string) string {
	var keep []string
	for part := range strings.SplitSeq(field, ".") {
		if part != "" && (part[0] < 'A' || part[0] > 'Z') {
			keep = append(keep, part)
		}
	}
	return strings.Join(keep, ".")
}

func (o *ItemOverride) UnmarshalJSON(data []byte) error {
	type plain ItemOverride
	return unmarshalKeepingExtra(data, (*plain)(o), &o.Extra)
}

func (o ItemOverride) MarshalJSON() ([]byte, error) {
	type plain ItemOverride
	return marshalWithExtra((*plain)(&o), o.Extra)
}

func (o *RequestOptions) UnmarshalJSON(data []byte) error {
	type plain RequestOptions
	return unmarshalKeepingExtra(data, (*plain)(o), &o.Extra)
}

func (o RequestOptions) MarshalJSON() ([]byte, error) {
	type plain RequestOptions
	return marshalWithExtra((*plain)(&o), o.Extra)
}

func (g *Group) UnmarshalJSON(data []byte) error {
	type plain Group
	return unmarshalKeepingExtra(data, (*plain)(g), &g.Extra)
}

func (g Group) MarshalJSON() ([]byte, error) {
	type plain Group
	return marshalWithExtra((*plain)(&g), g.Extra)
}

// groupServerJSON is the object form of a GroupServer.
type groupServerJSON struct {
	Name      string                     `json:"name"`
	Alias     string                     `json:"alias,omitempty"`
	Tools     *Selection                 `json:"tools,omitempty"`
	Prompts   *Selection                 `json:"prompts,omitempty"`
	Resources *Selection                 `json:"resources,omitempty"`
	Extra     map[string]json.RawMessage `json:"-"`
}

func (g *GroupServer) UnmarshalJSON(data []byte) error {
	if s, ok := stringValue(data); ok {
		*g = GroupServer{Name: s, bare: true}
		return nil
	}
	var v groupServerJSON
	if err := unmarshalKeepingExtra(data, &v, &v.Extra); err != nil {
		return err
	}
	*g = GroupServer{Name: v.Name, Alias: v.Alias, Tools: v.Tools, Prompts: v.Prompts, Resources: v.Resources, Extra: v.Extra}
	return nil
}

func (g GroupServer) MarshalJSON() ([]byte, error) {
	if g.bare && g.Alias == "" && g.Tools == nil && g.Prompts == nil && g.Resources == nil && len(g.Extra) == 0 {
		return marshalNoEscape(g.Name)
	}
	v := groupServerJSON{Name: g.Name, Alias: g.Alias, Tools: g.Tools, Prompts: g.Prompts, Resources: g.Resources}
	return marshalWithExtra(&v, g.Extra)
}

func (s *Selection) UnmarshalJSON(data []byte) error {
	if str, ok := stringValue(data); ok {
		*s = Selection{All: str == "all"}
		return nil
	}
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return err
	}
	*s = Selection{Names: names}
	return nil
}

func (s Selection) MarshalJSON() ([]byte, error) {
	if s.All {
		return []byte(`"all"`), nil
	}
	if s.Names == nil {
		return []byte("[]"), nil
	}
	return marshalNoEscape(s.Names)
}

func (c *SystemConfig) UnmarshalJSON(data []byte) error {
	type plain SystemConfig
	return unmarshalKeepingExtra(data, (*plain)(c), &c.Extra)
}

func (c SystemConfig) MarshalJSON() ([]byte, error) {
	type plain SystemConfig
	return marshalWithExtra((*plain)(&c), c.Extra)
}

func (r *Routing) UnmarshalJSON(data []byte) error {
	type plain Routing
	return unmarshalKeepingExtra(data, (*plain)(r), &r.Extra)
}

func (r Routing) MarshalJSON() ([]byte, error) {
	type plain Routing
	return marshalWithExtra((*plain)(&r), r.Extra)
}

func (i *Install) UnmarshalJSON(data []byte) error {
	type plain Install
	return unmarshalKeepingExtra(data, (*plain)(i), &i.Extra)
}

func (i Install) MarshalJSON() ([]byte, error) {
	type plain Install
	return marshalWithExtra((*plain)(&i), i.Extra)
}

func (k *BearerKey) UnmarshalJSON(data []byte) error {
	type plain BearerKey
	return unmarshalKeepingExtra(data, (*plain)(k), &k.Extra)
}

func (k BearerKey) MarshalJSON() ([]byte, error) {
	type plain BearerKey
	return marshalWithExtra((*plain)(&k), k.Extra)
}

// unmarshalKeepingExtra decodes data into v, a pointer to a struct, and
// stores the object's keys that v has no field for in *extra.
func unmarshalKeepingExtra(data []byte, v any, extra *map[string]json.RawMessage) error {
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	known := jsonKeys(reflect.TypeOf(v).Elem())
	for k := range all {
		if known[k] {
			delete(all, k)
		}
	}
	if len(all) == 0 {
		all = nil
	}
	*extra = all
	return nil
}

// marshalWithExtra encodes v, a pointer to a struct, and adds the keys of
// extra that v does not set itself.
func marshalWithExtra(v any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := marshalNoEscape(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	return appendKeys(b, extra, jsonKeys(reflect.TypeOf(v).Elem())), nil
}

// appendKeys adds the keys of extra, but those in skip, to the encoded
// object b.
func appendKeys(b []byte, extra map[string]json.RawMessage, skip map[string]bool) []byte {
	if len(extra) == 0 {
		return b
	}
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1]) // without the closing brace
	first := len(b) == 2    // "{}"
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if skip[k] {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(encodeString(k))
		buf.WriteByte(':')
		buf.Write(extra[k])
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// marshalNoEscape is json.Marshal without HTML escapes, as JavaScript writes.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

var jsonKeysCache sync.Map // reflect.Type → map[string]bool

// jsonKeys returns the JSON names of t's fields.
func jsonKeys(t reflect.Type) map[string]bool {
	if v, ok := jsonKeysCache.Load(t); ok {
		return v.(map[string]bool)
	}
	keys := map[string]bool{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			// An embedded struct's fields are the object's own, as
			// encoding/json sees them (the parts of an oauth block).
			maps.Copy(keys, jsonKeys(f.Type))
			continue
		}
		if name == "" {
			name = f.Name
		}
		keys[name] = true
	}
	jsonKeysCache.Store(t, keys)
	return keys
}

func stringValue(data []byte) (string, bool) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return "", false
	}
	return s, true
}

// objectKeys returns the keys, in order, of the object at key in the
// top-level object data.
func objectKeys(data []byte, key string) []string {
	root, err := parseNode(data)
	if err != nil || root.obj == nil {
		return nil
	}
	v := root.obj.vals[key]
	if v == nil || v.obj == nil {
		return nil
	}
	return slices.Clone(v.obj.keys)
}
