package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// The fast path serves the one request that matters for speed, tools/call
// over streamable HTTP, without mcp-go's request machinery, which decodes a
// message five times and re-encodes the result twice. It decodes the request
// once, forwards the arguments as the client wrote them and writes the
// upstream's result (or JSON-RPC error, code and data included) back byte for
// byte. Whatever it does not handle (progress, tasks, the 2026-07-28
// protocol, sessions mcp-go has not seen lately, unknown tools) goes to
// mcp-go unchanged.

// sessionTTL is how long a streamable HTTP session may stay idle.
const sessionTTL = time.Hour

// touchEvery is how often a session's requests must go through mcp-go, so
// that mcp-go, which sweeps sessions idle for sessionTTL, sees it in use.
const touchEvery = sessionTTL / 4

// fastMessage is the part of a client message the fast path reads.
type fastMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
		Meta      json.RawMessage `json:"_meta"`
		Task      json.RawMessage `json:"task"`
		RequestID json.RawMessage `json:"requestId"` // of notifications/cancelled
	} `json:"params"`
}

// fastPath serves a POSTed message if it can, and reports whether it did.
func (v *view) fastPath(w http.ResponseWriter, r *http.Request, sid string, body []byte) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		return false
	}
	if mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) || !v.fresh(sid) {
		return false
	}
	var msg fastMessage
	if json.Unmarshal(body, &msg) != nil || msg.JSONRPC != mcp.JSONRPC_VERSION {
		return false
	}
	switch msg.Method {
	case string(mcp.MethodToolsCall):
	case string(mcp.MethodNotificationCancelled):
		return v.cancelInflight(w, sid, msg.Params.RequestID)
	default:
		return false
	}
	if len(msg.ID) == 0 || string(msg.ID) == "null" || len(msg.Params.Task) > 0 || !plainMeta(msg.Params.Meta) {
		return false
	}
	if terminated, err := v.ids.Validate(sid); err != nil || terminated {
		return false
	}
	rt := (*v.calls.Load())[msg.Params.Name]
	if rt == nil {
		return false
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	key := inflightKey(sid, msg.ID)
	v.inflight.Store(key, cancel)
	defer v.inflight.Delete(key)

	raw, err := rt.up.forwardRaw(ctx, string(mcp.MethodToolsCall), toolCallParams(rt.name, msg.Params.Arguments, msg.Params.Meta))
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(rpcResponse(msg.ID, raw, err))
	return true
}

// isJSON reports whether a Content-Type is application/json, parameters
// aside, without the allocations of mime.ParseMediaType.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// plainMeta reports whether _meta asks for nothing the fast path leaves to
// mcp-go: a progress token (progress needs an SSE response) or the
// 2026-07-28 protocol.
func plainMeta(raw json.RawMessage) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	var m mcp.Meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return false
	}
	return m.ProgressToken == nil && !mcp.IsModernProtocol(m.ProtocolVersion())
}

// cancelInflight handles notifications/cancelled for a call on the fast
// path; one it does not know goes on to mcp-go.
func (v *view) cancelInflight(w http.ResponseWriter, sid string, requestID json.RawMessage) bool {
	c, ok := v.inflight.Load(inflightKey(sid, requestID))
	if !ok {
		return false
	}
	c.(context.CancelFunc)()
	w.WriteHeader(http.StatusAccepted)
	return true
}

// inflightKey identifies a call by session and request id. JSON-RPC tells
// the number 1 from the string "1", and so does the key; a client writes its
// own ids the same way each time, so no decoding is needed.
func inflightKey(sid string, id json.RawMessage) string {
	return sid + "\x00" + string(bytes.TrimSpace(id))
}

// toolCallParams builds the upstream's tools/call params from the client's
// arguments and _meta, as they were written.
func toolCallParams(name string, args, meta json.RawMessage) json.RawMessage {
	b := make([]byte, 0, len(name)+len(args)+len(meta)+48)
	b = append(b, `{"name":`...)
	b = strconv.AppendQuote(b, name)
	if len(args) > 0 && string(args) != "null" { // some clients send null for "no arguments"
		b = append(b, `,"arguments":`...)
		b = append(b, args...)
	}
	if len(meta) > 0 && string(meta) != "null" {
		b = append(b, `,"_meta":`...)
		b = append(b, meta...)
	}
	return append(b, '}')
}

// rpcResponse encodes a JSON-RPC response: the upstream's result, its error
// as it sent it, or an internal error for what went wrong on the way.
func rpcResponse(id, result json.RawMessage, err error) []byte {
	b := make([]byte, 0, len(result)+len(id)+48)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	if err == nil {
		b = append(b, `,"result":`...)
		b = append(b, result...)
		return append(b, '}')
	}
	e := mcp.JSONRPCErrorDetails{Code: mcp.INTERNAL_ERROR, Message: err.Error()}
	if rpc := (*RPCError)(nil); errors.As(err, &rpc) {
		e = mcp.JSONRPCErrorDetails{Code: rpc.Code, Message: rpc.Message, Data: rpc.Data}
	}
	enc, _ := json.Marshal(e)
	b = append(b, `,"error":`...)
	b = append(b, enc...)
	return append(b, '}')
}

// touch records that mcp-go sees a session's request now.
func (v *view) touch(sid string) {
	now := time.Now().UnixNano()
	if t, ok := v.touched.Load(sid); ok {
		t.(*atomic.Int64).Store(now)
		return
	}
	t := new(atomic.Int64)
	t.Store(now)
	v.touched.Store(sid, t)
}

// fresh reports whether mcp-go saw the session within touchEvery.
func (v *view) fresh(sid string) bool {
	t, ok := v.touched.Load(sid)
	return ok && time.Since(time.Unix(0, t.(*atomic.Int64).Load())) < touchEvery
}

// sweepTouched forgets sessions idle longer than mcp-go keeps them.
func (v *view) sweepTouched() {
	v.touched.Range(func(k, t any) bool {
		if time.Since(time.Unix(0, t.(*atomic.Int64).Load())) > sessionTTL {
			v.touched.Delete(k)
		}
		return true
	})
}
