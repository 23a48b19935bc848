package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// dispatch serves one request of a client on a view: what the hub answers
// itself (the handshake, lists, logging, subscriptions), and what it
// forwards to the server that owns the item the request names.
func (v *view) dispatch(ctx context.Context, c *caller, m *message, o out) {
	switch m.method {
	case "ping":
		o.final(appendResult(nil, m.id, []byte("{}")), 0)
	case "server/discover":
		v.answer(c, m, o, v.discoverResult())
	case "tools/list":
		v.list(c, m, o, kindTools, "tools")
	case "prompts/list":
		v.list(c, m, o, kindPrompts, "prompts")
	case "resources/list":
		v.list(c, m, o, kindResources, "resources")
	case "resources/templates/list":
		v.list(c, m, o, kindTemplates, "resourceTemplates")
	case "tools/call":
		v.forwardNamed(ctx, c, m, o, kindTools)
	case "prompts/get":
		v.forwardNamed(ctx, c, m, o, kindPrompts)
	case "resources/read":
		v.forwardResource(ctx, c, m, o)
	case "completion/complete":
		v.complete(ctx, c, m, o)
	case "logging/setLevel":
		v.setLevel(c, m, o)
	case "resources/subscribe", "resources/unsubscribe":
		v.subscribe(ctx, c, m, o)
	case "subscriptions/listen":
		v.listen(ctx, c, m, o)
	case "tasks/get", "tasks/update", "tasks/cancel", "tasks/result":
		v.forwardTask(ctx, c, m, o)
	case "tasks/list":
		v.listTasks(ctx, c, m, o)
	default:
		v.fail(c, m, o, newError(codeMethodNotFound, "Method not found: "+m.method))
	}
}

// answer sends a result the hub made itself, with the protocol keys of the
// client's revision.
func (v *view) answer(c *caller, m *message, o out, result []byte) {
	if edits := resultEdits(result, c.modern, v.serverInfo()); len(edits) > 0 {
		result = rawjson.Apply(result, edits...)
	}
	o.final(appendResult(nil, m.id, result), 0)
}

// fail answers with an error.
func (v *view) fail(c *caller, m *message, o out, err error) {
	obj := errorObject(err)
	o.final(appendError(nil, m.id, obj), errorStatus(c, obj))
}

// errorStatus is the HTTP status of a JSON error answer: 200 in the legacy
// revisions; in 2026-07-28, 404 for a method not found and 400 for what the
// transport calls a bad request (basic/transports/streamable-http).
func errorStatus(c *caller, obj []byte) int {
	if !c.modern {
		return 0
	}
	v, _ := rawjson.Get(obj, "code")
	code, _ := strconv.Atoi(string(v))
	switch code {
	case codeMethodNotFound:
		return http.StatusNotFound
	case codeParseError, codeInvalidRequest, codeInvalidParams, codeHeaderMismatch, codeMissingCapability, codeUnsupportedVersion:
		return http.StatusBadRequest
	}
	return 0
}

// serverInfo is how the view names itself: a single server's view as the
// server does, the others as mcptray.
func (v *view) serverInfo() []byte {
	if v.bare {
		if u := v.single(); u != nil {
			if s := u.session(); s != nil && s.serverInfo != nil {
				return s.serverInfo
			}
		}
	}
	b := []byte(`{"name":"mcptray","version":`)
	b = rawjson.AppendQuote(b, v.h.version)
	return append(b, '}')
}

// single is the server of a one-server view.
func (v *view) single() *upstream {
	if ms := v.cat.Load().members; v.bare && len(ms) == 1 {
		return ms[0]
	}
	return nil
}

// capabilities is what the view offers: everything the hub can route, or,
// for one server's view, what that server offers.
func (v *view) capabilities() []byte {
	if u := v.single(); u != nil {
		if s := u.session(); s != nil && s.caps.raw != nil {
			return s.caps.raw
		}
	}
	caps := `{"tools":{"listChanged":true},"prompts":{"listChanged":true},"resources":{"subscribe":true,"listChanged":true},"logging":{},"completions":{}`
	if v.anyTasks() {
		caps += `,"extensions":{"io.modelcontextprotocol/tasks":{}}`
	}
	return []byte(caps + "}")
}

// anyTasks reports whether a member offers tasks.
func (v *view) anyTasks() bool {
	for _, u := range v.cat.Load().members {
		if s := u.session(); s != nil && s.caps.tasks {
			return true
		}
	}
	return false
}

// instructions are the members' instructions, each under its server's name.
func (v *view) instructions() string {
	if u := v.single(); u != nil {
		if s := u.session(); s != nil {
			return s.instructions
		}
		return ""
	}
	var out string
	for _, u := range v.cat.Load().members {
		if s := u.session(); s != nil && s.instructions != "" {
			if out != "" {
				out += "\n\n"
			}
			out += u.name + ": " + s.instructions
		}
	}
	return out
}

// initializeResult answers a legacy client's initialize.
func (v *view) initializeResult(version string) []byte {
	b := []byte(`{"protocolVersion":`)
	b = rawjson.AppendQuote(b, version)
	b = append(b, `,"capabilities":`...)
	b = append(b, v.capabilities()...)
	b = append(b, `,"serverInfo":`...)
	b = append(b, v.serverInfo()...)
	if ins := v.instructions(); ins != "" {
		b = append(b, `,"instructions":`...)
		b = rawjson.AppendQuote(b, ins)
	}
	return append(b, '}')
}

// discoverResult answers server/discover (2026-07-28, server/discover).
func (v *view) discoverResult() []byte {
	versions, _ := json.Marshal(supportedVersions)
	b := []byte(`{"resultType":"complete","supportedVersions":`)
	b = append(b, versions...)
	b = append(b, `,"capabilities":`...)
	b = append(b, v.capabilities()...)
	if ins := v.instructions(); ins != "" {
		b = append(b, `,"instructions":`...)
		b = rawjson.AppendQuote(b, ins)
	}
	b = append(b, `,"ttlMs":0,"cacheScope":"private"}`...)
	return b
}

// list answers a list request from the view's catalog, in one page.
func (v *view) list(c *caller, m *message, o out, k int, key string) {
	cat := v.cat.Load()
	b := make([]byte, 0, len(cat.items[k])+len(key)+96)
	b = append(b, `{"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	b = append(b, cat.items[k]...)
	if c.modern {
		// No looser than any member's hint (caching: a shared list is
		// public only when every part of it is).
		h := cat.hints[k]
		ttl := int64(0)
		scope := "private"
		if h.given {
			if h.ttl != nil {
				ttl = *h.ttl
			}
			scope = h.scope
		}
		b = append(b, `,"ttlMs":`...)
		b = strconv.AppendInt(b, ttl, 10)
		b = append(b, `,"cacheScope":`...)
		b = rawjson.AppendQuote(b, scope)
	}
	b = append(b, '}')
	v.answer(c, m, o, b)
}

// setLevel serves logging/setLevel: the session's level, and the servers'
// (the most verbose any session of theirs asked for).
func (v *view) setLevel(c *caller, m *message, o out) {
	level := m.param("level")
	if _, ok := logLevels[level]; !ok || c.sess == nil {
		v.fail(c, m, o, newError(codeInvalidParams, "unknown log level "+strconv.Quote(level)))
		return
	}
	c.sess.logLevel.Store(&level)
	o.final(appendResult(nil, m.id, []byte("{}")), 0)
	v.h.logLevelsChanged()
}
