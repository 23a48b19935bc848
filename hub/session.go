package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// protocolVersions are the MCP revisions the hub speaks to upstream servers,
// newest first. The hub asks for the newest and accepts any of these.
var protocolVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// RPCError is a JSON-RPC error answered by an upstream server.
type RPCError struct {
	Code    int
	Message string
	Data    any
}

func (e *RPCError) Error() string { return e.Message }

// session is one initialized MCP connection to an upstream server. It sends
// requests itself, with its own ids, instead of through mcp-go's Client, so
// that results stay raw JSON: the hub passes them on without decoding and
// re-encoding what it does not need to look at.
type session struct {
	tr     transport.Interface
	lost   <-chan struct{} // closed when the connection is gone
	nextID atomic.Int64

	info            mcp.Implementation
	caps            mcp.ServerCapabilities
	protocolVersion string

	// progress routes the server's progress notifications to the client
	// call that asked for them, under a token unique to this session.
	progress   sync.Map // int64 token → progressRoute
	nextToken  atomic.Int64
	cancelWait time.Duration
}

// progressRoute is where progress for one upstream token goes.
type progressRoute struct {
	ctx   context.Context // the downstream request's, to reach its stream
	srv   *server.MCPServer
	token mcp.ProgressToken // the downstream client's own token
}

// initialize runs the MCP handshake on a started transport.
func (s *session) initialize(ctx context.Context, version string) error {
	params := map[string]any{
		"protocolVersion": protocolVersions[0],
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "mcptray", "version": version},
	}
	raw, err := s.call(ctx, string(mcp.MethodInitialize), params)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	var res mcp.InitializeResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("initialize: bad answer: %w", err)
	}
	if !slices.Contains(protocolVersions, res.ProtocolVersion) {
		return fmt.Errorf("initialize: the server speaks MCP %q, which mcptray does not (it speaks %v)", res.ProtocolVersion, protocolVersions)
	}
	s.info, s.caps, s.protocolVersion = res.ServerInfo, res.Capabilities, res.ProtocolVersion
	if hc, ok := s.tr.(transport.HTTPConnection); ok {
		hc.SetProtocolVersion(res.ProtocolVersion)
	}
	n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION}
	n.Method = "notifications/initialized"
	if err := s.tr.SendNotification(ctx, n); err != nil {
		return fmt.Errorf("initialized notification: %w", err)
	}
	return nil
}

// call sends one request and returns its raw result. When ctx ends first,
// the server is told with notifications/cancelled, as the MCP cancellation
// utility asks, over every transport.
func (s *session) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := s.nextID.Add(1)
	return s.callID(ctx, id, method, params)
}

func (s *session) callID(ctx context.Context, id int64, method string, params any) (json.RawMessage, error) {
	resp, err := s.tr.SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION,
		ID:      mcp.NewRequestId(id),
		Method:  method,
		Params:  params,
	})
	if err != nil {
		if ctx.Err() != nil {
			s.cancel(id, ctx)
			return nil, ctx.Err()
		}
		return nil, err
	}
	if resp.Error != nil {
		return nil, &RPCError{Code: resp.Error.Code, Message: resp.Error.Message, Data: resp.Error.Data}
	}
	return resp.Result, nil
}

// cancel tells the server to stop working on request id.
func (s *session) cancel(id int64, ctx context.Context) {
	reason := "the client cancelled the request"
	if errors.Is(context.Cause(ctx), errCallTimeout) {
		reason = "the request timed out"
	}
	n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION}
	n.Method = string(mcp.MethodNotificationCancelled)
	n.Params.AdditionalFields = map[string]any{"requestId": id, "reason": reason}
	wait := s.cancelWait
	if wait == 0 {
		wait = 2 * time.Second
	}
	cctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_ = s.tr.SendNotification(cctx, n)
}

// ping checks that the server still answers.
func (s *session) ping(ctx context.Context) error {
	_, err := s.call(ctx, string(mcp.MethodPing), nil)
	var rpc *RPCError
	if errors.As(err, &rpc) {
		return nil // it answered, if only with an error
	}
	return err
}

// listAll fetches every page of a list method and returns the raw items
// under key.
func (s *session) listAll(ctx context.Context, method, key string) ([]json.RawMessage, error) {
	var items []json.RawMessage
	var cursor string
	for page := 0; ; page++ {
		var params any
		if cursor != "" {
			params = map[string]any{"cursor": cursor}
		}
		raw, err := s.call(ctx, method, params)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		var res map[string]json.RawMessage
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("%s: bad answer: %w", method, err)
		}
		var pageItems []json.RawMessage
		if v, ok := res[key]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &pageItems); err != nil {
				return nil, fmt.Errorf("%s: bad %s: %w", method, key, err)
			}
		}
		items = append(items, pageItems...)
		cursor = ""
		if v, ok := res["nextCursor"]; ok {
			_ = json.Unmarshal(v, &cursor)
		}
		if cursor == "" {
			return items, nil
		}
		if page > 1000 {
			return nil, fmt.Errorf("%s: the server kept sending more pages", method)
		}
	}
}

// addProgress registers a downstream progress token and returns the token
// to send upstream in its place, and a function that forgets it.
func (s *session) addProgress(ctx context.Context, token mcp.ProgressToken) (int64, func()) {
	up := s.nextToken.Add(1)
	s.progress.Store(up, progressRoute{ctx: ctx, srv: server.ServerFromContext(ctx), token: token})
	return up, func() { s.progress.Delete(up) }
}

// forwardProgress passes a progress notification from the server on to the
// client whose call it belongs to.
func (s *session) forwardProgress(n mcp.JSONRPCNotification) {
	tok, ok := progressTokenKey(n.Params.AdditionalFields["progressToken"])
	if !ok {
		return
	}
	v, ok := s.progress.Load(tok)
	if !ok {
		return // the call is over
	}
	r := v.(progressRoute)
	if r.srv == nil {
		return
	}
	params := make(map[string]any, len(n.Params.AdditionalFields))
	for k, val := range n.Params.AdditionalFields {
		params[k] = val
	}
	params["progressToken"] = r.token
	_ = r.srv.SendNotificationToClient(r.ctx, string(mcp.MethodNotificationProgress), params)
}

// progressTokenKey reads back a token this session made (an integer).
func progressTokenKey(v any) (int64, bool) {
	switch t := v.(type) {
	case float64:
		return int64(t), t == float64(int64(t))
	case json.Number:
		n, err := t.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(t, 10, 64)
		return n, err == nil
	case int64:
		return t, true
	case int:
		return int64(t), true
	}
	return 0, false
}
