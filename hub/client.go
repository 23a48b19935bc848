package hub

import (
	"sync"
	"sync/atomic"
	"time"
)

// caller is a downstream client as one request sees it. A 2026-07-28 client
// describes itself on every request, so each request has its own; a legacy
// client's is its session's.
type caller struct {
	modern   bool
	version  string
	caps     clientCaps
	info     []byte // clientInfo, raw
	logLevel string // 2026-07-28: the request's io.modelcontextprotocol/logLevel
	sess     *downSession

	capsOnce sync.Once
	capsJSON []byte // caps in 2026 shape, for modern upstream legs
}

// modernCaps returns the client's capabilities as a 2026-07-28 request
// declares them.
func (c *caller) modernCaps() []byte {
	c.capsOnce.Do(func() { c.capsJSON = c.caps.modernJSON() })
	return c.capsJSON
}

// level returns the log level the client asked for, "" for none.
func (c *caller) level() string {
	if c.sess != nil {
		if l := c.sess.logLevel.Load(); l != nil {
			return *l
		}
		return ""
	}
	return c.logLevel
}

// logLevels orders the syslog levels of MCP logging (RFC 5424), least
// severe first.
var logLevels = map[string]int{"debug": 0, "info": 1, "notice": 2, "warning": 3, "error": 4, "critical": 5, "alert": 6, "emergency": 7}

// wantsLog reports whether a client that asked for level wants a message
// of msgLevel.
func wantsLog(level, msgLevel string) bool {
	want, ok := logLevels[level]
	if !ok {
		return false
	}
	got, ok := logLevels[msgLevel]
	return !ok || got >= want
}

// downSession is a legacy client's session: Streamable HTTP's Mcp-Session-Id
// (2025-03-26 … 2025-11-25), or one HTTP+SSE connection (2024-11-05). It is
// kept small: an idle session costs its struct and its client's info.
type downSession struct {
	id     string
	view   *view
	client *caller
	sse    bool // the 2024-11-05 transport: every message on the one stream

	logLevel   atomic.Pointer[string] // logging/setLevel
	lastActive atomic.Int64           // Unix ns
	closed     atomic.Bool
	done       chan struct{} // closed when the session ends

	// mu guards everything below, each made when first needed.
	mu      sync.Mutex
	get     *stream                // the GET stream (or the SSE transport's stream)
	streams map[string]*stream     // by id, for Last-Event-ID
	nextStr int                    // for stream ids
	pending map[string]chan []byte // the session's requests to the client, by id: its answers
	nextReq int64                  // for those ids
	calls   map[string]func()      // the client's requests in flight, by id: cancels them
	subs    map[string]bool        // resources/subscribe, by URI
}

func (s *downSession) touch() { s.lastActive.Store(time.Now().UnixNano()) }
