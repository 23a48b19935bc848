package hub

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/mcptray/mcptray/hub/internal/rope"
)

// eventReader reads a text/event-stream incrementally, as the HTML Living
// Standard's "Server-sent events" interprets one (9.2.6, "Interpreting an
// event stream"): lines end with CRLF, LF or CR; a line starting with a
// colon is a comment; data lines are joined with LF; id sets the last event
// ID (unless it holds a NUL); retry sets the reconnection time when it is
// all digits; a blank line dispatches the event; what is pending at the
// end of the stream is dropped. A leading UTF-8 BOM is skipped.
//
// One event's data is bounded by max: an event over it is still read to
// its end (and its data dropped) and comes out with tooLarge set, so that
// the stream can go on. The reader keeps its buffers across events; an
// event's bytes are valid until the next call of next. A data line over
// ropeFrom goes into a rope instead, whose blocks are never copied, as a
// growing buffer's would be (issue 11); an event over largeMessage hands
// the rope over.
type eventReader struct {
	r   io.Reader
	max int

	bufs       *eventBufs // pooled: buf and data
	start, end int        // the unread bytes, bufs.buf[start:end]
	rerr       error      // what r returned last, once it returned an error
	bomChecked bool
	skipLF     bool // the last line ended with CR: a LF right after is part of it
	discarding bool // the current line is over the bound: drop it up to its end
	spilling   bool // the current line is a data line going into big

	// The event being assembled.
	hasData bool
	over    bool       // its data went over max
	typ     []byte     // the event type buffer
	big     *rope.Rope // the data, once a line of it was over ropeFrom
	idBuf   []byte     // the last event ID buffer, which outlives events

	// lastID is the last event ID string: set when an event is dispatched
	// (dispatched or not for want of data), so it names the last event
	// this side has seen whole, which is what Last-Event-ID must name.
	lastID string
	// retry is the reconnection time the server asked for; 0 when it gave
	// none.
	retry time.Duration
}

// sseEvent is one dispatched event.
type sseEvent struct {
	typ      []byte     // empty for the default type, "message"
	data     []byte     // unless big holds it
	big      *rope.Rope // the data of an event with a line over largeMessage; the receiver's
	tooLarge bool
}

// isMessage reports whether the event has the default type, which is the
// one MCP's JSON-RPC messages travel in.
func (e sseEvent) isMessage() bool {
	return len(e.typ) == 0 || string(e.typ) == "message"
}

type eventBufs struct {
	buf  []byte
	data []byte
}

// eventBufPool keeps the buffers of finished streams; the first read
// buffer is small because most events are.
var eventBufPool = sync.Pool{New: func() any { return &eventBufs{buf: make([]byte, 16<<10)} }}

// maxPooledBuf is the largest buffer given back to the pool: one huge
// message must not pin its memory for good.
const maxPooledBuf = 1 << 20

// lineSlack is how much longer than max one line may be: a data line is
// "data: " and the message.
const lineSlack = 64

func newEventReader(r io.Reader, max int) *eventReader {
	return &eventReader{r: r, max: max, bufs: eventBufPool.Get().(*eventBufs)}
}

// reset makes the reader read a new body (a resumed stream), keeping the
// last event ID and the reconnection time.
func (r *eventReader) reset(body io.Reader) {
	r.r = body
	r.start, r.end, r.rerr = 0, 0, nil
	r.bomChecked, r.skipLF, r.discarding, r.spilling = false, false, false, false
	r.hasData, r.over, r.big = false, false, nil
	r.typ = r.typ[:0]
	r.bufs.data = r.bufs.data[:0]
}

// eof reports whether the body has ended (or failed) and every byte read
// from it was used: there is nothing more to read.
func (r *eventReader) eof() bool { return r.rerr != nil && r.start == r.end }

// release gives the buffers back; the reader must not be used after.
func (r *eventReader) release() {
	b := r.bufs
	r.bufs = nil
	if b == nil || cap(b.buf) > maxPooledBuf || cap(b.data) > maxPooledBuf {
		return
	}
	b.data = b.data[:0]
	eventBufPool.Put(b)
}

