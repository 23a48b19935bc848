package hub

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcptray/mcptray/settings"
)

// maxToolName is the longest tool name MCP allows (revision 2025-11-25).
const maxToolName = 128

// view is one MCP endpoint: every server (/mcp and /sse), one server, or one
// of MCPHub's groups (/mcp/{name} and /sse/{name}). Each has its own MCP
// server, so each client sees exactly its view's tools, and a change reaches
// only the clients whose view it changes.
type view struct {
	key  string // "" for every server; "server/NAME" or "group/ID"
	mcp  *server.MCPServer
	http *server.StreamableHTTPServer
	sse  *server.SSEServer
	ids  *server.InsecureStatefulSessionIdManager // the streamable sessions

	// For the fast path (fastpath.go).
	calls    atomic.Pointer[map[string]*route] // exposed tool name → route
	inflight sync.Map                          // inflightKey → context.CancelFunc
	touched  sync.Map                          // session id → *atomic.Int64, when mcp-go last saw it

	// What the view offers now; read and written only by rebuildViews.
	tools     map[string]itemSig
	prompts   map[string]itemSig
	resources map[string]itemSig
	templates map[string]itemSig
}

// itemSig identifies what is behind an exposed name: a change of any part
// means the item must be registered again.
type itemSig struct {
	up   *upstream
	def  any // pointer into the upstream's lists
	desc string
}

// member is a server as a view shows it.
type member struct {
	up     *upstream
	prefix string                // before the separator: the server's name, or its alias in a group
	sel    *settings.GroupServer // the group's selection, or nil for everything
}

