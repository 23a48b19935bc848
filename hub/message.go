package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// This file is the hub's view of a JSON-RPC message: its envelope read
// without copying, everything else left as the sender wrote it.

// The MCP revisions the hub speaks, newest first. Legacy revisions open a
// session with initialize; 2026-07-28 describes itself on every request.
const (
	versionModern = modernVersion
	versionLegacy = "2025-11-25" // the newest legacy revision, which the hub asks upstream servers for
)

// legacyVersions are the initialize-era revisions the hub accepts, newest
// first.
var legacyVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// supportedVersions is what the hub says it supports, newest first.
var supportedVersions = append([]string{versionModern}, legacyVersions...)

// The _meta keys MCP reserves for the protocol (2026-07-28, basic/index
// "_meta"). The hub writes its own on each leg and drops the client's.
const (
	metaPrefix          = "io.modelcontextprotocol/"
	metaProtocolVersion = metaPrefix + "protocolVersion"
	metaClientCaps      = metaPrefix + "clientCapabilities"
	metaClientInfo      = metaPrefix + "clientInfo"
	metaServerInfo      = metaPrefix + "serverInfo"
	metaLogLevel        = metaPrefix + "logLevel"
	metaSubscriptionID  = metaPrefix + "subscriptionId"
)

// JSON-RPC and MCP error codes.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternal       = -32603
	// 2026-07-28, basic/index "Error Codes".
	codeHeaderMismatch        = -32020
	codeMissingCapability     = -32021
	codeUnsupportedVersion    = -32022
	codeLegacyResourceMissing = -32002
)

// message is one JSON-RPC message. Its fields are slices of raw, which
// stays as it arrived.
type message struct {
	raw    []byte
	id     []byte // raw JSON; nil for a notification
	method string
	params []byte
	result []byte
	err    []byte // the error object, raw
	// large holds the values of a large result left in their rope:
	// result is then a stand-in with placeholders (large.go).
	large *splice
}

// Kinds of messages.
func (m *message) isRequest() bool      { return m.method != "" && m.id != nil }
func (m *message) isNotification() bool { return m.method != "" && m.id == nil }
func (m *message) isResponse() bool     { return m.method == "" && m.id != nil }

var errNotJSONRPC = errors.New("not a JSON-RPC 2.0 message")

// parseMessage reads a message's envelope. raw must be valid JSON; the
// message's fields point into it.
func parseMessage(raw []byte) (*message, error) {
	m := &message{raw: raw}
	version := false
	ok := rawjson.Each(raw, func(f rawjson.Member) bool {
		switch {
		case f.Is("jsonrpc"):
			version = string(f.Value) == `"2.0"`
		case f.Is("id"):
			if string(f.Value) != "null" {
				m.id = f.Value
			}
		case f.Is("method"):
			if len(f.Value) >= 2 && f.Value[0] == '"' {
				m.method = unquote(f.Value)
			}
		case f.Is("params"):
			m.params = f.Value
		case f.Is("result"):
			m.result = f.Value
		case f.Is("error"):
			m.err = f.Value
		}
		return true
	})
	if !ok || !version || (m.method == "" && m.id == nil) {
		return nil, errNotJSONRPC
	}
	if m.id != nil && !validID(m.id) {
		return nil, errors.New("the id of a JSON-RPC message must be a string or an integer")
	}
	if m.isResponse() && m.result == nil && m.err == nil {
		return nil, errors.New("a JSON-RPC response with neither result nor error")
	}
	return m, nil
}

// validID reports whether id is a string or an integer (MCP basic:
// "Requests MUST include a string or integer ID").
func validID(id []byte) bool {
	if id[0] == '"' {
		return true
	}
	for i, c := range id {
		if c == '-' && i == 0 {
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// unquote returns a JSON string's value.
func unquote(v []byte) string {
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// param returns a string member of the message's params.
func (m *message) param(key string) string {
	s, _ := rawjson.String(m.params, key)
	return s
}

// meta returns the message's params._meta object, or nil.
func (m *message) meta() []byte {
	v, _ := rawjson.Get(m.params, "_meta")
	if string(v) == "null" {
		return nil
	}
	return v
}

// appendRequest encodes a request.
func appendRequest(b []byte, id []byte, method string, params []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"method":`...)
	b = rawjson.AppendQuote(b, method)
	if len(params) > 0 {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, '}')
}

// appendNotification encodes a notification.
func appendNotification(b []byte, method string, params []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","method":`...)
	b = rawjson.AppendQuote(b, method)
	if len(params) > 0 {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, '}')
}

// appendResult encodes a response with a result.
func appendResult(b []byte, id, result []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, '}')
}

// appendError encodes a response with an error object, as raw JSON.
func appendError(b []byte, id, errObj []byte) []byte {
	if id == nil {
		id = []byte("null")
	}
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"error":`...)
	b = append(b, errObj...)
	return append(b, '}')
}

// rpcError is an error the hub answers with itself.
type rpcError struct {
	Code    int
	Message string
	Data    json.RawMessage // raw JSON, or nil
}

func (e *rpcError) Error() string { return e.Message }

// encode writes the error object.
func (e *rpcError) encode() []byte {
	b := make([]byte, 0, len(e.Message)+64)
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, `,"message":`...)
	b = rawjson.AppendQuote(b, e.Message)
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, e.Data...)
	}
	return append(b, '}')
}

func newError(code int, msg string) *rpcError { return &rpcError{Code: code, Message: msg} }

// upstreamError is a JSON-RPC error an upstream server answered: it goes to
// the client as the server wrote it, code, message and data.
type upstreamError struct{ obj []byte }

func (e *upstreamError) Error() string {
	var v struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(e.obj, &v)
	return v.Message
}

// code returns the error's code.
func (e *upstreamError) code() int {
	v, _ := rawjson.Get(e.obj, "code")
	n, _ := strconv.Atoi(string(v))
	return n
}

// errorObject is the JSON-RPC error object a client gets for err.
func errorObject(err error) []byte {
	var up *upstreamError
	if errors.As(err, &up) {
		return up.obj
	}
	var re *rpcError
	if errors.As(err, &re) {
		return re.encode()
	}
	return newError(codeInternal, err.Error()).encode()
}

// idKey makes a lookup key of a raw JSON id: JSON-RPC tells the number 1
// from the string "1", and so does the key; a sender writes its own ids the
// same way each time.
func idKey(id []byte) string { return string(bytes.TrimSpace(id)) }

// parseIntID reads back an id the hub wrote (an integer).
func parseIntID(id []byte) (int64, bool) {
	s := strings.TrimSpace(string(id))
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
