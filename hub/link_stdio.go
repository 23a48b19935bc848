package hub

import (
	"context"

	"github.com/mcptray/mcptray/hub/internal/stdio"

	"github.com/mcptray/mcptray/hub/internal/rope"
)

// stdioLink runs an upstream server as a child process (hub/internal/stdio,
// raw API): one message per line each way, everything the child writes
// delivered with via nil. Its goroutines are the stdio transport's (stdout,
// stderr, wait); close stops the child and waits for them.
type stdioLink struct {
	t    *stdio.Transport
	sink sink        // set by start, before the child runs
	stop func() bool // undoes the close at the end of start's ctx
}

var _ link = (*stdioLink)(nil)

// newStdioLink makes the link for cfg; cfg.OnMessage is the link's.
func newStdioLink(cfg stdio.Config) (*stdioLink, error) {
	l := &stdioLink{}
	cfg.OnMessage = func(msg []byte) { l.sink.deliver(msg, nil) }
	cfg.OnLarge = func(r *rope.Rope) { l.sink.deliverLarge(r, nil) }
	t, err := stdio.New(cfg)
	if err != nil {
		return nil, err
	}
	l.t = t
	return l, nil
}

// start runs the child; when ctx ends, the link closes.
func (l *stdioLink) start(ctx context.Context, to sink) error {
	l.sink = to
	if err := l.t.Start(ctx); err != nil {
		return err
	}
	l.stop = context.AfterFunc(ctx, func() { _ = l.t.Close() })
	return nil
}

// send writes msg as one line; h does not matter on stdio.
func (l *stdioLink) send(ctx context.Context, msg []byte, _ sendInfo) error {
	return l.t.Send(ctx, msg)
}

// lost is closed when the child exited, broke the protocol (a message over
// the bound) or the link closed; err tells why.
func (l *stdioLink) lost() <-chan struct{} { return l.t.Done() }

// err returns why the connection is over, or nil while it is not.
func (l *stdioLink) err() error { return l.t.Err() }

// pid returns the child's process id.
func (l *stdioLink) pid() int { return l.t.PID() }

func (l *stdioLink) close() error {
	if l.stop != nil {
		l.stop()
	}
	return l.t.Close()
}
