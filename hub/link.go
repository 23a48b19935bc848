package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
	"github.com/mcptray/mcptray/hub/internal/rope"
)

// link is one upstream connection's transport: it carries raw JSON-RPC
// messages to and from one upstream server and decodes nothing but what it
// must (whether a message on a request's stream is that request's
// response). There are three: streamable HTTP (httpLink, both protocol
// eras), the 2024-11-05 HTTP+SSE transport (sseLink) and stdio (stdioLink).
//
// Ownership: a link's own goroutines (the stdio reader, the SSE stream, the
// 2025 GET stream) belong to it; they end when the ctx given to start ends
// or close is called, and close waits for them. close must be called once
// the link is no longer wanted, whatever happened before.
type link interface {
	// start connects. From then on every message the server sends comes to
	// the sink, in the order the server sent it, with via: the id (raw JSON)
	// of the request whose HTTP response stream carried it, or nil when it
	// came on a channel shared by all requests (stdio, the legacy SSE
	// stream, the 2025 GET stream). deliver must not block for long. msg is
	// the receiver's: the link never touches it again. It is one JSON-RPC
	// message (a batch is split into its messages), valid JSON, at most
	// maxMessage bytes.
	//
	// Order holds per stream. Over streamable HTTP each stream is read on
	// its own goroutine (the sender's for a POST's stream, the link's for
	// the GET stream), so deliver may run on several at once; over stdio
	// and SSE it runs on the link's one reading goroutine.
	//
	// ctx is the link's lifetime: when it ends the link closes.
	start(ctx context.Context, to sink) error
	// send sends one message. For a request over streamable HTTP it returns
	// once the POST's answer has been read: a JSON body, or an SSE stream to
	// the request's response (every message on it goes to deliver with via
	// = the request's id, the response included). For stdio and SSE it
	// returns once written. Cancelling ctx abandons the request: the HTTP
	// stream is closed (2026: that is the cancellation).
	send(ctx context.Context, msg []byte, h sendInfo) error
	// lost is closed when the connection is gone for good (the process
	// exited, the SSE stream ended and cannot come back), or close was
	// called. Streamable HTTP has no connection to lose: its lost closes
	// only with close.
	lost() <-chan struct{}
	close() error
}

// sink is where a link's messages go: the upSession.
type sink interface {
	// deliver takes one message (see link.start).
	deliver(msg []byte, via json.RawMessage)
	// deliverLarge takes a message over largeMessage, which the link read
	// into a rope rather than one buffer (issue 11), unchecked and unsplit
	// (it may be a batch). It reports whether the message was, or held,
	// the response to the request via names: the end of that request's
	// stream.
	deliverLarge(r *rope.Rope, via json.RawMessage) (answered bool)
}

// deliverFunc is a sink of one function, which gets large messages whole:
// for tests of the links.
type deliverFunc func(msg []byte, via json.RawMessage)

func (f deliverFunc) deliver(msg []byte, via json.RawMessage) { f(msg, via) }

func (f deliverFunc) deliverLarge(r *rope.Rope, via json.RawMessage) (answered bool) {
	eachMessage(r.Bytes(), func(m []byte) {
		f(m, via)
		answered = answered || responseTo(m, via)
	})
	return answered
}

// sendInfo is what a link needs to know of a message besides its bytes:
// streamable HTTP mirrors these into headers.
type sendInfo struct {
	id      json.RawMessage   // of a request; nil for a notification or a response
	method  string            // Mcp-Method (2026-07-28); also tells the HTTP link an initialize apart
	name    string            // Mcp-Name: params.name or params.uri (tools/call, prompts/get, resources/read)
	params  map[string]string // Mcp-Param-{Name} values, already chosen from the tool's x-mcp-header
	version string            // MCP-Protocol-Version header; "" before initialize
}

// modernVersion is the first MCP revision without sessions or handshake
// (2026-07-28 changelog): from it on, requests carry Mcp-Method and
// Mcp-Name and streams cannot be resumed. Revisions are dates, so they
// compare as strings.
const modernVersion = "2026-07-28"

func isModern(version string) bool { return version >= modernVersion }

// errSessionExpired is the error of a request that carried a session id
// and was answered 404: the server ended the session, and the client must
// initialize a new one (2025-11-25 streamable HTTP, "Session Management",
// 4). It wraps the *httpStatusError of the answer.
var errSessionExpired = errors.New("the server's session expired")

// errNoResponse is the error of a request whose response stream ended (or
// broke, and could not be resumed) before the response came.
var errNoResponse = errors.New("the server ended the stream without a response")

// errLinkClosed is the error of a send on a closed link.
var errLinkClosed = errors.New("link closed")

// maxErrorBody bounds what an httpStatusError keeps of the answer's body:
// enough for any JSON-RPC error object a server sends with a 4xx.
const maxErrorBody = 64 << 10

