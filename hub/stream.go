package hub

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// This file writes what a request sends back to its client: one JSON
// answer, or an SSE stream of the messages that come before the answer
// (progress, log messages, the server's requests) and then the answer. The
// choice is made at the first message: a call that sends nothing before its
// answer gets a plain JSON response.
//
// A legacy session's streams are resumable (2025-11-25, basic/transports
// "Resumability and Redelivery"): events carry ids of the form
// STREAM_SEQ, the last ones are kept, and a client that lost the
// connection gets the rest with a GET carrying Last-Event-ID. 2026-07-28
// has no resumability: a broken stream cancels the request.

// Bounds of what a stream keeps for a client that comes back.
const (
	keptEvents   = 64
	keptBytes    = 4 << 20
	streamLinger = 2 * time.Minute // a finished stream can be resumed this long
	retryMillis  = 1000            // the SSE retry hint
)

// out is where one request's messages go, in order.
type out interface {
	// send writes a message that comes before the answer.
	send(msg []byte) error
	// final writes the answer; status is the HTTP status a JSON answer gets
	// (2026-07-28 answers errors with 4xx).
	final(msg []byte, status int)
	// finalParts writes a result in parts, written one after the other:
	// a large result, whose values stay in their rope (large.go).
	finalParts(parts [][]byte)
}

// stream is one SSE stream of a legacy session: a POST's response, or the
// standalone GET stream.
type stream struct {
	id string

	mu     sync.Mutex // guards w, seq, kept, size, done, ended; writes hold it so events keep their order
	w      *sseWriter // the connection writing it now, or nil while none does
	seq    int64
	kept   []event
	size   int
	done   bool          // its last event is written
	ended  time.Time     // when
	finish chan struct{} // closed when done
}

// event is one message on a stream: data, or parts (a large result) to
// be written one after the other.
type event struct {
	seq   int64
	data  []byte
	parts [][]byte
}

func (e event) size() int {
	n := len(e.data)
	for _, p := range e.parts {
		n += len(p)
	}
	return n
}

func newStream(id string) *stream { return &stream{id: id, finish: make(chan struct{})} }

// write adds a message; last ends the stream. A last message without data
// ends it with no event.
func (s *stream) write(data []byte, last bool) { s.add(event{data: data}, last) }

// writeParts adds a message in parts.
func (s *stream) writeParts(parts [][]byte, last bool) { s.add(event{parts: parts}, last) }

// add adds an event: it is kept for a resumption and written to the
// connection, if one is attached. A connection that fails is let go; the
// events after it wait for a resumption. Once the last event is written,
// nothing is kept: the client has the whole stream (and a large answer
// would stay in memory for the linger otherwise, issue 11).
func (s *stream) add(e event, last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	if e.data != nil || e.parts != nil || !last {
		s.seq++
		e.seq = s.seq
		s.kept = append(s.kept, e)
		s.size += e.size()
		for len(s.kept) > keptEvents || s.size > keptBytes && len(s.kept) > 1 {
			s.size -= s.kept[0].size()
			s.kept[0] = event{}
			s.kept = s.kept[1:]
		}
		if s.w != nil && s.w.event(s.id, e) != nil {
			s.w = nil
		}
	}
	if last {
		s.done, s.ended = true, time.Now()
		close(s.finish)
		if s.w != nil {
			s.kept, s.size = nil, 0
		}
	}
}

// attach makes w the stream's connection, after replaying the events after
// seq, and returns a channel closed when the stream is done.
func (s *stream) attach(w *sseWriter, after int64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.kept {
		if e.seq > after && w.event(s.id, e) != nil {
			return s.finish
		}
	}
	if !s.done {
		s.w = w
	}
	return s.finish
}

// detach lets go of w, if it is still the stream's connection.
func (s *stream) detach(w *sseWriter) {
	s.mu.Lock()
	if s.w == w {
		s.w = nil
	}
	s.mu.Unlock()
}

// sseWriter writes SSE events to one HTTP response.
type sseWriter struct {
	w  io.Writer
	bw *bufio.Writer
	f  http.Flusher
}

