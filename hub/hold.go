package hub

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// A hold is a call to a 2025 server that waits for a 2026-07-28 client.
// The server asked, mid-call, for something only the client can give
// (sampling, elicitation, roots); a 2026-07-28 client cannot be sent a
// request, so its request ends with an input-required result carrying the
// server's requests and a requestState that names the hold. The client's
// retry, with the answers, finds the call again; the answers go to the
// server, and the retry gets what the call sends next (basic/patterns/mrtr).
//
// The requestState is signed with a key of this process: a client cannot
// make up or alter one (MRTR: requestState is attacker-controlled input).

// holdTTL bounds how long a held call waits for the client's retry.
const holdTTL = 10 * time.Minute

const holdPrefix = "mcptray.hold."

type hold struct {
	id      string
	f       *flight
	call    *upCall
	asked   map[string]*message // input key → the server's request
	expires *time.Timer
}

// holds are the calls waiting for their clients.
type holdTable struct {
	key []byte // signs requestStates

	mu   sync.Mutex // guards byID and next
	byID map[string]*hold
	next int64
}

func newHoldTable() *holdTable {
	k := make([]byte, 32)
	rand.Read(k)
	return &holdTable{key: k, byID: map[string]*hold{}}
}

// state is the requestState naming a hold: the id, and a signature over it
// and what the retry must repeat (the view, the method, the name).
func (t *holdTable) state(id string, f *flight) string {
	return holdPrefix + id + "." + t.sign(id, f.v.key, f.m.method, f.name)
}

