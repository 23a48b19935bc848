package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/yosida95/uritemplate/v3"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
	"github.com/mcptray/mcptray/settings"
)

// maxToolName is the longest tool name MCP allows (revision 2025-11-25).
const maxToolName = 128

// The kinds of items servers offer, as indexes.
const (
	kindTools = iota
	kindPrompts
	kindResources
	kindTemplates
	numKinds
)

// rawItem is one tool, prompt, resource or resource template as its server
// wrote it, with what the hub reads of it.
type rawItem struct {
	raw     json.RawMessage
	key     string // the name (tools, prompts), URI (resources) or URI template (templates)
	name    string // its name (resources and templates have one besides their URI)
	headers []paramHeader
	tmpl    *uritemplate.Template
}

// paramHeader is a tool argument that 2026-07-28 mirrors into a request
// header, Mcp-Param-{name} (its inputSchema's x-mcp-header).
type paramHeader struct {
	path   []string // the properties leading to the argument
	header string
}

// view is one MCP endpoint: every server (/mcp and /sse), one server, or one
// of MCPHub's groups (/mcp/{name} and /sse/{name}). A client sees exactly
// its view's items, and a change reaches only the clients whose view it
// changes.
type view struct {
	h    *Hub
	key  string // "" for every server; "server/NAME" or "group/ID"
	bare bool   // one server's own names, unprefixed (/mcp/{server})

	cat atomic.Pointer[catalog] // what it offers now

	// mu guards listeners and subs: who hears of changes.
	mu        sync.Mutex
	listeners map[*listener]struct{}           // 2026-07-28 subscriptions/listen streams
	subs      map[string]map[*downSession]bool // resources/subscribe, by URI
}

// catalog is what a view offers, replaced whole on every change.
type catalog struct {
	routes    [numKinds]map[string]*route // exposed name, or URI (template) → route
	templates []*route                    // in order, for URIs no resource has
	items     [numKinds][]byte            // the list results' items, encoded
	hints     [numKinds]cacheHint
	members   []*upstream
}

// route binds an exposed item to its server and its own name there.
type route struct {
	up      *upstream
	name    string // the item's name or URI at the server
	headers []paramHeader
	tmpl    *uritemplate.Template
}

// member is a server as a view shows it.
type member struct {
	up     *upstream
	prefix string                // before the separator: the server's name, or its alias in a group
	sel    *settings.GroupServer // the group's selection, or nil for everything
}

func (h *Hub) newView(key string) *view {
	v := &view{h: h, key: key, bare: strings.HasPrefix(key, "server/")}
	v.cat.Store(&catalog{})
	return v
}

// members returns the servers a view shows, in the settings' order.
func (h *Hub) members(st *settings.Settings, key string) []member {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []member
	switch {
	case key == "":
		for _, name := range h.order {
			out = append(out, member{up: h.upstreams[name], prefix: name})
		}
	case strings.HasPrefix(key, "server/"):
		name := strings.TrimPrefix(key, "server/")
		if u := h.upstreams[name]; u != nil {
			out = append(out, member{up: u, prefix: name})
		}
	case strings.HasPrefix(key, "group/"):
		g := groupByKey(st, strings.TrimPrefix(key, "group/"))
		if g == nil {
			return nil
		}
		for _, gs := range g.Servers {
			if gs == nil || h.upstreams[gs.Name] == nil {
				continue
			}
			prefix := gs.Name
			if gs.Alias != "" {
				prefix = gs.Alias
			}
			out = append(out, member{up: h.upstreams[gs.Name], prefix: prefix, sel: gs})
		}
	}
	return out
}

// groupKey is how a group is known to the hub: its id, else its name.
func groupKey(g *settings.Group) string {
	if g.ID != "" {
		return g.ID
	}
	return g.Name
}

func groupByKey(st *settings.Settings, key string) *settings.Group {
	for _, g := range st.Groups {
		if g != nil && groupKey(g) == key {
			return g
		}
	}
	return nil
}

// rebuildViews makes every view offer what its servers offer now, and tells
// the clients of each view whose lists changed. Only the hub's managing
// goroutine calls it.
func (h *Hub) rebuildViews() {
	st := h.store.Current()
	sep := st.Separator()
	h.mu.Lock()
	views := slices.Collect(maps.Values(h.views))
	h.mu.Unlock()
	var problems []string
	shadow := map[*upstream][]string{}
	for _, v := range views {
		ms := h.members(st, v.key)
		old := v.cat.Load()
		next := &catalog{}
		for _, m := range ms {
			next.members = append(next.members, m.up)
		}
		for k := range numKinds {
			collect(next, k, ms, sep, v.bare, &problems, shadow)
		}
		v.cat.Store(next)
		for k := range numKinds {
			if !bytes.Equal(old.items[k], next.items[k]) {
				v.listChanged(k)
			}
		}
	}
	h.mu.Lock()
	ups := slices.Collect(maps.Values(h.upstreams))
	h.mu.Unlock()
	for _, u := range ups {
		list := shadow[u]
		slices.Sort(list)
		u.setHidden(slices.Compact(list))
	}
	slices.Sort(problems)
	problems = slices.Compact(problems)
	if text := strings.Join(problems, "\n"); text != h.lastProblems {
		h.lastProblems = text
		for _, p := range problems {
			h.log.Warn(p)
		}
	}
}