// httpStatusError is a non-2xx answer. The session layer reads Body to tell
// a modern server's JSON-RPC error (HTTP 400 with -32022, -32020 or -32602,
// 404 with -32601: streamable-http.mdx, "Backward Compatibility") from a
// legacy server's plain 400, 404 or 405, and to pass an ordinary JSON-RPC
// error answered with a 4xx on as the request's response.
type httpStatusError struct {
	Status      int
	ContentType string
	Body        []byte // at most maxErrorBody bytes of the answer's body
}

func (e *httpStatusError) Error() string {
	msg := "HTTP " + strconv.Itoa(e.Status)
	if t := httpStatusText(e.Status); t != "" {
		msg += " " + t
	}
	if p := bodyPreview(e.Body); p != "" {
		msg += ": " + p
	}
	return msg
}

// rpcError returns the body's JSON-RPC error object and its code when the
// body is a JSON-RPC error response (with or without an id).
func (e *httpStatusError) rpcError() (code int64, obj json.RawMessage, ok bool) {
	body := bytes.TrimSpace(e.Body)
	if len(body) == 0 || body[0] != '{' || !json.Valid(body) {
		return 0, nil, false
	}
	errObj, ok := rawjson.Get(body, "error")
	if !ok || len(errObj) == 0 || errObj[0] != '{' {
		return 0, nil, false
	}
	c, ok := rawjson.Get(errObj, "code")
	if !ok {
		return 0, nil, false
	}
	n, err := strconv.ParseInt(string(c), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	return n, errObj, true
}

// bodyPreview is the start of a body for an error message: printable
// ASCII only, at most 120 bytes, so that neither a large body nor control
// characters reach a log line.
func bodyPreview(b []byte) string {
	const n = 120
	b = bytes.TrimSpace(b)
	cut := len(b) > n
	if cut {
		b = b[:n]
	}
	out := make([]byte, 0, len(b)+3)
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out = append(out, c)
	}
	if cut {
		out = append(out, "..."...)
	}
	return string(out)
}

func httpStatusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 406:
		return "Not Acceptable"
	case 409:
		return "Conflict"
	case 415:
		return "Unsupported Media Type"
	case 429:
		return "Too Many Requests"
	case 500:
		return "Internal Server Error"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	}
	return ""
}

// eachMessage calls fn for each message of one JSON value a server sent: the
// value itself, or each element of a batch (JSON-RPC 2.0, "Batch"; servers
// before 2025-06-18 may send them). The elements are slices of value. It
// reports false when value is not valid JSON or not an object or array of
// objects. A JSON object that is no JSON-RPC message at all (no id, method,
// result or error, such as the "{}" the TypeScript SDK's event stores
// replay for their priming events) is skipped.
func eachMessage(value []byte, fn func(msg []byte)) bool {
	value = bytes.TrimSpace(value)
	if len(value) == 0 || !json.Valid(value) {
		return false
	}
	switch value[0] {
	case '{':
		if isMessage(value) {
			fn(value)
		}
		return true
	case '[':
		ok := true
		eachElement(value, func(el []byte) {
			if len(el) == 0 || el[0] != '{' {
				ok = false
				return
			}
			if isMessage(el) {
				fn(el)
			}
		})
		return ok
	}
	return false
}

// isMessage reports whether obj has any of the members of a JSON-RPC
// message.
func isMessage(obj []byte) bool {
	found := false
	rawjson.Each(obj, func(m rawjson.Member) bool {
		if m.Is("id") || m.Is("method") || m.Is("result") || m.Is("error") {
			found = true
			return false
		}
		return true
	})
	return found
}

// eachElement calls fn with each element of a valid JSON array.
func eachElement(arr []byte, fn func(el []byte)) {
	// A batch is rare: decoding it into raw elements costs one slice.
	var els []json.RawMessage
	if json.Unmarshal(arr, &els) != nil {
		return
	}
	for _, el := range els {
		fn(bytes.TrimSpace(el))
	}
}

// responseTo reports whether msg is the response to the request with id:
// it has an id equal to id, and no method.
func responseTo(msg []byte, id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	var got []byte
	hasID, hasMethod := false, false
	rawjson.Each(msg, func(m rawjson.Member) bool {
		switch {
		case m.Is("id"):
			got, hasID = m.Value, true
		case m.Is("method"):
			hasMethod = true
			return false
		}
		return true
	})
	return hasID && !hasMethod && sameID(got, id)
}

// sameID compares two JSON-RPC ids as JSON values: the bytes, or failing
// that their decoded values (1 and 1.0, "a" and "\u0061").
func sameID(a, b []byte) bool {
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	if bytes.Equal(a, b) {
		return true
	}
	if len(a) == 0 || len(b) == 0 || (a[0] == '"') != (b[0] == '"') {
		return false
	}
	if a[0] == '"' {
		var x, y string
		return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x == y
	}
	var x, y json.Number
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	fx, err1 := x.Float64()
	fy, err2 := y.Float64()
	return err1 == nil && err2 == nil && fx == fy
}

// tooLarge is the error of a message over the bound.
func tooLarge(max int) error {
	if max >= 1<<20 {
		return fmt.Errorf("%w: over %d MiB", ErrResponseTooLarge, max>>20)
	}
	return fmt.Errorf("%w: over %d bytes", ErrResponseTooLarge, max)
}
