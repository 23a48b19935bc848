package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// This file forwards a client's request to the server that owns what it
// names, and brings back everything the server sends for it: progress and
// log messages in order before the result, the server's own requests (to
// the client that can answer them), the result or error as the server wrote
// it. Between revisions it translates: a 2025 server's request during a
// 2026-07-28 client's call becomes an input-required result (and the
// client's retry its answer), a 2026-07-28 server's input-required result
// to a 2025 client becomes requests to that client and a retry.

// errCallTimeout is the cause of a call's context when the per-call timeout
// ends it.
var errCallTimeout = errors.New("call timed out")

// ErrNotConnected is wrapped by the error of a call to a server that has no
// connection.
var ErrNotConnected = errors.New("server is not connected")

// maxRounds bounds the input-required round trips of one request (go-sdk's
// client allows 10).
const maxRounds = 10

// forwardNamed forwards tools/call or prompts/get by the item's name.
func (v *view) forwardNamed(ctx context.Context, c *caller, m *message, o out, k int) {
	name := m.param("name")
	r := v.cat.Load().routes[k][name]
	if r == nil {
		v.fail(c, m, o, newError(codeInvalidParams, "Unknown "+kinds[k].what+": "+name))
		return
	}
	v.forward(ctx, c, m, o, r, r.name, r.name)
}

// forwardResource forwards resources/read by URI.
func (v *view) forwardResource(ctx context.Context, c *caller, m *message, o out) {
	uri := m.param("uri")
	r := v.cat.Load().findResource(uri)
	if r == nil {
		// The code changed in 2026-07-28 (-32002 before).
		code := codeLegacyResourceMissing
		if c.modern {
			code = codeInvalidParams
		}
		e := newError(code, "Resource not found")
		e.Data, _ = json.Marshal(map[string]string{"uri": uri})
		v.fail(c, m, o, e)
		return
	}
	v.forward(ctx, c, m, o, r, "", uri)
}

// complete forwards completion/complete to the owner of the prompt or
// resource template its ref names.
func (v *view) complete(ctx context.Context, c *caller, m *message, o out) {
	ref, _ := rawjson.Get(m.params, "ref")
	typ, _ := rawjson.String(ref, "type")
	cat := v.cat.Load()
	var r *route
	var edit []byte
	switch typ {
	case "ref/prompt":
		name, _ := rawjson.String(ref, "name")
		if r = cat.routes[kindPrompts][name]; r != nil {
			edit = rawjson.Apply(ref, rawjson.Edit{Key: "name", Value: rawjson.Quote(r.name)})
		}
	case "ref/resource":
		uri, _ := rawjson.String(ref, "uri")
		if r = cat.routes[kindTemplates][uri]; r == nil {
			r = cat.findResource(uri)
		}
	}
	if r == nil {
		v.fail(c, m, o, newError(codeInvalidParams, "completion/complete: no prompt or resource template of this name"))
		return
	}
	if s := r.up.session(); s != nil && !s.caps.completions {
		// The server offers none: an empty completion, as a server without
		// values for the argument answers.
		v.answer(c, m, o, []byte(`{"completion":{"values":[],"hasMore":false}}`))
		return
	}
	p := m.params
	if edit != nil {
		p = rawjson.Apply(p, rawjson.Edit{Key: "ref", Value: edit})
	}
	v.forwardParams(ctx, c, m, o, r.up, p, "")
}

// forward sends a request on to its route, the item renamed to its
// server's name (rename "" keeps the params as they are).
func (v *view) forward(ctx context.Context, c *caller, m *message, o out, r *route, rename, headerName string) {
	if state, ok := rawjson.String(m.params, "requestState"); ok && isHoldState(state) {
		v.resume(ctx, c, m, o, state)
		return
	}
	p := m.params
	var edits []rawjson.Edit
	if rename != "" && rename != m.param("name") {
		edits = append(edits, rawjson.Edit{Key: "name", Value: rawjson.Quote(rename)})
	}
	if args, ok := rawjson.Get(p, "arguments"); ok && string(args) == "null" {
		// Some clients (mcp-go's) send null for "no arguments", which
		// servers refuse.
		edits = append(edits, rawjson.Edit{Key: "arguments", Value: nil})
	}
	if len(edits) > 0 {
		p = rawjson.Apply(p, edits...)
	}
	var headers map[string]string
	if len(r.headers) > 0 {
		args, _ := rawjson.Get(m.params, "arguments")
		headers = paramValues(r.headers, args)
	}
	v.forwardWith(ctx, c, m, o, r.up, p, headerName, headers)
}

