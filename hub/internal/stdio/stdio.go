// Package stdio runs an MCP server as a child process and speaks JSON-RPC
// with it over its standard input and output, as the MCP stdio transport
// describes. It implements mcp-go's client transport interface, and a raw
// one (Config.OnMessage and Send) that carries each message's bytes as they
// are.
//
// It exists beside mcp-go's own stdio transport because a hub needs what that
// one does not give: notice when the child dies (to restart it), a bound on
// the size of one message (an upstream answering with gigabytes must not take
// the hub down), the child's stderr as lines for the log, and a stop that
// reaches the whole process group (npx starts node as a grandchild).
package stdio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcptray/mcptray/hub/internal/rope"
)

// ErrMessageTooLarge is the error of a connection that was closed because the
// server sent a message larger than Config.MaxMessage.
var ErrMessageTooLarge = errors.New("message too large")

// ErrClosed is returned by requests on a closed transport.
var ErrClosed = transport.ErrTransportClosed

// DefaultMaxMessage bounds one message from the server.
const DefaultMaxMessage = 64 << 20

// Stop timing, as in the MCP stdio transport's shutdown section: close the
// child's stdin, wait, SIGTERM, wait, SIGKILL.
const (
	stdinGrace = 2 * time.Second
	termGrace  = 3 * time.Second
)

// Config describes the child process.
type Config struct {
	Command string
	Args    []string
	Env     map[string]string // merged over the environment of this process
	Dir     string
	// Stderr receives each line the child writes to its stderr.
	Stderr func(line string)
	// MaxMessage bounds one message from the child; DefaultMaxMessage when 0.
	MaxMessage int
	// Warn reports a problem worth a log line (a line on stdout that is not
	// JSON, say). It is called at most a few times per connection.
	Warn func(msg string)
	// OnMessage, when set, receives every message the child writes, as its
	// bytes: one JSON value (each element of a batch line on its own),
	// within MaxMessage, checked to be valid JSON. The bytes are the
	// receiver's. It runs on the reading goroutine, in the order of the
	// child's output, and must not block for long. With OnMessage set the
	// transport answers nothing itself: SendRequest's responses, the
	// notification and request handlers are not used.
	OnMessage func(msg []byte)
	// OnLarge, when set with OnMessage, receives instead each line over
	// LargeLine bytes, in a rope: unchecked, and a batch left whole. A
	// line so long is read into blocks rather than a growing buffer,
	// which would copy it at each growth (issue 11).
	OnLarge func(r *rope.Rope)
}

// LargeLine is the length over which a line goes to OnLarge.
const LargeLine = 1 << 20

// Transport is one connection to one child process.
type Transport struct {
	cfg Config

	cmd   *exec.Cmd
	stdin *os.File
	// writeM serializes whole lines to stdin; it is held across the write,
	// which is what keeps two messages from interleaving.
	writeM sync.Mutex

	// mu guards pending, onNotify and onRequest.
	mu        sync.Mutex
	pending   map[string]chan *transport.JSONRPCResponse
	onNotify  func(mcp.JSONRPCNotification)
	onRequest transport.RequestHandler

	done      chan struct{} // closed when the connection is over
	doneOnce  sync.Once
	err       error         // why it is over; set before done is closed
	exited    chan struct{} // closed when the child has been waited for
	closeOnce sync.Once
	wg        sync.WaitGroup // the reader, stderr and wait goroutines
	warned    int
}

var _ transport.BidirectionalInterface = (*Transport)(nil)