// kinds describe each kind for collect, the one loop that builds what a
// view offers of it.
var kinds = [numKinds]struct {
	what string // in problems
	// items are a server's items of this kind.
	items func(*lists) []rawItem
	// prefixed: offered as prefix + separator + key (tools, prompts);
	// otherwise under their key, a URI that results refer to and so cannot
	// be renamed (resources still get a prefixed display name).
	prefixed bool
	// enabled applies the server's overrides; selected a group's selection;
	// override is the description the settings give.
	enabled  func(cfg *settings.Server, key string) bool
	selected func(gs *settings.GroupServer, key string) bool
	override func(cfg *settings.Server, key string) string
}{
	kindTools: {
		what: "tool", items: func(l *lists) []rawItem { return l.items[kindTools] }, prefixed: true,
		enabled:  (*settings.Server).ToolEnabled,
		selected: func(gs *settings.GroupServer, key string) bool { return gs.Tools.Allows(key) },
		override: func(cfg *settings.Server, key string) string { return override(cfg.Tools, key) },
	},
	kindPrompts: {
		what: "prompt", items: func(l *lists) []rawItem { return l.items[kindPrompts] }, prefixed: true,
		enabled:  (*settings.Server).PromptEnabled,
		selected: func(gs *settings.GroupServer, key string) bool { return gs.Prompts.Allows(key) },
		override: func(cfg *settings.Server, key string) string { return override(cfg.Prompts, key) },
	},
	kindResources: {
		what: "resource", items: func(l *lists) []rawItem { return l.items[kindResources] },
		enabled:  (*settings.Server).ResourceEnabled,
		selected: func(gs *settings.GroupServer, key string) bool { return gs.Resources.Allows(key) },
		override: func(cfg *settings.Server, key string) string { return override(cfg.Resources, key) },
	},
	// Templates are offered whole: overrides and group selections name
	// resources by URI, which a template is not.
	kindTemplates: {
		what: "resource template", items: func(l *lists) []rawItem { return l.items[kindTemplates] },
		enabled:  func(*settings.Server, string) bool { return true },
		selected: func(*settings.GroupServer, string) bool { return true },
		override: func(*settings.Server, string) string { return "" },
	},
}

func override(m map[string]*settings.ItemOverride, key string) string {
	if o := m[key]; o != nil {
		return o.Description
	}
	return ""
}

// collect builds what a view whose members are ms offers of kind k. One
// rule holds for every kind: an item whose exposed name is too long for
// MCP, or that another member already offers under the same name or URI,
// is hidden, and the problem is reported; the first member in the settings'
// order wins. The server that lost stays reachable at /mcp/{server}.
func collect(c *catalog, k int, ms []member, sep string, bare bool, problems *[]string, shadow map[*upstream][]string) {
	kd := &kinds[k]
	routes := map[string]*route{}
	var items [][]byte
	hint := cacheHint{}
	for _, m := range ms {
		cfg := m.up.cfg.Load()
		l := m.up.lists.Load()
		mh := l.hints[k]
		if !mh.given {
			mh = strictHint // a server that gives none (a legacy one) vouches for nothing
		}
		hint = hint.join(mh)
		for _, it := range kd.items(l) {
			if !kd.enabled(cfg, it.key) || (m.sel != nil && !kd.selected(m.sel, it.key)) {
				continue
			}
			name := it.key
			if kd.prefixed && !bare {
				name = m.prefix + sep + it.key
				if len(name) > maxToolName {
					*problems = append(*problems, kd.what+" "+name+" is hidden: MCP names have 128 characters at most")
					continue
				}
			}
			if prev, dup := routes[name]; dup {
				*problems = append(*problems, kd.what+" "+name+" of "+m.up.name+" is hidden: "+prev.up.name+" offers one by the same name; reach it at /mcp/"+m.up.name)
				shadow[m.up] = append(shadow[m.up], kd.what+" "+name+" (offered by "+prev.up.name+")")
				continue
			}
			edits := []rawjson.Edit{}
			switch {
			case kd.prefixed && !bare:
				edits = append(edits, rawjson.Edit{Key: "name", Value: rawjson.Quote(name)})
			case !kd.prefixed && !bare && it.name != "":
				edits = append(edits, rawjson.Edit{Key: "name", Value: rawjson.Quote(m.prefix + sep + it.name)})
			}
			if desc := kd.override(cfg, it.key); desc != "" {
				edits = append(edits, rawjson.Edit{Key: "description", Value: rawjson.Quote(desc)})
			}
			raw := []byte(it.raw)
			if len(edits) > 0 {
				raw = rawjson.Apply(raw, edits...)
			}
			r := &route{up: m.up, name: it.key, headers: it.headers, tmpl: it.tmpl}
			routes[name] = r
			items = append(items, raw)
			if k == kindTemplates {
				c.templates = append(c.templates, r)
			}
		}
	}
	c.routes[k] = routes
	c.items[k] = append(append([]byte("["), bytes.Join(items, []byte(","))...), ']')
	c.hints[k] = hint
}