func (h *Hub) newView(key, ssePath string) *view {
	srv := server.NewMCPServer("mcptray", h.version,
		server.WithToolCapabilities(true),
		server.WithPromptCapabilities(true),
		server.WithResourceCapabilities(false, true),
		server.WithRecovery(),
	)
	v := &view{key: key, mcp: srv, ids: &server.InsecureStatefulSessionIdManager{}}
	v.calls.Store(&map[string]*route{})
	// The hub checks Host and Origin itself, for every route, with the base
	// URL's host allowed too.
	v.http = server.NewStreamableHTTPServer(srv,
		server.WithSessionIdManager(v.ids),
		server.WithDisableLocalhostProtection(true),
		server.WithSessionIdleTTL(sessionTTL),
		server.WithHeartbeatInterval(25*time.Second),
		server.WithStreamableHTTPLogger(h.log),
	)
	opts := []server.SSEOption{
		server.WithMessageEndpoint("/messages"),
		server.WithSSEDisableLocalhostProtection(true),
		server.WithKeepAlive(true),
		server.WithKeepAliveInterval(25 * time.Second),
	}
	if ssePath != "" {
		opts = append(opts, server.WithStaticBasePath(ssePath))
	}
	v.sse = server.NewSSEServer(srv, opts...)
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

// rebuildViews makes every view offer what its servers offer now. Only the
// hub's managing goroutine calls it.
func (h *Hub) rebuildViews() {
	st := h.store.Current()
	sep := st.Separator()
	h.mu.Lock()
	views := slices.Collect(maps.Values(h.views))
	h.mu.Unlock()
	var problems []string
	for _, v := range views {
		ms := h.members(st, v.key)
		rebuild(v, toolKind, ms, sep, &problems)
		rebuild(v, promptKind, ms, sep, &problems)
		rebuild(v, resourceKind, ms, sep, &problems)
		rebuild(v, templateKind, ms, sep, &problems)
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

// kind describes one kind of item servers offer (tools, prompts, resources,
// resource templates) for collect, the one loop that builds what a view
// offers of it.
type kind[T any] struct {
	what string // "tool", in problems
	// items are the server's items of this kind.
	items func(*lists) []T
	// key is the item's name, or its URI (template) for resources: what
	// overrides and group selections name it by.
	key func(*T) string
	// prefixed: the item is offered as prefix + separator + key (tools,
	// prompts); otherwise under its key, a URI that tool results refer to
	// and so cannot be renamed. Resources still get a prefixed display
	// name.
	prefixed bool
	// enabled applies the server's overrides; selected a group's selection.
	enabled  func(cfg *settings.Server, key string) bool
	selected func(gs *settings.GroupServer, key string) bool
	// override is the description the settings give the item, or "".
	override func(cfg *settings.Server, key string) string
	// expose returns the item as the view offers it: renamed, described,
	// and checked (an error hides it).
	expose func(it T, name, desc string) (T, error)
	// shown is what the view offers of this kind now; publish makes it
	// offer items instead.
	shown   func(*view) *map[string]itemSig
	publish func(*view, []exposed[T])
}

// rebuild makes v offer what its members offer of one kind now, when that
// changed.
func rebuild[T any](v *view, k kind[T], ms []member, sep string, problems *[]string) {
	c := collect(k, ms, sep, problems)
	shown := k.shown(v)
	if maps.Equal(c.sigs, *shown) {
		return
	}
	k.publish(v, c.items)
	*shown = c.sigs
}

// collected is what a view offers of one kind: the items in the settings'
// order of their servers, and their signatures.
type collected[T any] struct {
	items []exposed[T]
	sigs  map[string]itemSig
}

type exposed[T any] struct {
	name  string // what clients call it by: its exposed name or URI
	def   T
	route *route
}

// collect builds what a view whose members are ms offers of one kind. One
// rule holds for every kind: an item whose exposed name is not a valid MCP
// name, or that another member already offers under the same name or URI,
// is hidden, and the problem is reported; the first member in the
// settings' order wins.
func collect[T any](k kind[T], ms []member, sep string, problems *[]string) collected[T] {
	out := collected[T]{sigs: map[string]itemSig{}}
	for _, m := range ms {
		cfg := m.up.cfg.Load()
		all := k.items(m.up.lists.Load())
		for i := range all {
			it := &all[i]
			key := k.key(it)
			if !k.enabled(cfg, key) || (m.sel != nil && !k.selected(m.sel, key)) {
				continue
			}
			name := key
			if k.prefixed {
				name = m.prefix + sep + key
				if len(name) > maxToolName {
					*problems = append(*problems, k.what+" "+name+" is hidden: MCP names have 128 characters at most")
					continue
				}
			}
			if prev, dup := out.sigs[name]; dup {
				*problems = append(*problems, k.what+" "+name+" of "+m.up.name+" is hidden: "+prev.up.name+" offers one by the same name")
				continue
			}
			desc := k.override(cfg, key)
			display := name
			if !k.prefixed {
				display = m.prefix + sep + displayName(it)
			}
			def, err := k.expose(*it, display, desc)
			if err != nil {
				*problems = append(*problems, k.what+" "+name+" of "+m.up.name+" is hidden: "+err.Error())
				continue
			}
			out.items = append(out.items, exposed[T]{name: name, def: def, route: &route{up: m.up, name: key}})
			out.sigs[name] = itemSig{up: m.up, def: it, desc: desc}
		}
	}
	return out
}

// displayName is the name of a resource or template, which views show
// prefixed though they offer it under its URI.
func displayName(it any) string {
	switch r := it.(type) {
	case *mcp.Resource:
		return r.Name
	case *mcp.ResourceTemplate:
		return r.Name
	}
	return ""
}

func override(m map[string]*settings.ItemOverride, key string) string {
	if o := m[key]; o != nil {
		return o.Description
	}
	return ""
}

var toolKind = kind[mcp.Tool]{
	what:     "tool",
	items:    func(l *lists) []mcp.Tool { return l.tools },
	key:      func(t *mcp.Tool) string { return t.Name },
	prefixed: true,
	enabled:  (*settings.Server).ToolEnabled,
	selected: func(gs *settings.GroupServer, key string) bool { return gs.Tools.Allows(key) },
	override: func(cfg *settings.Server, key string) string { return override(cfg.Tools, key) },
	expose: func(t mcp.Tool, name, desc string) (mcp.Tool, error) {
		t.Name = name
		if desc != "" {
			t.Description = desc
		}
		// mcp-go refuses such a tool with a panic; hide it instead.
		return t, mcp.ValidateParamHeaderAnnotations(&t)
	},
	shown: func(v *view) *map[string]itemSig { return &v.tools },
	publish: func(v *view, items []exposed[mcp.Tool]) {
		tools := make([]server.ServerTool, len(items))
		calls := make(map[string]*route, len(items))
		for i, it := range items {
			tools[i] = server.ServerTool{Tool: it.def, Handler: it.route.callTool}
			calls[it.name] = it.route
		}
		v.mcp.SetTools(tools...)
		v.calls.Store(&calls)
	},
}

var promptKind = kind[mcp.Prompt]{
	what:     "prompt",
	items:    func(l *lists) []mcp.Prompt { return l.prompts },
	key:      func(p *mcp.Prompt) string { return p.Name },
	prefixed: true,
	enabled:  (*settings.Server).PromptEnabled,
	selected: func(gs *settings.GroupServer, key string) bool { return gs.Prompts.Allows(key) },
	override: func(cfg *settings.Server, key string) string { return override(cfg.Prompts, key) },
	expose: func(p mcp.Prompt, name, desc string) (mcp.Prompt, error) {
		p.Name = name
		if desc != "" {
			p.Description = desc
		}
		return p, nil
	},
	shown: func(v *view) *map[string]itemSig { return &v.prompts },
	publish: func(v *view, items []exposed[mcp.Prompt]) {
		prompts := make([]server.ServerPrompt, len(items))
		for i, it := range items {
			prompts[i] = server.ServerPrompt{Prompt: it.def, Handler: it.route.getPrompt}
		}
		v.mcp.SetPrompts(prompts...)
	},
}

var resourceKind = kind[mcp.Resource]{
	what:     "resource",
	items:    func(l *lists) []mcp.Resource { return l.resources },
	key:      func(r *mcp.Resource) string { return r.URI },
	enabled:  (*settings.Server).ResourceEnabled,
	selected: func(gs *settings.GroupServer, key string) bool { return gs.Resources.Allows(key) },
	override: func(cfg *settings.Server, key string) string { return override(cfg.Resources, key) },
	expose: func(r mcp.Resource, name, desc string) (mcp.Resource, error) {
		r.Name = name
		if desc != "" {
			r.Description = desc
		}
		return r, nil
	},
	shown: func(v *view) *map[string]itemSig { return &v.resources },
	publish: func(v *view, items []exposed[mcp.Resource]) {
		resources := make([]server.ServerResource, len(items))
		for i, it := range items {
			resources[i] = server.ServerResource{Resource: it.def, Handler: it.route.readResource}
		}
		v.mcp.SetResources(resources...)
	},
}

// Templates are offered whole: overrides and group selections name
// resources by URI, which a template is not.
var templateKind = kind[mcp.ResourceTemplate]{
	what:  "resource template",
	items: func(l *lists) []mcp.ResourceTemplate { return l.templates },
	key: func(t *mcp.ResourceTemplate) string {
		if t.URITemplate == nil || t.URITemplate.Template == nil {
			return ""
		}
		return t.URITemplate.Raw()
	},
	enabled:  func(*settings.Server, string) bool { return true },
	selected: func(*settings.GroupServer, string) bool { return true },
	override: func(*settings.Server, string) string { return "" },
	expose: func(t mcp.ResourceTemplate, name, desc string) (mcp.ResourceTemplate, error) {
		if t.URITemplate == nil || t.URITemplate.Template == nil {
			return t, errors.New("it has no URI template")
		}
		t.Name = name
		return t, nil
	},
	shown: func(v *view) *map[string]itemSig { return &v.templates },
	publish: func(v *view, items []exposed[mcp.ResourceTemplate]) {
		templates := make([]server.ServerResourceTemplate, len(items))
		for i, it := range items {
			templates[i] = server.ServerResourceTemplate{Template: it.def, Handler: it.route.readResource}
		}
		v.mcp.SetResourceTemplates(templates...)
	},
}