func (v *view) forwardParams(ctx context.Context, c *caller, m *message, o out, u *upstream, params []byte, headerName string) {
	v.forwardWith(ctx, c, m, o, u, params, headerName, nil)
}

// forwardWith runs one request at server u, under the server's call
// timeout, and answers the client.
func (v *view) forwardWith(ctx context.Context, c *caller, m *message, o out, u *upstream, params []byte, headerName string, headers map[string]string) {
	s := u.session()
	if s == nil {
		v.fail(c, m, o, u.notConnected())
		return
	}
	f := &flight{v: v, c: c, m: m, o: o, u: u, s: s, name: headerName, headers: headers}
	// The call outlives the client's request only when it is held for a
	// 2026-07-28 client's answer; otherwise the request's end is its end.
	callCtx, cancel, timeout := u.callContext(v.h.serveCtx())
	f.ctx, f.cancel, f.timeout = callCtx, cancel, timeout
	stop := context.AfterFunc(ctx, func() {
		if !f.held() {
			cancel()
		}
	})
	defer func() {
		stop()
		if !f.held() {
			cancel()
		}
	}()
	call, err := f.send(params)
	if err != nil {
		v.fail(c, m, o, u.callError(f.ctx, m.method, timeout, err))
		return
	}
	f.pump(ctx, call, params)
}

// flight is one client request on its way through a server, and back.
type flight struct {
	v       *view
	c       *caller
	m       *message // the client's request (for a resumed one: the retry)
	o       out
	u       *upstream
	s       *upSession
	name    string // Mcp-Name at the server
	headers map[string]string

	ctx     context.Context // the call's: the server's timeout, not the client's request
	cancel  context.CancelFunc
	timeout time.Duration

	mu   sync.Mutex // guards hold
	hold *hold      // set once the call waits for a 2026-07-28 client's answer
}

func (f *flight) held() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hold != nil
}

// send starts the request at the server, with the _meta of the server's
// revision and the client's progress token swapped for the hub's.
func (f *flight) send(params []byte) (*upCall, error) {
	call := f.s.newCall(f.c)
	clientMeta, _ := rawjson.Get(params, "_meta")
	var token []byte
	if tok, ok := rawjson.Get(clientMeta, "progressToken"); ok && string(tok) != "null" {
		token = f.s.progressToken(call, tok)
	}
	leg := legMeta{modern: f.s.modern, token: token}
	if f.s.modern {
		leg.caps, leg.clientInfo, leg.logLevel = f.c.modernCaps(), clientInfoJSON(f.v.h.version), f.c.level()
	}
	if leg.logLevel == "" && !f.s.modern && f.c.modern {
		// A 2026-07-28 client asks for log messages per request; a legacy
		// server only has the session's level, which must be at least as
		// verbose.
		if level, _ := rawjson.String(clientMeta, metaLogLevel); level != "" {
			f.u.ensureLogLevel(level)
		}
	}
	meta := rewriteMeta(clientMeta, leg)
	if meta != nil || clientMeta != nil {
		params = rawjson.Apply(params, rawjson.Edit{Key: "_meta", Value: meta})
	}
	if err := f.s.send(f.ctx, call, f.m.method, params, f.name, f.headers); err != nil {
		f.s.forget(call)
		return nil, err
	}
	return call, nil
}

