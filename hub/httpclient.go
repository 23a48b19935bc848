package hub

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"
)

// maxMessage bounds one message from an upstream server: a JSON response
// body, or one event of an event stream. An upstream answering with more
// fails that call with a clear error instead of filling the hub's memory.
const maxMessage = 64 << 20

// ErrResponseTooLarge is wrapped by the error of a response that went over
// the size bound.
var ErrResponseTooLarge = errors.New("upstream message too large")

// newHTTPTransport is the connection pool shared by the HTTP upstreams.
func newHTTPTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 0 // calls have their own timeout, streams none
	return t
}

// httpClient returns the HTTP client for an upstream's transport: the size
// bound, and OAuth when the hub has it. It has no timeout of its own:
// streams stay open, and calls end with their context.
func (h *Hub) httpClient(server string) *http.Client {
	var rt http.RoundTripper = &limitTransport{base: h.httpTransport, max: maxMessage}
	if h.auth != nil {
		rt = h.auth.Transport(server, rt)
	}
	return &http.Client{Transport: rt}
}

// limitTransport bounds the size of response messages.
type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	resp.Body = &limitedBody{rc: resp.Body, max: t.max, perEvent: mt == "text/event-stream"}
	return resp, nil
}

// limitedBody fails a read once a message goes over max bytes: the whole
// body, or for an event stream the current event (events end with a blank
// line).
type limitedBody struct {
	rc       io.ReadCloser
	max      int64
	perEvent bool
	n        int64 // bytes of the current message
	lastNL   bool  // the last byte (ignoring \r) was a newline
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if !b.perEvent {
		b.n += int64(n)
	} else {
		for _, c := range p[:n] {
			switch c {
			case '\r':
				continue
			case '\n':
				if b.lastNL {
					b.n = 0 // end of an event
				}
				b.lastNL = true
			default:
				b.lastNL = false
			}
			b.n++
		}
	}
	if b.n > b.max {
		return n, fmt.Errorf("%w: over %d MiB", ErrResponseTooLarge, b.max>>20)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
