package hub

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/mcptray/mcptray/hub/internal/rope"
)

// This file passes large results through without copying them (issue 11:
// a 50 MB tool result once cost the hub 150 MB, and most of it stayed).
//
// A link reads a message over largeMessage into a rope: blocks filled in
// order, never copied. When the message is a response whose result is an
// object, the hub works on a stand-in: the same envelope and result, in
// which each member value over largeValue is replaced by a placeholder.
// Everything that reads or edits a result (its resultType, a task's id,
// the protocol keys of the client's revision) works on the stand-in as on
// any result, and only the writer of the answer puts the server's bytes
// back, as views of the rope, written as they are. What needs the whole
// result (the hub's own requests, a 2026-07-28 server asking a 2025 client
// for input) gets it assembled, with message.whole.

const (
	// largeMessage is the size over which a link reads a message into a
	// rope.
	largeMessage = 1 << 20
	// largeValue is the size over which a value of a large result is left
	// in its rope.
	largeValue = 64 << 10
	// ropeFrom is the size from which a link reads a message into a rope,
	// rather than a growing buffer; up to largeMessage the rope is then
	// made one buffer of the message's size.
	ropeFrom = 64 << 10
)

// placeholderPrefix starts each placeholder: a JSON string no server can
// write by chance, as it holds a NUL and a random number of this process.
var placeholderPrefix = func() []byte {
	var n [8]byte
	_, _ = rand.Read(n[:])
	return []byte(`"\u0000mcptray-large-` + hex.EncodeToString(n[:]) + `-`)
}()

// splice is the values of a result left in their rope, by the number of
// their placeholder.
type splice struct {
	values [][][]byte
}

// placeholder appends the placeholder of value i.
func appendPlaceholder(b []byte, i int) []byte {
	b = append(b, placeholderPrefix...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, '"')
}

// expand returns msg with the values put back in place of their
// placeholders: msg's own bytes and the values' views, in order.
func (sp *splice) expand(msg []byte) [][]byte {
	parts := make([][]byte, 0, 2*len(sp.values)+1)
	for {
		at := bytes.Index(msg, placeholderPrefix)
		if at < 0 {
			break
		}
		end := bytes.IndexByte(msg[at+len(placeholderPrefix):], '"')
		if end < 0 {
			break
		}
		end += at + len(placeholderPrefix)
		i, err := strconv.Atoi(string(msg[at+len(placeholderPrefix) : end]))
		if err != nil || i < 0 || i >= len(sp.values) {
			break
		}
		parts = append(parts, msg[:at])
		parts = append(parts, sp.values[i]...)
		msg = msg[end+1:]
	}
	return append(parts, msg)
}

// whole returns the message with its large values in place, in one
// buffer; a message without any is returned as it is.
func (m *message) whole() *message {
	if m.large == nil {
		return m
	}
	w, err := parseMessage(bytes.Join(m.large.expand(m.raw), nil))
	if err != nil {
		return m // cannot be: the parts are checked JSON
	}
	return w
}

// size returns the number of bytes of the message's values left in the
// rope.
func (sp *splice) size() int {
	n := 0
	for _, v := range sp.values {
		for _, p := range v {
			n += len(p)
		}
	}
	return n
}

// standIn makes the stand-in of a large response from its outline: the
// envelope and the result with placeholders, and the values they stand
// for. It returns nil for a message that is not a response with a result
// object, or whose values are all small: those are used whole.
func standIn(r *rope.Rope, out *rope.Outline) ([]byte, *splice) {
	if out.Kind != '{' {
		return nil, nil
	}
	sp := &splice{}
	env := make([]byte, 0, 4096)
	env = append(env, '{')
	for i, m := range out.Members {
		if i > 0 {
			env = append(env, ',')
		}
		key := r.Copy(m.KeyFrom, m.KeyTo)
		env = append(env, key...)
		env = append(env, ':')
		if string(key) != `"result"` {
			if m.To-m.From > largeValue {
				return nil, nil // a large id, error or params: not a result to pass through
			}
			env = append(env, r.Copy(m.From, m.To)...)
			continue
		}
		if r.Copy(m.From, m.From+1)[0] != '{' {
			return nil, nil
		}
		env = append(env, '{')
		for j, im := range out.Inner[i] {
			if j > 0 {
				env = append(env, ',')
			}
			env = append(env, r.Copy(im.KeyFrom, im.KeyTo)...)
			env = append(env, ':')
			if im.To-im.From <= largeValue {
				env = append(env, r.Copy(im.From, im.To)...)
				continue
			}
			env = appendPlaceholder(env, len(sp.values))
			sp.values = append(sp.values, r.Slice(im.From, im.To))
		}
		env = append(env, '}')
	}
	env = append(env, '}')
	if len(sp.values) == 0 {
		return nil, nil
	}
	return env, sp
}

// deliverLarge is deliver for a message a link read into a rope. It
// reports whether the message was (or held) the response to the request
// via names.
func (s *upSession) deliverLarge(r *rope.Rope, via json.RawMessage) (answered bool) {
	if s.largePassed != nil {
		defer s.largePassed()
	}
	out, err := rope.Scan(r)
	if err != nil {
		s.log.Warn("the server sent something that is not JSON", "bytes", r.Len())
		return false
	}
	if env, sp := standIn(r, out); env != nil {
		m, err := parseMessage(env)
		if err == nil && m.isResponse() && m.result != nil {
			m.large = sp
			s.dispatch(m, via)
			return responseTo(env, via)
		}
	}
	eachMessage(r.Bytes(), func(msg []byte) {
		s.deliver(msg, via)
		answered = answered || responseTo(msg, via)
	})
	return answered
}