// New returns a transport for cfg; Start runs the child.
func New(cfg Config) (*Transport, error) {
	if strings.TrimSpace(cfg.Command) == "" {
		return nil, errors.New("stdio: no command")
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	return &Transport{
		cfg:     cfg,
		pending: map[string]chan *transport.JSONRPCResponse{},
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
	}, nil
}

// Start runs the child process. ctx bounds only the start.
func (t *Transport) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := exec.LookPath(t.cfg.Command)
	if err != nil {
		return fmt.Errorf("command %q not found: %w", t.cfg.Command, err)
	}
	cmd := exec.Command(path, t.cfg.Args...)
	cmd.Env = mergeEnv(os.Environ(), t.cfg.Env)
	cmd.Dir = t.cfg.Dir
	setProcessGroup(cmd)
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdin = stdinR
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		stdinR.Close()
		stdinW.Close()
		return fmt.Errorf("start %s: %w", t.cfg.Command, err)
	}
	stdinR.Close() // the child has its own copy
	t.cmd, t.stdin = cmd, stdinW

	var readers sync.WaitGroup
	readers.Add(2)
	t.wg.Add(3)
	go func() {
		defer t.wg.Done()
		defer readers.Done()
		t.readLoop(stdout)
	}()
	go func() {
		defer t.wg.Done()
		defer readers.Done()
		t.stderrLoop(stderr)
	}()
	go func() {
		defer t.wg.Done()
		// exec.Cmd.Wait closes the pipes, so it must come after the reads.
		readers.Wait()
		err := cmd.Wait()
		if err == nil {
			err = errors.New("server exited")
		} else {
			err = fmt.Errorf("server exited: %w", err)
		}
		t.finish(err)
		close(t.exited)
	}()
	return nil
}

// Done is closed when the connection is over: the child exited, broke the
// protocol, or Close was called. Err tells why.
func (t *Transport) Done() <-chan struct{} { return t.done }

// Err returns why the connection is over, or nil while it is not.
func (t *Transport) Err() error {
	select {
	case <-t.done:
		return t.err
	default:
		return nil
	}
}

// finish ends the connection with err, failing every pending request.
func (t *Transport) finish(err error) {
	t.doneOnce.Do(func() {
		t.err = err
		close(t.done)
	})
}

// PID returns the child's process id, or 0 before Start.
func (t *Transport) PID() int {
	if t.cmd == nil || t.cmd.Process == nil {
		return 0
	}
	return t.cmd.Process.Pid
}

// SendRequest writes request and waits for its response, ctx, or the end of
// the connection.
func (t *Transport) SendRequest(ctx context.Context, request transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	key := idKey(request.ID)
	ch := make(chan *transport.JSONRPCResponse, 1)
	t.mu.Lock()
	t.pending[key] = ch
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.pending, key)
		t.mu.Unlock()
	}()
	if err := t.write(ctx, request); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.done:
		select {
		case resp := <-ch: // answered just before the end
			return resp, nil
		default:
		}
		return nil, fmt.Errorf("%w: %w", ErrClosed, t.err)
	}
}

// SendNotification writes a notification.
func (t *Transport) SendNotification(ctx context.Context, n mcp.JSONRPCNotification) error {
	return t.write(ctx, n)
}

// SetNotificationHandler sets the function that receives the server's
// notifications. It runs on the reading goroutine: it must not block.
func (t *Transport) SetNotificationHandler(h func(mcp.JSONRPCNotification)) {
	t.mu.Lock()
	t.onNotify = h
	t.mu.Unlock()
}

// SetRequestHandler sets the function that answers the server's requests. It
// runs on the reading goroutine: it must not block.
func (t *Transport) SetRequestHandler(h transport.RequestHandler) {
	t.mu.Lock()
	t.onRequest = h
	t.mu.Unlock()
}

// GetSessionId returns "": stdio has no sessions.
func (t *Transport) GetSessionId() string { return "" }

// write sends one message as one line.
func (t *Transport) write(ctx context.Context, msg any) error {
	line, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	return t.writeLine(ctx, append(line, '\n'))
}

// writeLine writes one whole line, newline included. A child that stops
// reading its stdin cannot hold a writer past ctx's deadline (30 s when ctx
// has none).
func (t *Transport) writeLine(ctx context.Context, line []byte) error {
	select {
	case <-t.done:
		return fmt.Errorf("%w: %w", ErrClosed, t.err)
	default:
	}
	if t.stdin == nil {
		return errors.New("stdio: not started")
	}
	t.writeM.Lock()
	defer t.writeM.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	_ = t.stdin.SetWriteDeadline(deadline)
	if _, err := t.stdin.Write(line); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("server does not read its input: %w", context.DeadlineExceeded)
		}
		return fmt.Errorf("%w: write: %w", ErrClosed, err)
	}
	return nil
}

