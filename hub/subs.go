package hub

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// This file is who hears of what changes: list changes and resource
// updates reach the clients that subscribed (a 2025 session's GET stream, a
// 2026-07-28 client's subscriptions/listen stream, tagged with its
// subscription id), and log messages reach the clients that asked for
// their level, named after their server.

// listener is one subscriptions/listen stream of a 2026-07-28 client.
type listener struct {
	id        []byte // the listen request's id: the subscription id
	tools     bool
	prompts   bool
	resources bool
	uris      map[string]bool
	ch        chan []byte // notifications for its stream
}

// kindNotification is the list_changed notification of each kind.
var kindNotification = [numKinds]string{
	kindTools:     "notifications/tools/list_changed",
	kindPrompts:   "notifications/prompts/list_changed",
	kindResources: "notifications/resources/list_changed",
	kindTemplates: "notifications/resources/list_changed",
}

// listChanged tells the view's clients that a list changed.
func (v *view) listChanged(k int) {
	method := kindNotification[k]
	for _, s := range v.h.sessions.all() {
		if s.view == v && !s.closed.Load() {
			_ = s.push(appendNotification(nil, method, nil))
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for l := range v.listeners {
		if k == kindTools && l.tools || k == kindPrompts && l.prompts || (k == kindResources || k == kindTemplates) && l.resources {
			l.offer(appendNotification(nil, method, subscriptionMeta(nil, l.id)))
		}
	}
}

// offer queues a notification for the listener's stream; a listener too
// slow to keep up misses some rather than holding the hub up.
func (l *listener) offer(msg []byte) {
	select {
	case l.ch <- msg:
	default:
	}
}

// subscriptionMeta returns params with _meta's subscriptionId set.
func subscriptionMeta(params, id []byte) []byte {
	meta, _ := rawjson.Get(params, "_meta")
	meta = rawjson.Apply(meta, rawjson.Edit{Key: metaSubscriptionID, Value: id})
	return rawjson.Apply(params, rawjson.Edit{Key: "_meta", Value: meta})
}

// listen serves subscriptions/listen (2026-07-28, basic/patterns/
// subscriptions): it acknowledges what the view can honour, then keeps the
// stream until the client closes it.
func (v *view) listen(ctx context.Context, c *caller, m *message, o out) {
	filter, _ := rawjson.Get(m.params, "notifications")
	l := &listener{id: m.id, uris: map[string]bool{}, ch: make(chan []byte, 256)}
	flag := func(key string) bool { b, _ := rawjson.Get(filter, key); return string(b) == "true" }
	l.tools, l.prompts, l.resources = flag("toolsListChanged"), flag("promptsListChanged"), flag("resourcesListChanged")
	var uris []string
	if raw, ok := rawjson.Get(filter, "resourceSubscriptions"); ok {
		_ = json.Unmarshal(raw, &uris)
	}
	cat := v.cat.Load()
	var honoured []string
	for _, uri := range uris {
		if r := cat.findResource(uri); r != nil {
			l.uris[uri] = true
			honoured = append(honoured, uri)
			r.up.subscribe(uri)
			defer r.up.unsubscribe(uri)
		}
	}
	ack := []rawjson.Edit{}
	for _, f := range []struct {
		key string
		on  bool
	}{{"toolsListChanged", l.tools}, {"promptsListChanged", l.prompts}, {"resourcesListChanged", l.resources}} {
		if f.on {
			ack = append(ack, rawjson.Edit{Key: f.key, Value: []byte("true")})
		}
	}
	if len(honoured) > 0 {
		b, _ := json.Marshal(honoured)
		ack = append(ack, rawjson.Edit{Key: "resourceSubscriptions", Value: b})
	}
	params := append([]byte(`{"notifications":`), rawjson.Apply(nil, ack...)...)
	params = append(params, '}')
	if o.send(appendNotification(nil, "notifications/subscriptions/acknowledged", subscriptionMeta(params, l.id))) != nil {
		return
	}
	v.mu.Lock()
	if v.listeners == nil {
		v.listeners = map[*listener]struct{}{}
	}
	v.listeners[l] = struct{}{}
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		delete(v.listeners, l)
		v.mu.Unlock()
	}()
	for {
		select {
		case msg := <-l.ch:
			if o.send(msg) != nil {
				return
			}
		case <-ctx.Done():
			if v.h.shuttingDown() {
				// A graceful end: the listen request's answer.
				o.final(appendResult(nil, m.id, []byte(`{"resultType":"complete","_meta":{"`+metaSubscriptionID+`":`+string(m.id)+`}}`)), 0)
			}
			return
		}
	}
}

// subscribe serves resources/subscribe and resources/unsubscribe of a 2025
// session.
func (v *view) subscribe(ctx context.Context, c *caller, m *message, o out) {
	uri := m.param("uri")
	r := v.cat.Load().findResource(uri)
	if c.sess == nil || r == nil {
		v.fail(c, m, o, newError(codeInvalidParams, "no resource "+uri+" here"))
		return
	}
	on := m.method == "resources/subscribe"
	v.mu.Lock()
	if v.subs == nil {
		v.subs = map[string]map[*downSession]bool{}
	}
	had := v.subs[uri][c.sess]
	switch {
	case on && !had:
		if v.subs[uri] == nil {
			v.subs[uri] = map[*downSession]bool{}
		}
		v.subs[uri][c.sess] = true
	case !on && had:
		delete(v.subs[uri], c.sess)
		if len(v.subs[uri]) == 0 {
			delete(v.subs, uri)
		}
	}
	v.mu.Unlock()
	switch {
	case on && !had:
		r.up.subscribe(uri)
	case !on && had:
		r.up.unsubscribe(uri)
	}
	o.final(appendResult(nil, m.id, []byte("{}")), 0)
}

// unsubscribeAll drops a session's subscriptions when it ends.
func (v *view) unsubscribeAll(s *downSession) {
	v.mu.Lock()
	var uris []string
	for uri, set := range v.subs {
		if set[s] {
			delete(set, s)
			if len(set) == 0 {
				delete(v.subs, uri)
			}
			uris = append(uris, uri)
		}
	}
	v.mu.Unlock()
	cat := v.cat.Load()
	for _, uri := range uris {
		if r := cat.findResource(uri); r != nil {
			r.up.unsubscribe(uri)
		}
	}
}

// resourceUpdated passes a server's notifications/resources/updated to the
// clients subscribed to the resource in each view that shows the server.
func (h *Hub) resourceUpdated(u *upstream, params []byte) {
	uri, _ := rawjson.String(params, "uri")
	h.mu.Lock()
	views := make([]*view, 0, len(h.views))
	for _, v := range h.views {
		views = append(views, v)
	}
	h.mu.Unlock()
	for _, v := range views {
		if r := v.cat.Load().findResource(uri); r == nil || r.up != u {
			continue
		}
		clean := stripProtocolMeta(params)
		v.mu.Lock()
		var sessions []*downSession
		for s := range v.subs[uri] {
			sessions = append(sessions, s)
		}
		for l := range v.listeners {
			if l.uris[uri] {
				l.offer(appendNotification(nil, "notifications/resources/updated", subscriptionMeta(clean, l.id)))
			}
		}
		v.mu.Unlock()
		for _, s := range sessions {
			_ = s.push(appendNotification(nil, "notifications/resources/updated", clean))
		}
	}
}

// stripProtocolMeta drops the protocol's keys (a server's subscription id)
// from a notification's _meta.
func stripProtocolMeta(params []byte) []byte {
	meta, ok := rawjson.Get(params, "_meta")
	if !ok {
		return params
	}
	return rawjson.Apply(params, rawjson.Edit{Key: "_meta", Value: clientResultMeta(meta, nil, false)})
}

// namedLog returns a log message's params with the server named in its
// logger (issue 12: "with the server named in logger").
func (h *Hub) namedLog(u *upstream, params []byte) []byte {
	logger, _ := rawjson.String(params, "logger")
	name := u.name
	if logger != "" && logger != u.name {
		name += "/" + logger
	}
	return rawjson.Apply(stripProtocolMeta(params), rawjson.Edit{Key: "logger", Value: rawjson.Quote(name)})
}

// logMessage passes a server's log message that belongs to no request to
// the 2025 sessions that asked for its level, in the views that show the
// server. (2026-07-28 clients get log messages only for their requests.)
func (h *Hub) logMessage(u *upstream, params []byte) {
	level, _ := rawjson.String(params, "level")
	msg := appendNotification(nil, "notifications/message", h.namedLog(u, params))
	for _, s := range h.sessions.all() {
		if s.closed.Load() || !wantsLog(s.client.level(), level) || !s.view.shows(u) {
			continue
		}
		_ = s.push(msg)
	}
}

// shows reports whether u is a member of the view.
func (v *view) shows(u *upstream) bool {
	return slices.Contains(v.cat.Load().members, u)
}

// logLevelsChanged sets each legacy server's log level to the most verbose
// any 2025 session of its views asked for.
func (h *Hub) logLevelsChanged() {
	h.mu.Lock()
	ups := make([]*upstream, 0, len(h.upstreams))
	for _, u := range h.upstreams {
		ups = append(ups, u)
	}
	h.mu.Unlock()
	sessions := h.sessions.all()
	for _, u := range ups {
		best := ""
		for _, s := range sessions {
			l := s.client.level()
			if l == "" || !s.view.shows(u) {
				continue
			}
			if best == "" || logLevels[l] < logLevels[best] {
				best = l
			}
		}
		u.setLogLevel(best)
	}
}

// rootsChanged passes a 2025 client's notifications/roots/list_changed to
// its view's legacy servers (2026-07-28 removed it: modern servers ask for
// roots in each request).
func (v *view) rootsChanged(s *downSession) {
	for _, u := range v.cat.Load().members {
		if sess := u.session(); sess != nil && !sess.modern {
			ctx, cancel := context.WithTimeout(context.Background(), 5e9)
			_ = sess.notify(ctx, "notifications/roots/list_changed", nil)
			cancel()
		}
	}
}

// serverRequest routes a server's request that came outside any call (a
// 2025 server asking on its own, or on a shared channel with nobody in
// flight able to answer): to the most recently active 2025 session of the
// server's views that supports it, else an error to the server.
func (h *Hub) serverRequest(u *upstream, s *upSession, m *message) {
	var best *downSession
	for _, ds := range h.sessions.all() {
		if ds.closed.Load() || !ds.view.shows(u) || !ds.client.caps.supports(m.method, m.params) {
			continue
		}
		if best == nil || ds.lastActive.Load() > best.lastActive.Load() {
			best = ds
		}
	}
	if best == nil {
		s.respondError(m.id, newError(codeMethodNotFound, "no client connected to mcptray can answer "+m.method+" now"))
		return
	}
	h.wg.Go(func() {
		ctx, cancel := context.WithTimeout(h.serveCtx(), holdTTL)
		defer cancel()
		answer, err := best.request(ctx, sessionOut{best}, m.method, m.params)
		if err != nil {
			s.respondError(m.id, newError(codeInternal, "the client did not answer: "+err.Error()))
			return
		}
		s.passAnswer(m.id, answer)
	})
}

// isListChanged reports whether method is a list-changed notification, and
// of which lists.
func isListChanged(method string) (uint32, bool) {
	switch method {
	case "notifications/tools/list_changed":
		return listTools, true
	case "notifications/prompts/list_changed":
		return listPrompts, true
	case "notifications/resources/list_changed":
		return listResources, true
	}
	return 0, strings.HasSuffix(method, "/list_changed")
}