func (t *holdTable) sign(parts ...string) string {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func isHoldState(s string) bool { return strings.HasPrefix(s, holdPrefix) }

// holdFor ends the client's request with an input-required result for the
// server's request (and any others already waiting), and keeps the call
// for the retry. It reports false when the client can answer none of them
// (the server was told so): the call goes on.
func (f *flight) holdFor(call *upCall, first *message) bool {
	t := f.v.h.holds
	t.mu.Lock()
	t.next++
	id := strconv.FormatInt(t.next, 36) + "-" + randomID()[:8]
	h := &hold{id: id, f: f, call: call, asked: map[string]*message{}}
	t.byID[id] = h
	t.mu.Unlock()
	f.mu.Lock()
	f.hold = h
	f.mu.Unlock()
	h.expires = time.AfterFunc(holdTTL, func() { t.drop(id, "the client did not come back with the answers") })
	reqs := []*message{first}
	// Requests the server sent together go out together.
	for {
		call.q.mu.Lock()
		var more *message
		if len(call.q.items) > 0 && call.q.items[0].kind == itemRequest {
			more = call.q.items[0].msg
			call.q.items[0] = item{}
			call.q.items = call.q.items[1:]
		}
		call.q.mu.Unlock()
		if more == nil {
			break
		}
		reqs = append(reqs, more)
	}
	return f.answerHold(h, reqs)
}

// answerHold writes the input-required result for the server's requests,
// and reports whether there was any the client can answer.
func (f *flight) answerHold(h *hold, reqs []*message) bool {
	var inputs []rawjson.Edit
	for _, r := range reqs {
		if !f.c.caps.supports(r.method, r.params) {
			f.s.respondError(r.id, newError(codeMethodNotFound, "the client does not support "+r.method))
			continue
		}
		key := "mcptray-" + strconv.Itoa(len(h.asked)+1)
		h.asked[key] = r
		p := r.params
		if r.method == "elicitation/create" {
			// 2026-07-28 removed elicitationId; the answer comes with the
			// retry instead.
			p = rawjson.Apply(p, rawjson.Edit{Key: "elicitationId", Value: nil})
		}
		if len(p) == 0 {
			p = []byte("{}") // go-sdk's client cannot decode an input request without params
		}
		req := []byte(`{"method":`)
		req = rawjson.AppendQuote(req, r.method)
		req = append(req, `,"params":`...)
		req = append(req, p...)
		inputs = append(inputs, rawjson.Edit{Key: key, Value: append(req, '}')})
	}
	if len(h.asked) == 0 {
		// Nothing the client can answer (the server got an error for each):
		// the call goes on.
		h.expires.Stop()
		t := f.v.h.holds
		t.mu.Lock()
		delete(t.byID, h.id)
		t.mu.Unlock()
		f.mu.Lock()
		f.hold = nil
		f.mu.Unlock()
		return false
	}
	result := []byte(`{"resultType":"input_required","inputRequests":`)
	result = append(result, rawjson.Apply(nil, inputs...)...)
	result = append(result, `,"requestState":`...)
	result = rawjson.AppendQuote(result, f.v.h.holds.state(h.id, f))
	result = append(result, '}')
	f.finalResult(&message{result: result})
	return true
}

// resume serves a 2026-07-28 client's retry of a held call.
func (v *view) resume(ctx context.Context, c *caller, m *message, o out, state string) {
	t := v.h.holds
	rest := strings.TrimPrefix(state, holdPrefix)
	id, sig, ok := strings.Cut(rest, ".")
	t.mu.Lock()
	h := t.byID[id]
	t.mu.Unlock()
	name := mcpName(m)
	if h != nil {
		name = h.f.name
	}
	if !ok || !hmac.Equal([]byte(sig), []byte(t.sign(id, v.key, m.method, name))) {
		v.fail(c, m, o, newError(codeInvalidParams, "requestState was altered, or was not made by this mcptray: call again without it"))
		return
	}
	if h == nil {
		v.fail(c, m, o, newError(codeInvalidParams, "the request this requestState continues is over (it expired, or mcptray restarted): call again without it"))
		return
	}
	t.mu.Lock()
	delete(t.byID, id) // a state works once
	t.mu.Unlock()
	h.expires.Stop()
	f := h.f
	responses, _ := rawjson.Get(m.params, "inputResponses")
	var missing []*message
	for key, req := range h.asked {
		answer, ok := rawjson.Get(responses, key)
		if !ok {
			missing = append(missing, req)
			continue
		}
		f.s.respond(req.id, answer)
	}
	// The retry takes the flight over: its answer goes to the retry, its
	// progress to the retry's token.
	f.mu.Lock()
	f.hold = nil
	f.m, f.o, f.c = m, &lockedOut{o: o}, c
	f.mu.Unlock()
	if tok, ok := rawjson.Get(m.meta(), "progressToken"); ok && string(tok) != "null" {
		h.call.token = tok
	} else {
		h.call.token = nil
	}
	if len(missing) > 0 {
		nh := &hold{id: h.id + "r", f: f, call: h.call, asked: map[string]*message{}}
		t.mu.Lock()
		t.byID[nh.id] = nh
		t.mu.Unlock()
		f.mu.Lock()
		f.hold = nh
		f.mu.Unlock()
		nh.expires = time.AfterFunc(holdTTL, func() { t.drop(nh.id, "the client did not come back with the answers") })
		if f.answerHold(nh, missing) {
			return
		}
	}
	stop := context.AfterFunc(ctx, func() {
		if !f.held() {
			f.cancel()
		}
	})
	defer func() {
		stop()
		if !f.held() {
			f.cancel()
		}
	}()
	f.pump(ctx, h.call, nil)
}

// drop forgets a hold and cancels its call.
func (t *holdTable) drop(id, why string) {
	t.mu.Lock()
	h := t.byID[id]
	delete(t.byID, id)
	t.mu.Unlock()
	if h == nil {
		return
	}
	if why != "" {
		h.f.u.log.Debug("dropping a held call", "why", why)
	}
	h.f.s.forget(h.call)
	h.f.s.cancel(h.call, h.f.ctx)
	h.f.cancel()
}

// lockedOut lets the relays of a call and its pump write to one client in
// turn.
type lockedOut struct {
	mu sync.Mutex // orders the writes
	o  out
}

func (l *lockedOut) send(msg []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.o.send(msg)
}

func (l *lockedOut) final(msg []byte, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.o.final(msg, status)
}

func (l *lockedOut) finalParts(parts [][]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.o.finalParts(parts)
}