// Close stops the child: it closes its stdin, then signals the process
// group with SIGTERM and at last SIGKILL, and waits for every goroutine.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.finish(ErrClosed)
		if t.cmd == nil {
			return
		}
		t.writeM.Lock()
		t.stdin.Close()
		t.writeM.Unlock()
		select {
		case <-t.exited:
		case <-time.After(stdinGrace):
		}
		// The leader may be gone while its children live on in the group.
		if groupAlive(t.cmd) {
			terminateGroup(t.cmd)
			deadline := time.Now().Add(termGrace)
			for groupAlive(t.cmd) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if groupAlive(t.cmd) {
				killGroup(t.cmd)
			}
		}
		t.wg.Wait()
	})
	return nil
}

// readLoop reads one message per line until the child's stdout ends.
func (t *Transport) readLoop(stdout io.Reader) {
	r := bufio.NewReaderSize(stdout, 64<<10)
	tooLarge := func() {
		t.finish(fmt.Errorf("%w: the server sent a message over %d MiB", ErrMessageTooLarge, t.cfg.MaxMessage>>20))
		killGroup(t.cmd)
		_, _ = io.Copy(io.Discard, r)
	}
	// A line longer than the reader's buffer is assembled in a rope, whose
	// blocks are never copied; one up to LargeLine is then made one
	// buffer, of its exact size.
	var long *rope.Rope
	for {
		chunk, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if long == nil {
				long = &rope.Rope{}
			}
			long.Write(chunk)
			if long.Len() > t.cfg.MaxMessage {
				tooLarge()
				return
			}
			continue
		}
		line, owned := chunk, false
		if long != nil {
			long.Write(chunk)
			long.TrimEnd()
			whole := long
			long = nil
			switch {
			case whole.Len() > t.cfg.MaxMessage:
				tooLarge()
				return
			case whole.Len() > LargeLine && t.cfg.OnLarge != nil:
				t.cfg.OnLarge(whole)
				if err != nil {
					return
				}
				continue
			}
			line, owned = whole.Bytes(), true
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			if t.cfg.OnMessage != nil {
				t.dispatchRaw(trimmed, owned)
			} else {
				t.dispatch(trimmed)
			}
		}
		if err != nil {
			return
		}
	}
}

// dispatchRaw hands a line's messages to OnMessage: the line, copied unless
// owned (a short line is in the reader's buffer, which is reused), or each
// element of a batch.
func (t *Transport) dispatchRaw(line []byte, owned bool) {
	if !json.Valid(line) {
		t.warn("the server wrote a line that is not JSON-RPC (not JSON): " + preview(line))
		return
	}
	msg := line
	if !owned {
		msg = bytes.Clone(line)
	}
	if msg[0] != '[' {
		t.cfg.OnMessage(msg)
		return
	}
	// A batch, which servers before 2025-06-18 may send.
	var batch []json.RawMessage
	if err := json.Unmarshal(msg, &batch); err != nil {
		return
	}
	for _, m := range batch {
		if m = bytes.TrimSpace(m); len(m) > 0 {
			t.cfg.OnMessage(m)
		}
	}
}

// Send writes one message, given as its JSON bytes, as one line. A message
// with line breaks (whitespace between tokens: JSON strings cannot hold
// raw ones) is compacted first, since a line is a message (MCP stdio
// transport: messages MUST NOT contain embedded newlines).
func (t *Transport) Send(ctx context.Context, msg []byte) error {
	msg = bytes.TrimSpace(msg)
	if len(msg) == 0 {
		return errors.New("stdio: empty message")
	}
	buf := linePool.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= 64<<10 {
			*buf = (*buf)[:0]
			linePool.Put(buf)
		}
	}()
	line := (*buf)[:0]
	if bytes.IndexByte(msg, '\n') >= 0 || bytes.IndexByte(msg, '\r') >= 0 {
		var b bytes.Buffer
		if err := json.Compact(&b, msg); err != nil {
			return fmt.Errorf("stdio: the message is not JSON: %w", err)
		}
		line = append(line, b.Bytes()...)
	} else {
		line = append(line, msg...)
	}
	line = append(line, '\n')
	*buf = line
	return t.writeLine(ctx, line)
}