// strictHint is the caching hint of a list nobody vouches for: fresh for no
// time, private.
var strictHint = func() cacheHint {
	zero := int64(0)
	return cacheHint{given: true, ttl: &zero, scope: "private"}
}()

// decodeItems reads a server's list items of kind k, skipping (and
// reporting) those it describes badly.
func decodeItems(k int, raws []json.RawMessage, bad func(what string, err error)) []rawItem {
	out := make([]rawItem, 0, len(raws))
	for _, raw := range raws {
		it, err := decodeItem(k, raw)
		if err != nil {
			bad(kinds[k].what, err)
			continue
		}
		out = append(out, it)
	}
	return out
}

func decodeItem(k int, raw json.RawMessage) (rawItem, error) {
	it := rawItem{raw: raw}
	if !rawjson.Each(raw, func(rawjson.Member) bool { return true }) {
		return it, errors.New("not an object")
	}
	it.name, _ = rawjson.String(raw, "name")
	switch k {
	case kindTools, kindPrompts:
		if it.name == "" {
			return it, errors.New("no name")
		}
		it.key = it.name
		if k == kindTools {
			schema, _ := rawjson.Get(raw, "inputSchema")
			h, err := paramHeaders(schema)
			if err != nil {
				return it, err
			}
			it.headers = h
		}
	case kindResources:
		it.key, _ = rawjson.String(raw, "uri")
		if it.key == "" {
			return it, errors.New("no uri")
		}
	case kindTemplates:
		it.key, _ = rawjson.String(raw, "uriTemplate")
		t, err := uritemplate.New(it.key)
		if it.key == "" || err != nil {
			return it, errors.New("no valid uriTemplate")
		}
		it.tmpl = t
	}
	return it, nil
}

// paramHeaders reads the x-mcp-header annotations of a tool's input schema
// (2026-07-28, server/tools "x-mcp-header"): each names a header for a
// primitive property; an invalid annotation makes the tool invalid.
func paramHeaders(schema []byte) ([]paramHeader, error) {
	if !bytes.Contains(schema, []byte("x-mcp-header")) {
		return nil, nil
	}
	var out []paramHeader
	seen := map[string]bool{}
	var walk func(s []byte, path []string) error
	walk = func(s []byte, path []string) error {
		props, _ := rawjson.Get(s, "properties")
		var err error
		rawjson.Each(props, func(m rawjson.Member) bool {
			p := append(slices.Clone(path), m.Name())
			if h, ok := rawjson.String(m.Value, "x-mcp-header"); ok {
				typ, _ := rawjson.String(m.Value, "type")
				switch {
				case h == "" || !validHeaderToken(h):
					err = errors.New("x-mcp-header " + h + " is not a header name")
				case typ != "string" && typ != "integer" && typ != "boolean" && typ != "number":
					err = errors.New("x-mcp-header " + h + " is on a property that is not a string, number or boolean")
				case seen[strings.ToLower(h)]:
					err = errors.New("x-mcp-header " + h + " is given twice")
				}
				if err != nil {
					return false
				}
				seen[strings.ToLower(h)] = true
				out = append(out, paramHeader{path: p, header: h})
			}
			if e := walk(m.Value, p); e != nil {
				err = e
				return false
			}
			return true
		})
		return err
	}
	if err := walk(schema, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// validHeaderToken reports whether s can name a header (RFC 9110 token).
func validHeaderToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// paramValues picks the values of a call's arguments that go into
// Mcp-Param headers.
func paramValues(headers []paramHeader, args []byte) map[string]string {
	if len(headers) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, h := range headers {
		v := args
		ok := true
		for _, p := range h.path {
			v, ok = rawjson.Get(v, p)
			if !ok {
				break
			}
		}
		if !ok || string(v) == "null" {
			continue
		}
		if v[0] == '"' {
			out[h.header] = unquote(v)
		} else {
			out[h.header] = string(v)
		}
	}
	return out
}

// findResource returns the route of a URI: the resource's, or the first
// template's that matches it.
func (c *catalog) findResource(uri string) *route {
	if r := c.routes[kindResources][uri]; r != nil {
		return r
	}
	for _, r := range c.templates {
		if r.tmpl != nil && r.tmpl.Match(uri) != nil {
			return r
		}
	}
	return nil
}