// pump passes what the server sends for call to the client until the
// answer, answering the server's requests on the way.
func (f *flight) pump(ctx context.Context, call *upCall, params []byte) {
	var relays sync.WaitGroup
	relayCtx, stopRelays := context.WithCancel(f.ctx)
	relaying := map[string]context.CancelFunc{} // the server's request id → its relay
	var relayMu sync.Mutex                      // guards relaying
	defer func() {
		stopRelays()
		relays.Wait()
	}()
	rounds := 0
	for {
		it, err := call.q.next(f.ctx, f.s.link.lost())
		if err != nil {
			f.s.forget(call)
			if f.ctx.Err() != nil {
				f.s.cancel(call, f.ctx)
				if ctx.Err() != nil && !errors.Is(context.Cause(f.ctx), errCallTimeout) {
					// The client gave up. What it may still read ends
					// the request (it ignores the answer to a request it
					// cancelled).
					f.v.fail(f.c, f.m, f.o, newError(codeInternal, "the request was cancelled"))
					return
				}
			}
			if errors.Is(err, errConnectionLost) {
				err = f.u.lostError()
			}
			f.v.fail(f.c, f.m, f.o, f.u.callError(f.ctx, f.m.method, f.timeout, err))
			return
		}
		switch it.kind {
		case itemNotification:
			f.notification(call, it.msg, &relayMu, relaying)
		case itemRequest:
			if f.c.modern {
				// A 2025 server asks a 2026-07-28 client: the client's
				// request ends with an input-required result, and the call
				// waits for its retry.
				if f.holdFor(call, it.msg) {
					return
				}
				continue
			}
			rctx, rcancel := context.WithCancel(relayCtx)
			relayMu.Lock()
			relaying[idKey(it.msg.id)] = rcancel
			relayMu.Unlock()
			req := it.msg
			relays.Go(func() {
				defer rcancel()
				f.relay(rctx, req)
				relayMu.Lock()
				delete(relaying, idKey(req.id))
				relayMu.Unlock()
			})
		case itemFailed:
			f.s.forget(call)
			f.v.fail(f.c, f.m, f.o, f.u.callError(f.ctx, f.m.method, f.timeout, it.err))
			return
		case itemResponse:
			f.s.forget(call)
			resp := it.msg
			if resp.err != nil {
				obj := resp.err
				f.o.final(appendError(nil, f.m.id, obj), errorStatus(f.c, obj))
				return
			}
			rt, _ := rawjson.String(resp.result, "resultType")
			if rt == "input_required" && !f.c.modern {
				// A 2026-07-28 server asks a 2025 client: ask the client,
				// then retry.
				resp = resp.whole()
				rounds++
				if rounds > maxRounds {
					f.v.fail(f.c, f.m, f.o, fmt.Errorf("%s kept asking for more input (%d rounds); mcptray gave up", f.u.name, maxRounds))
					return
				}
				next, err := f.inputRound(ctx, resp.result, params)
				if err != nil {
					f.v.fail(f.c, f.m, f.o, err)
					return
				}
				params = next
				if call, err = f.send(params); err != nil {
					f.v.fail(f.c, f.m, f.o, f.u.callError(f.ctx, f.m.method, f.timeout, err))
					return
				}
				continue
			}
			if rt == "task" || f.m.method == "tools/call" && hasTask(resp.result) {
				f.v.h.tasks.record(resp.result, f.u)
			}
			f.finalResult(resp)
			return
		}
	}
}

// finalResult writes the server's result with the protocol keys of the
// client's revision, the rest of it as the server wrote it. A large
// result's values go out of their rope as they are.
func (f *flight) finalResult(resp *message) {
	result := resp.result
	edits := resultEdits(result, f.c.modern, f.v.serverInfo())
	if f.c.modern && f.m.method == "resources/read" {
		edits = append(edits, cacheEdits(result)...)
	}
	if len(edits) > 0 {
		result = rawjson.Apply(result, edits...)
	}
	msg := appendResult(nil, f.m.id, result)
	if resp.large == nil {
		f.o.final(msg, 0)
		return
	}
	f.o.finalParts(resp.large.expand(msg))
	f.v.h.largePassed()
}

// cacheEdits give a cacheable result from a server that gave no caching
// hints (a legacy one) the strictest: fresh for no time, private
// (2026-07-28 requires them, server/utilities/caching).
func cacheEdits(result []byte) []rawjson.Edit {
	if rt, _ := rawjson.String(result, "resultType"); rt == "input_required" {
		return nil
	}
	var edits []rawjson.Edit
	if _, ok := rawjson.Get(result, "ttlMs"); !ok {
		edits = append(edits, rawjson.Edit{Key: "ttlMs", Value: []byte("0")})
	}
	if _, ok := rawjson.Get(result, "cacheScope"); !ok {
		edits = append(edits, rawjson.Edit{Key: "cacheScope", Value: []byte(`"private"`)})
	}
	return edits
}

// notification passes a notification of the call to the client: progress
// with the client's own token, a log message when the client asked for
// that level (named after its server), the server giving up on one of its
// requests.
func (f *flight) notification(call *upCall, n *message, relayMu *sync.Mutex, relaying map[string]context.CancelFunc) {
	switch n.method {
	case "notifications/progress":
		if call.token == nil {
			return
		}
		p := rawjson.Apply(n.params, rawjson.Edit{Key: "progressToken", Value: call.token})
		_ = f.o.send(appendNotification(nil, n.method, p))
	case "notifications/message":
		level, _ := rawjson.String(n.params, "level")
		if !wantsLog(f.c.level(), level) {
			return
		}
		_ = f.o.send(appendNotification(nil, n.method, f.v.h.namedLog(f.u, n.params)))
	case "notifications/cancelled":
		id, _ := rawjson.Get(n.params, "requestId")
		relayMu.Lock()
		cancel := relaying[idKey(id)]
		relayMu.Unlock()
		if cancel != nil {
			cancel()
		}
	}
}