// linePool holds the buffers Send builds lines in.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// envelope holds every field a JSON-RPC message can have.
type envelope struct {
	ID     json.RawMessage          `json:"id"`
	Method string                   `json:"method"`
	Params json.RawMessage          `json:"params"`
	Result json.RawMessage          `json:"result"`
	Error  *mcp.JSONRPCErrorDetails `json:"error"`
}

func (t *Transport) dispatch(line []byte) {
	if line[0] == '[' { // a batch, which servers before 2025-06-18 may send
		var batch []json.RawMessage
		if err := json.Unmarshal(line, &batch); err != nil {
			t.warn("the server wrote a line that is not JSON-RPC: " + preview(line))
			return
		}
		for _, m := range batch {
			t.dispatch(bytes.TrimSpace(m))
		}
		return
	}
	var env envelope
	if err := json.Unmarshal(line, &env); err != nil {
		t.warn("the server wrote a line that is not JSON-RPC: " + preview(line))
		return
	}
	hasID := len(env.ID) > 0 && string(env.ID) != "null"
	switch {
	case env.Method != "" && !hasID:
		n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION}
		n.Method = env.Method
		if len(env.Params) > 0 {
			if err := json.Unmarshal(env.Params, &n.Params); err != nil {
				t.warn("the server sent a notification with bad params: " + preview(line))
				return
			}
		}
		t.mu.Lock()
		h := t.onNotify
		t.mu.Unlock()
		if h != nil {
			h(n)
		}
	case env.Method != "":
		t.answer(env)
	case hasID:
		var id mcp.RequestId
		key := string(env.ID)
		if json.Unmarshal(env.ID, &id) == nil {
			key = idKey(id)
		}
		t.mu.Lock()
		ch := t.pending[key]
		t.mu.Unlock()
		if ch == nil {
			return // a late answer to a request that gave up
		}
		ch <- &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Result: env.Result, Error: env.Error}
	default:
		t.warn("the server wrote a JSON-RPC message without method or id: " + preview(line))
	}
}

// answer replies to a request from the server.
func (t *Transport) answer(env envelope) {
	var id mcp.RequestId
	_ = json.Unmarshal(env.ID, &id)
	t.mu.Lock()
	h := t.onRequest
	t.mu.Unlock()
	var resp *transport.JSONRPCResponse
	var err error
	if h != nil {
		var params any
		if len(env.Params) > 0 {
			params = env.Params
		}
		resp, err = h(context.Background(), transport.JSONRPCRequest{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Method: env.Method, Params: params})
	}
	if resp == nil {
		msg := "method not found"
		code := mcp.METHOD_NOT_FOUND
		if err != nil {
			msg, code = err.Error(), mcp.INTERNAL_ERROR
		}
		resp = &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Error: &mcp.JSONRPCErrorDetails{Code: code, Message: msg}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.write(ctx, resp)
}

func (t *Transport) stderrLoop(stderr io.Reader) {
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		if t.cfg.Stderr != nil {
			t.cfg.Stderr(sc.Text())
		}
	}
	_, _ = io.Copy(io.Discard, stderr) // a line over 64 KiB: keep the pipe drained
}

func (t *Transport) warn(msg string) {
	// Called only from the reading goroutine.
	t.warned++
	if t.cfg.Warn != nil && t.warned <= 5 {
		t.cfg.Warn(msg)
	}
}

func preview(b []byte) string {
	const n = 120
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "…"
	}
	return strconv.Quote(string(b))
}

// idKey is the lookup key of a request id.
func idKey(id mcp.RequestId) string { return id.String() }

// mergeEnv returns base with the variables of over set, replacing any of the
// same name.
func mergeEnv(base []string, over map[string]string) []string {
	if len(over) == 0 {
		return base
	}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := over[k]; !ok {
			out = append(out, kv)
		}
	}
	for k, v := range over {
		out = append(out, k+"="+v)
	}
	return out
}
