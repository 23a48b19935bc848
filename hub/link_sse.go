package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"sync"
	"time"
)

// endpointTimeout bounds the wait for the HTTP+SSE server's endpoint event.
const endpointTimeout = 30 * time.Second

// sseLinkConfig is what an sseLink is made of; the fields mean what they
// mean in httpLinkConfig.
type sseLinkConfig struct {
	URL        string
	Headers    map[string]string
	Client     *http.Client
	Log        *slog.Logger
	MaxMessage int
}

// sseLink is the HTTP+SSE transport of MCP 2024-11-05 (basic/transports,
// "HTTP with SSE"): a GET opens the event stream, whose first "endpoint"
// event names the URL to POST messages to; every message of the server
// comes on the stream (via nil). The stream's end is the connection's: lost
// closes, and nothing reopens it (a new stream would be a new session).
//
// Its one goroutine reads the stream; it ends with the stream, the ctx
// given to start, or close, which waits for it.
type sseLink struct {
	url     *url.URL
	client  *http.Client
	log     *slog.Logger
	max     int
	headers http.Header // fixed headers of every request; never changed after newSSELink

	sink     sink
	cancel   context.CancelFunc // ends the stream
	endpoint string             // set before start returns, read-only after

	// mu guards closed and err.
	mu     sync.Mutex
	closed bool
	err    error // why the stream ended

	wg       sync.WaitGroup
	lostCh   chan struct{}
	lostOnce sync.Once
}

var _ link = (*sseLink)(nil)

func newSSELink(cfg sseLinkConfig) (*sseLink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("SSE: the URL must be absolute http or https")
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = maxMessage
	}
	l := &sseLink{url: u, client: cfg.Client, log: cfg.Log, max: cfg.MaxMessage, headers: make(http.Header, len(cfg.Headers)), lostCh: make(chan struct{})}
	for k, v := range cfg.Headers {
		l.headers[textproto.CanonicalMIMEHeaderKey(k)] = fixedValue(v)
	}
	return l, nil
}

// start opens the event stream and waits (at most endpointTimeout) for the
// endpoint event.
func (l *sseLink) start(ctx context.Context, to sink) error {
	l.sink = to
	sctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, l.url.String(), nil)
	if err != nil {
		cancel()
		return err
	}
	for k, v := range l.headers {
		req.Header[k] = v
	}
	req.Header["Accept"] = fixedValue("text/event-stream")
	resp, err := l.client.Do(req)
	if err != nil {
		cancel()
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		return &httpStatusError{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: body}
	}
	if mediaType(resp.Header.Get("Content-Type")) != "text/event-stream" {
		cancel()
		resp.Body.Close()
		return fmt.Errorf("SSE: the server answered with content type %q", bodyPreview([]byte(resp.Header.Get("Content-Type"))))
	}
	ready := make(chan error, 1)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.readStream(resp.Body, ready)
	}()
	t := time.NewTimer(endpointTimeout)
	defer t.Stop()
	select {
	case err = <-ready:
	case <-t.C:
		err = errors.New("SSE: the server sent no endpoint event")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		l.close()
	}
	return err
}

// readStream reads the event stream until it ends: the endpoint event
// (reported on ready), then messages.
func (l *sseLink) readStream(body io.ReadCloser, ready chan<- error) {
	defer body.Close()
	er := newEventReader(body, l.max)
	defer er.release()
	gotEndpoint := false
	var err error
	for {
		var ev sseEvent
		ev, err = er.next()
		if err != nil {
			break
		}
		if !gotEndpoint && string(ev.typ) == "endpoint" {
			ep, eerr := l.resolveEndpoint(string(ev.data))
			if eerr != nil {
				err = eerr
				ready <- eerr
				break
			}
			l.endpoint, gotEndpoint = ep, true
			ready <- nil
			continue
		}
		if !ev.isMessage() {
			continue
		}
		if ev.tooLarge {
			l.log.Warn("skipping a message of the SSE stream over the size bound", "bound", l.max)
			continue
		}
		if ev.big != nil {
			l.sink.deliverLarge(ev.big, nil)
			continue
		}
		msg := bytes.Clone(ev.data)
		if !eachMessage(msg, func(m []byte) { l.sink.deliver(m, nil) }) {
			l.log.Debug("skipping an event that is not JSON-RPC", "data", bodyPreview(msg))
		}
	}
	if !gotEndpoint {
		select {
		case ready <- fmt.Errorf("SSE: the stream ended before the endpoint event: %w", err):
		default:
		}
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("SSE: the server ended the stream")
	}
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.lostOnce.Do(func() { close(l.lostCh) })
}

// resolveEndpoint resolves the endpoint event's data against the SSE URL,
// and refuses another origin: the POSTs carry the same credentials as the
// stream (the OAuth transport adds the token to every request).
func (l *sseLink) resolveEndpoint(data string) (string, error) {
	ref, err := url.Parse(string(bytes.TrimSpace([]byte(data))))
	if err != nil {
		return "", errors.New("SSE: the endpoint event holds no URL")
	}
	u := l.url.ResolveReference(ref)
	if u.Scheme != l.url.Scheme || u.Host != l.url.Host {
		return "", fmt.Errorf("SSE: the endpoint is on another origin (%s://%s) than the stream", u.Scheme, u.Host)
	}
	return u.String(), nil
}

// send POSTs msg to the endpoint; the server answers 202 and sends any
// response on the stream.
func (l *sseLink) send(ctx context.Context, msg []byte, _ sendInfo) error {
	l.mu.Lock()
	closed, lostErr := l.closed, l.err
	l.mu.Unlock()
	if closed {
		return errLinkClosed
	}
	if lostErr != nil {
		return fmt.Errorf("%w: %w", errLinkClosed, lostErr)
	}
	if l.endpoint == "" {
		return errors.New("SSE: not started")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.endpoint, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	for k, v := range l.headers {
		req.Header[k] = v
	}
	req.Header["Content-Type"] = fixedValue("application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		return &httpStatusError{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: body}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return nil
}

func (l *sseLink) lost() <-chan struct{} { return l.lostCh }

// lostErr returns why the stream ended, or nil while it has not.
func (l *sseLink) lostErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// close ends the stream and waits for its reader.
func (l *sseLink) close() error {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	if already {
		return nil
	}
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	l.lostOnce.Do(func() { close(l.lostCh) })
	return nil
}
