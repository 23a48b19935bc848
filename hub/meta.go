package hub

import (
	"bytes"
	"strings"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// This file writes the protocol's own keys for each leg of a request: the
// io.modelcontextprotocol/* keys of _meta and the capabilities are the
// hub's, written for that leg's revision; everything else in _meta
// (progress tokens, trace context, application keys) passes through
// (issue 12, "Protocol keys are the hub's own").

// clientCaps is what a downstream client can be asked for.
type clientCaps struct {
	sampling   []byte // the client's sampling capability, raw; nil when none
	elicitForm bool
	elicitURL  bool
	roots      bool
	rootsLC    bool   // roots.listChanged
	extensions []byte // 2026-07-28 extensions, raw; nil when none
	tasks      bool   // the tasks extension (2026) or capability (2025)
}

// parseClientCaps reads a client's capabilities, of either revision.
func parseClientCaps(raw []byte) clientCaps {
	var c clientCaps
	rawjson.Each(raw, func(m rawjson.Member) bool {
		switch {
		case m.Is("sampling"):
			if string(m.Value) != "null" {
				c.sampling = m.Value
			}
		case m.Is("elicitation"):
			if string(m.Value) == "null" {
				break
			}
			_, form := rawjson.Get(m.Value, "form")
			_, url := rawjson.Get(m.Value, "url")
			// 2025-06-18 wrote {} for what 2025-11-25 calls form mode.
			c.elicitForm = form || !url
			c.elicitURL = url
		case m.Is("roots"):
			if string(m.Value) != "null" {
				c.roots = true
				v, _ := rawjson.Get(m.Value, "listChanged")
				c.rootsLC = string(v) == "true"
			}
		case m.Is("extensions"):
			if string(m.Value) != "null" {
				c.extensions = m.Value
				_, c.tasks = rawjson.Get(m.Value, "io.modelcontextprotocol/tasks")
			}
		case m.Is("tasks"):
			c.tasks = string(m.Value) != "null"
		}
		return true
	})
	return c
}

// supports reports whether the client can answer a server's request of
// method (or an input request of that method).
func (c *clientCaps) supports(method string, params []byte) bool {
	switch method {
	case "sampling/createMessage":
		return c.sampling != nil
	case "elicitation/create":
		if mode, _ := rawjson.String(params, "mode"); mode == "url" {
			return c.elicitURL
		}
		return c.elicitForm
	case "roots/list":
		return c.roots
	case "ping":
		return true
	}
	return false
}

// modernJSON is the capabilities as a 2026-07-28 request declares them:
// what the client has that the hub can deliver to it.
func (c *clientCaps) modernJSON() []byte {
	var edits []rawjson.Edit
	if c.sampling != nil {
		edits = append(edits, rawjson.Edit{Key: "sampling", Value: c.sampling})
	}
	if c.elicitForm || c.elicitURL {
		e := []byte("{")
		if c.elicitForm {
			e = append(e, `"form":{}`...)
		}
		if c.elicitURL {
			if c.elicitForm {
				e = append(e, ',')
			}
			e = append(e, `"url":{}`...)
		}
		edits = append(edits, rawjson.Edit{Key: "elicitation", Value: append(e, '}')})
	}
	if c.roots {
		edits = append(edits, rawjson.Edit{Key: "roots", Value: []byte("{}")})
	}
	if c.extensions != nil {
		edits = append(edits, rawjson.Edit{Key: "extensions", Value: c.extensions})
	}
	return rawjson.Apply(nil, edits...)
}

// legacyUpstreamCaps is what the hub declares in its initialize to a legacy
// server: everything it can deliver to some client. When the client of a
// request lacks what the server asks for, the server gets an error.
var legacyUpstreamCaps = []byte(`{"sampling":{},"elicitation":{"form":{},"url":{}},"roots":{"listChanged":true}}`)

// clientInfoJSON is how the hub names itself to servers.
func clientInfoJSON(version string) []byte {
	b := []byte(`{"name":"mcptray","version":`)
	b = rawjson.AppendQuote(b, version)
	return append(b, '}')
}

// legMeta is what the hub writes into a request's _meta for one upstream
// leg.
type legMeta struct {
	modern     bool
	caps       []byte // clientCapabilities (modern)
	clientInfo []byte // (modern)
	logLevel   string // (modern) the client's, or ""
	token      []byte // the progress token to send instead of the client's, or nil
}

// rewriteMeta returns the _meta for the upstream leg from the client's: the
// protocol's keys are dropped and the leg's written, the progress token is
// swapped, the rest is kept. It returns nil for an empty _meta.
func rewriteMeta(client []byte, leg legMeta) []byte {
	out := make([]byte, 0, len(client)+len(leg.caps)+len(leg.clientInfo)+96)
	out = append(out, '{')
	first := true
	add := func(key, value []byte) {
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, key...)
		out = append(out, ':')
		out = append(out, value...)
	}
	rawjson.Each(client, func(m rawjson.Member) bool {
		name := m.Name()
		switch {
		case strings.HasPrefix(name, metaPrefix):
		case name == "progressToken":
			if leg.token != nil {
				add(m.Key, leg.token)
			}
		default:
			add(m.Key, m.Value)
		}
		return true
	})
	if leg.modern {
		add([]byte(`"`+metaProtocolVersion+`"`), []byte(`"`+versionModern+`"`))
		add([]byte(`"`+metaClientCaps+`"`), leg.caps)
		add([]byte(`"`+metaClientInfo+`"`), leg.clientInfo)
		if leg.logLevel != "" {
			add([]byte(`"`+metaLogLevel+`"`), rawjson.Quote(leg.logLevel))
		}
	}
	if first {
		return nil
	}
	return append(out, '}')
}

// resultEdits are the changes a result needs on its way to a client of
// modern or legacy revision: the server's protocol keys out of its _meta,
// the hub's in (for a modern client, its serverInfo), and resultType present
// for a modern client, absent for a legacy one when it says complete.
func resultEdits(result []byte, modern bool, serverInfo []byte) []rawjson.Edit {
	meta, hasMeta := rawjson.Get(result, "_meta")
	rt, hasRT := rawjson.Get(result, "resultType")
	var edits []rawjson.Edit
	needMeta := modern && serverInfo != nil
	if hasMeta && string(meta) != "null" && bytes.Contains(meta, []byte(metaPrefix)) || needMeta {
		edits = append(edits, rawjson.Edit{Key: "_meta", Value: clientResultMeta(meta, serverInfo, modern)})
	}
	switch {
	case modern && !hasRT:
		edits = append(edits, rawjson.Edit{Key: "resultType", Value: []byte(`"complete"`)})
	case !modern && hasRT && string(rt) == `"complete"`:
		edits = append(edits, rawjson.Edit{Key: "resultType", Value: nil})
	}
	return edits
}

// clientResultMeta is a result's _meta for the client: the server's
// protocol keys dropped, the hub's serverInfo added for a modern client.
func clientResultMeta(meta, serverInfo []byte, modern bool) []byte {
	var edits []rawjson.Edit
	rawjson.Each(meta, func(m rawjson.Member) bool {
		if n := m.Name(); strings.HasPrefix(n, metaPrefix) {
			edits = append(edits, rawjson.Edit{Key: n, Value: nil})
		}
		return true
	})
	if modern && serverInfo != nil {
		edits = append(edits, rawjson.Edit{Key: metaServerInfo, Value: serverInfo})
	}
	out := rawjson.Apply(meta, edits...)
	if string(out) == "{}" {
		return nil
	}
	return out
}