// next returns the next event, or the body's error (io.EOF at its end).
func (r *eventReader) next() (sseEvent, error) {
	for {
		line, long, spilled, err := r.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if long {
			r.over = true
			continue
		}
		if spilled {
			r.hasData = true
			continue
		}
		if len(line) == 0 {
			if string(r.idBuf) != r.lastID {
				r.lastID = string(r.idBuf)
			}
			if !r.hasData && !r.over {
				r.typ = r.typ[:0]
				continue
			}
			ev := sseEvent{typ: r.typ, data: r.bufs.data, big: r.big, tooLarge: r.over}
			switch {
			case r.over:
				ev.data, ev.big = nil, nil
			case r.big != nil && r.big.Len() <= largeMessage:
				ev.data, ev.big = r.big.Bytes(), nil
			}
			r.typ = r.typ[:0]
			r.bufs.data = r.bufs.data[:0]
			r.hasData, r.over, r.big = false, false, nil
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, line[len(line):]
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			field, value = line[:c], line[c+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if r.over {
				break
			}
			if r.big != nil {
				r.big.WriteByte('\n')
				r.big.Write(value)
				if r.big.Len() > r.max {
					r.over, r.big = true, nil
				}
				break
			}
			d := r.bufs.data
			if r.hasData {
				d = append(d, '\n')
			}
			if len(d)+len(value) > r.max {
				r.over = true
				r.bufs.data = d[:0]
				break
			}
			r.bufs.data = append(d, value...)
			r.hasData = true
		case "event":
			r.typ = append(r.typ[:0], value...)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.idBuf = append(r.idBuf[:0], value...)
			}
		case "retry":
			if ms, ok := digits(value); ok {
				r.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// digits parses a non-empty run of ASCII digits; absurd values saturate at
// a day.
func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 86_400_000 {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, 86_400_000), true
}

// readLine returns the next line without its end, valid until the next
// call; long is set instead for a line over the bound, which is dropped,
// and spilled for a data line over ropeFrom, whose value went into
// r.big. A line the body ends in without a line end is dropped, as the
// standard says.
func (r *eventReader) readLine() (line []byte, long, spilled bool, err error) {
	for {
		buf := r.bufs.buf
		if r.skipLF && r.start < r.end {
			if buf[r.start] == '\n' {
				r.start++
			}
			r.skipLF = false
		}
		seg := buf[r.start:r.end]
		if i := indexLineEnd(seg); i >= 0 {
			line = seg[:i]
			r.start += i + 1
			if seg[i] == '\r' {
				if i+1 < len(seg) {
					if seg[i+1] == '\n' {
						r.start++
					}
				} else {
					r.skipLF = true
				}
			}
			if r.discarding {
				r.discarding = false
				return nil, true, false, nil
			}
			if r.spilling {
				r.spilling = false
				r.big.Write(line)
				if r.big.Len() > r.max {
					r.big = nil
					return nil, true, false, nil
				}
				return nil, false, true, nil
			}
			if !r.bomChecked {
				r.bomChecked = true
				line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
			}
			return line, false, false, nil
		}
		if r.rerr != nil {
			r.start = r.end
			return nil, false, false, r.rerr
		}
		switch {
		case r.spilling:
			r.big.Write(buf[r.start:r.end])
			r.start, r.end = 0, 0
			if r.big.Len() > r.max {
				r.spilling, r.big, r.discarding = false, nil, true
			}
		case r.discarding:
			r.start, r.end = 0, 0
		case r.start > 0:
			r.end = copy(buf, buf[r.start:r.end])
			r.start = 0
		}
		if r.end == len(buf) {
			switch bound := min(r.max, ropeFrom) + lineSlack; {
			case len(buf) < bound:
				nb := make([]byte, min(2*len(buf), bound))
				copy(nb, buf[:r.end])
				r.bufs.buf, buf = nb, nb
			case r.max > ropeFrom && !r.over && r.spill(buf[:r.end]):
				r.start, r.end = 0, 0
			default:
				r.discarding = true
				r.start, r.end = 0, 0
			}
		}
		n, err := r.r.Read(buf[r.end:])
		r.end += n
		if err != nil {
			r.rerr = err
		}
	}
}

// spill starts putting the current line, of which line is the start, into
// r.big, when it is a data line; it reports whether it is.
func (r *eventReader) spill(line []byte) bool {
	if !r.bomChecked {
		r.bomChecked = true
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	}
	value, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		return false
	}
	value = bytes.TrimPrefix(value, []byte(" "))
	if r.big == nil {
		r.big = &rope.Rope{}
		if r.hasData {
			r.big.Write(r.bufs.data)
			r.big.WriteByte('\n')
			r.bufs.data = r.bufs.data[:0]
		}
	} else {
		r.big.WriteByte('\n')
	}
	r.big.Write(value)
	r.spilling = true
	return true
}

// indexLineEnd returns the index of the first CR or LF in b, or -1.
func indexLineEnd(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	lim := b
	if lf >= 0 {
		lim = b[:lf]
	}
	if cr := bytes.IndexByte(lim, '\r'); cr >= 0 {
		return cr
	}
	return lf
}
