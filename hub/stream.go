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

type event struct {
	seq  int64
	data []byte
}

func newStream(id string) *stream { return &stream{id: id, finish: make(chan struct{})} }

// write adds an event: it is kept for a resumption and written to the
// connection, if one is attached. A connection that fails is let go; the
// events after it wait for a resumption.
func (s *stream) write(data []byte, last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.seq++
	s.kept = append(s.kept, event{seq: s.seq, data: data})
	s.size += len(data)
	for len(s.kept) > keptEvents || s.size > keptBytes && len(s.kept) > 1 {
		s.size -= len(s.kept[0].data)
		s.kept[0] = event{}
		s.kept = s.kept[1:]
	}
	if s.w != nil && s.w.event(s.id, s.seq, data) != nil {
		s.w = nil
	}
	if last {
		s.done, s.ended = true, time.Now()
		close(s.finish)
	}
}

// attach makes w the stream's connection, after replaying the events after
// seq, and returns a channel closed when the stream is done.
func (s *stream) attach(w *sseWriter, after int64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.kept {
		if e.seq > after && w.event(s.id, e.seq, e.data) != nil {
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

// event writes one event: with an id (a resumable stream) or without.
func (s *sseWriter) event(stream string, seq int64, data []byte) error {
	if stream != "" {
		s.bw.WriteString("id: ")
		s.bw.WriteString(stream)
		s.bw.WriteByte('_')
		s.bw.WriteString(strconv.FormatInt(seq, 10))
		s.bw.WriteByte('\n')
	}
	s.bw.WriteString("event: message\ndata: ")
	s.bw.Write(data) // one line: JSON-RPC messages carry no raw newlines
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
		o.err = o.sse.event("", 0, msg)
	}
	return o.err
}

func (o *httpOut) final(msg []byte, status int) {
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
		_, _ = o.w.Write(msg)
		return
	}
	if o.st != nil {
		o.st.write(msg, true)
		return
	}
	if o.err == nil {
		o.err = o.sse.event("", 0, msg)
	}
}

// sessionOut sends a request's messages on its session's one stream: the
// 2024-11-05 HTTP+SSE transport, and the messages of a legacy session that
// belong to no request (the GET stream).
type sessionOut struct{ sess *downSession }

func (o sessionOut) send(msg []byte) error   { return o.sess.push(msg) }
func (o sessionOut) final(msg []byte, _ int) { _ = o.sess.push(msg) }