// startSSE sends the headers of an event stream and returns its writer.
func startSSE(w http.ResponseWriter, hdr func(http.Header)) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // 2026-07-28: proxies must not hold events back
	if hdr != nil {
		hdr(h)
	}
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return &sseWriter{w: w, bw: bufio.NewWriterSize(w, 4096), f: f}
}

// event writes one event: with an id (a resumable stream's) or without.
func (s *sseWriter) event(stream string, e event) error {
	if stream != "" {
		s.bw.WriteString("id: ")
		s.bw.WriteString(stream)
		s.bw.WriteByte('_')
		s.bw.WriteString(strconv.FormatInt(e.seq, 10))
		s.bw.WriteByte('\n')
	}
	s.bw.WriteString("event: message\ndata: ")
	// One line: JSON-RPC messages carry no raw newlines.
	s.bw.Write(e.data)
	for _, p := range e.parts {
		s.bw.Write(p) // a large part goes straight through, unbuffered
	}
	s.bw.WriteString("\n\n")
	return s.flush()
}

// comment writes an SSE comment: a keep-alive, or the retry hint.
func (s *sseWriter) raw(line string) error {
	s.bw.WriteString(line)
	return s.flush()
}

func (s *sseWriter) flush() error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if s.f != nil {
		s.f.Flush()
	}
	return nil
}

// httpOut is the answer of one POSTed request.
type httpOut struct {
	mu   sync.Mutex // guards st, for resumable
	w    http.ResponseWriter
	hdr  func(http.Header) // headers to add (Mcp-Session-Id)
	sess *downSession      // a legacy session: its streams are resumable
	sse  *sseWriter
	st   *stream
	err  error // the connection failed
}

// resumable reports whether the client can come back for the rest of the
// answer: it got a resumable stream's first event.
func (o *httpOut) resumable() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st != nil
}

func (o *httpOut) begin() {
	o.sse = startSSE(o.w, o.hdr)
	if o.sess != nil {
		st := o.sess.newStream()
		o.sse.raw("retry: " + strconv.Itoa(retryMillis) + "\n\n")
		st.attach(o.sse, 0)
		o.mu.Lock()
		o.st = st
		o.mu.Unlock()
	}
}

func (o *httpOut) send(msg []byte) error {
	if o.sse == nil {
		o.begin()
	}
	if o.st != nil {
		o.st.write(msg, false)
		return nil // what the connection misses waits for a resumption
	}
	if o.err == nil {
		o.err = o.sse.event("", event{data: msg})
	}
	return o.err
}

func (o *httpOut) final(msg []byte, status int) { o.finish(event{data: msg}, status) }

func (o *httpOut) finalParts(parts [][]byte) { o.finish(event{parts: parts}, 0) }

// finish writes the answer: the JSON body, or the stream's last event.
func (o *httpOut) finish(e event, status int) {
	if o.sse == nil {
		h := o.w.Header()
		h.Set("Content-Type", "application/json")
		if o.hdr != nil {
			o.hdr(h)
		}
		if status == 0 {
			status = http.StatusOK
		}
		o.w.WriteHeader(status)
		_, _ = o.w.Write(e.data)
		for _, p := range e.parts {
			if _, err := o.w.Write(p); err != nil {
				return
			}
		}
		return
	}
	if o.st != nil {
		o.st.add(e, true)
		return
	}
	if o.err == nil {
		o.err = o.sse.event("", e)
	}
}

// sessionOut sends a request's messages on its session's one stream: the
// 2024-11-05 HTTP+SSE transport, and the messages of a legacy session that
// belong to no request (the GET stream).
type sessionOut struct{ sess *downSession }

func (o sessionOut) send(msg []byte) error     { return o.sess.push(msg) }
func (o sessionOut) final(msg []byte, _ int)   { _ = o.sess.push(msg) }
func (o sessionOut) finalParts(parts [][]byte) { _ = o.sess.pushEvent(event{parts: parts}) }
