package hub

import (
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
		h.rebuildTools(v, ms, sep, &problems)
		h.rebuildPrompts(v, ms, sep)
		h.rebuildResources(v, ms, sep)
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

func (h *Hub) rebuildTools(v *view, ms []member, sep string, problems *[]string) {
	sigs := map[string]itemSig{}
	calls := map[string]*route{}
	var tools []server.ServerTool
	for _, m := range ms {
		cfg := m.up.cfg.Load()
		l := m.up.lists.Load()
		for i := range l.tools {
			t := &l.tools[i]
			if !cfg.ToolEnabled(t.Name) || (m.sel != nil && !m.sel.Tools.Allows(t.Name)) {
				continue
			}
			name := m.prefix + sep + t.Name
			if len(name) > maxToolName {
				*problems = append(*problems, "tool "+name+" is hidden: MCP tool names have 128 characters at most")
				continue
			}
			if prev, dup := sigs[name]; dup {
				*problems = append(*problems, "tool "+name+" of "+m.up.name+" is hidden: "+prev.up.name+" has one of the same name")
				continue
			}
			exposed := *t
			exposed.Name = name
			if o := cfg.Tools[t.Name]; o != nil && o.Description != "" {
				exposed.Description = o.Description
			}
			// mcp-go refuses such a tool with a panic; skip it instead.
			if err := mcp.ValidateParamHeaderAnnotations(&exposed); err != nil {
				*problems = append(*problems, "tool "+name+" is hidden: "+err.Error())
				continue
			}
			r := &route{up: m.up, name: t.Name}
			tools = append(tools, server.ServerTool{Tool: exposed, Handler: r.callTool})
			calls[name] = r
			sigs[name] = itemSig{up: m.up, def: t, desc: exposed.Description}
		}
	}
	if !maps.Equal(sigs, v.tools) {
		v.mcp.SetTools(tools...)
		v.calls.Store(&calls)
		v.tools = sigs
	}
}

func (h *Hub) rebuildPrompts(v *view, ms []member, sep string) {
	sigs := map[string]itemSig{}
	var prompts []server.ServerPrompt
	for _, m := range ms {
		cfg := m.up.cfg.Load()
		l := m.up.lists.Load()
		for i := range l.prompts {
			p := &l.prompts[i]
			if !cfg.PromptEnabled(p.Name) || (m.sel != nil && !m.sel.Prompts.Allows(p.Name)) {
				continue
			}
			name := m.prefix + sep + p.Name
			if _, dup := sigs[name]; dup {
				continue
			}
			exposed := *p
			exposed.Name = name
			if o := cfg.Prompts[p.Name]; o != nil && o.Description != "" {
				exposed.Description = o.Description
			}
			r := &route{up: m.up, name: p.Name}
			prompts = append(prompts, server.ServerPrompt{Prompt: exposed, Handler: r.getPrompt})
			sigs[name] = itemSig{up: m.up, def: p, desc: exposed.Description}
		}
	}
	if !maps.Equal(sigs, v.prompts) {
		v.mcp.SetPrompts(prompts...)
		v.prompts = sigs
	}
}

// rebuildResources registers resources under their own URIs: a URI is an
// address that tool results refer to, so it cannot be renamed. Their names
// get the server prefix. When two servers offer the same URI, the first in
// the settings wins.
func (h *Hub) rebuildResources(v *view, ms []member, sep string) {
	sigs := map[string]itemSig{}
	tsigs := map[string]itemSig{}
	var resources []server.ServerResource
	var templates []server.ServerResourceTemplate
	for _, m := range ms {
		cfg := m.up.cfg.Load()
		l := m.up.lists.Load()
		for i := range l.resources {
			res := &l.resources[i]
			if !cfg.ResourceEnabled(res.URI) || (m.sel != nil && !m.sel.Resources.Allows(res.URI)) {
				continue
			}
			if _, dup := sigs[res.URI]; dup {
				continue
			}
			exposed := *res
			exposed.Name = m.prefix + sep + res.Name
			if o := cfg.Resources[res.URI]; o != nil && o.Description != "" {
				exposed.Description = o.Description
			}
			r := &route{up: m.up, name: res.URI}
			resources = append(resources, server.ServerResource{Resource: exposed, Handler: r.readResource})
			sigs[res.URI] = itemSig{up: m.up, def: res, desc: exposed.Description}
		}
		for i := range l.templates {
			t := &l.templates[i]
			if t.URITemplate == nil || t.URITemplate.Template == nil {
				continue
			}
			raw := t.URITemplate.Raw()
			if _, dup := tsigs[raw]; dup {
				continue
			}
			exposed := *t
			exposed.Name = m.prefix + sep + t.Name
			r := &route{up: m.up, name: raw}
			templates = append(templates, server.ServerResourceTemplate{Template: exposed, Handler: r.readResource})
			tsigs[raw] = itemSig{up: m.up, def: t}
		}
	}
	if !maps.Equal(sigs, v.resources) {
		v.mcp.SetResources(resources...)
		v.resources = sigs
	}
	if !maps.Equal(tsigs, v.templates) {
		v.mcp.SetResourceTemplates(templates...)
		v.templates = tsigs
	}
}