// relay hands a server's request to the (2025) client of the call and its
// answer back to the server. A client without the capability gets nothing:
// the server gets the error a client without it answers.
func (f *flight) relay(ctx context.Context, req *message) {
	if !f.c.caps.supports(req.method, req.params) {
		f.s.respondError(req.id, newError(codeMethodNotFound, "the client does not support "+req.method))
		return
	}
	answer, err := f.c.sess.request(ctx, f.o, req.method, req.params)
	if err != nil {
		if ctx.Err() == nil {
			f.s.respondError(req.id, newError(codeInternal, "the client did not answer: "+err.Error()))
		}
		return
	}
	f.s.passAnswer(req.id, answer)
}

// inputRound fulfils an input-required result of a 2026-07-28 server for a
// 2025 client: each input request goes to the client as the request it
// was in 2025, and the answers make the retry's params.
func (f *flight) inputRound(ctx context.Context, result, params []byte) ([]byte, error) {
	reqs, _ := rawjson.Get(result, "inputRequests")
	state, hasState := rawjson.Get(result, "requestState")
	var edits []rawjson.Edit
	var err error
	rawjson.Each(reqs, func(m rawjson.Member) bool {
		method, _ := rawjson.String(m.Value, "method")
		p, _ := rawjson.Get(m.Value, "params")
		if !f.c.caps.supports(method, p) {
			err = newError(codeMissingCapability, f.u.name+" needs "+method+", which this client does not support")
			return false
		}
		if method == "elicitation/create" {
			if mode, _ := rawjson.String(p, "mode"); mode == "url" {
				if _, has := rawjson.Get(p, "elicitationId"); !has {
					// 2025-11-25 requires an id on URL-mode elicitations;
					// 2026-07-28 removed it.
					p = rawjson.Apply(p, rawjson.Edit{Key: "elicitationId", Value: rawjson.Quote(randomID())})
				}
			}
		}
		var answer []byte
		answer, err = f.c.sess.request(ctx, f.o, method, p)
		if err != nil {
			return false
		}
		am, perr := parseMessage(answer)
		if perr != nil {
			err = perr
			return false
		}
		if am.err != nil {
			err = &upstreamError{obj: am.err}
			return false
		}
		edits = append(edits, rawjson.Edit{Key: m.Name(), Value: am.result})
		return true
	})
	if err != nil {
		return nil, err
	}
	out := []rawjson.Edit{{Key: "inputResponses", Value: rawjson.Apply(nil, edits...)}}
	if hasState {
		out = append(out, rawjson.Edit{Key: "requestState", Value: state})
	} else {
		out = append(out, rawjson.Edit{Key: "requestState", Value: nil})
	}
	return rawjson.Apply(params, out...), nil
}

// passAnswer sends a client's answer (a whole JSON-RPC response) to the
// server's request id.
func (s *upSession) passAnswer(id, answer []byte) {
	am, err := parseMessage(answer)
	switch {
	case err != nil:
		s.respondError(id, newError(codeInternal, "the client answered with something that is not JSON-RPC"))
	case am.err != nil:
		s.sendResponse(appendError(nil, id, am.err))
	default:
		s.respond(id, am.result)
	}
}

// hasTask reports whether a 2025-11-25 result is a CreateTaskResult.
func hasTask(result []byte) bool {
	t, ok := rawjson.Get(result, "task")
	if !ok {
		return false
	}
	_, ok = rawjson.Get(t, "taskId")
	return ok
}

// callContext bounds a call by the server's timeout.
func (u *upstream) callContext(ctx context.Context) (context.Context, context.CancelFunc, time.Duration) {
	timeout := callTimeout(u.cfg.Load(), u.callTimeout)
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errCallTimeout)
	return ctx, cancel, timeout
}

// callError turns the error of a call into what the client is told.
func (u *upstream) callError(ctx context.Context, method string, timeout time.Duration, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errCallTimeout) {
		return fmt.Errorf("%s did not answer within %s; mcptray cancelled the call", u.name, timeout.Round(time.Millisecond))
	}
	var up *upstreamError
	if !errors.As(err, &up) && ctx.Err() == nil {
		u.log.Debug("call failed", "method", method, "err", err)
	}
	return err
}
