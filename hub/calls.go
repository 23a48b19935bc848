package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// This file is the hot path: a client's tools/call (or prompts/get, or
// resources/read) reaches the upstream through a route bound when the lists
// were built, so a call does no name lookup, no logging above debug and no
// disk I/O. The upstream's result is passed on as the server wrote it:
// content items and structured content are never decoded.

// errCallTimeout is the cause of a call's context when the per-call timeout
// ends it.
var errCallTimeout = errors.New("call timed out")

// ErrNotConnected is wrapped by the error of a call to a server that has no
// connection.
var ErrNotConnected = errors.New("server is not connected")

// passthroughContent is one content item of an upstream result, kept as the
// upstream wrote it, including content types this version of mcp-go does not
// know. The embedded TextContent only gives it mcp.Content's marker method.
type passthroughContent struct {
	mcp.TextContent
	raw json.RawMessage
}

func (c passthroughContent) MarshalJSON() ([]byte, error) { return c.raw, nil }

// passthroughResource is resource contents kept as the upstream wrote them.
type passthroughResource struct {
	mcp.TextResourceContents
	raw json.RawMessage
}

func (c passthroughResource) MarshalJSON() ([]byte, error) { return c.raw, nil }

// route binds an exposed name to the upstream and its own name there.
type route struct {
	up   *upstream
	name string // the tool's, prompt's or resource's name (or URI) upstream
}

type callToolParams struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Meta      *mcp.Meta       `json:"_meta,omitempty"`
}

// callTool forwards tools/call.
func (r *route) callTool(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args := req.Params.RawArguments
	if string(args) == "null" {
		args = nil // some clients send null for "no arguments", which servers refuse
	}
	if len(args) == 0 && req.Params.Arguments != nil {
		b, err := json.Marshal(req.Params.Arguments)
		if err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		args = b
	}
	raw, err := r.up.forward(ctx, string(mcp.MethodToolsCall), req.Params.Meta, func(meta *mcp.Meta) any {
		return callToolParams{Name: r.name, Arguments: args, Meta: meta}
	})
	if err != nil {
		return nil, err
	}
	var res struct {
		Meta              *mcp.Meta         `json:"_meta"`
		Content           []json.RawMessage `json:"content"`
		StructuredContent json.RawMessage   `json:"structuredContent"`
		IsError           bool              `json:"isError"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%s answered tools/call with a result that is not a CallToolResult: %w", r.up.name, err)
	}
	out := &mcp.CallToolResult{Content: make([]mcp.Content, len(res.Content)), IsError: res.IsError}
	out.Meta = res.Meta
	for i, c := range res.Content {
		out.Content[i] = passthroughContent{raw: c}
	}
	if len(res.StructuredContent) > 0 && string(res.StructuredContent) != "null" {
		out.RawStructuredContent = res.StructuredContent
	}
	return out, nil
}

type getPromptParams struct {
	Name      string            `json:"name"`
	Arguments map[string]string `json:"arguments,omitempty"`
	Meta      *mcp.Meta         `json:"_meta,omitempty"`
}

// getPrompt forwards prompts/get.
func (r *route) getPrompt(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	raw, err := r.up.forward(ctx, string(mcp.MethodPromptsGet), req.Params.Meta, func(meta *mcp.Meta) any {
		return getPromptParams{Name: r.name, Arguments: req.Params.Arguments, Meta: meta}
	})
	if err != nil {
		return nil, err
	}
	var res struct {
		Meta        *mcp.Meta `json:"_meta"`
		Description string    `json:"description"`
		Messages    []struct {
			Role    mcp.Role        `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%s answered prompts/get with a result that is not a GetPromptResult: %w", r.up.name, err)
	}
	out := &mcp.GetPromptResult{Description: res.Description, Messages: make([]mcp.PromptMessage, len(res.Messages))}
	out.Meta = res.Meta
	for i, m := range res.Messages {
		out.Messages[i] = mcp.PromptMessage{Role: m.Role, Content: passthroughContent{raw: m.Content}}
	}
	return out, nil
}

type readResourceParams struct {
	URI  string    `json:"uri"`
	Meta *mcp.Meta `json:"_meta,omitempty"`
}

// readResource forwards resources/read, for a resource or a template.
func (r *route) readResource(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	raw, err := r.up.forward(ctx, string(mcp.MethodResourcesRead), req.Params.Meta, func(meta *mcp.Meta) any {
		return readResourceParams{URI: req.Params.URI, Meta: meta}
	})
	if err != nil {
		return nil, err
	}
	var res struct {
		Contents []json.RawMessage `json:"contents"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%s answered resources/read with a result that is not a ReadResourceResult: %w", r.up.name, err)
	}
	out := make([]mcp.ResourceContents, len(res.Contents))
	for i, c := range res.Contents {
		out[i] = passthroughResource{raw: c}
	}
	return out, nil
}

// forward sends one request to the server under the per-call timeout, with
// the client's progress token swapped for one of the session's, so that the
// server's progress reaches the right client.
func (u *upstream) forward(ctx context.Context, method string, meta *mcp.Meta, params func(*mcp.Meta) any) (json.RawMessage, error) {
	sess := u.sess.Load()
	if sess == nil {
		return nil, u.notConnected()
	}
	ctx, cancel, timeout := u.callContext(ctx)
	defer cancel()
	if meta != nil && meta.ProgressToken != nil {
		token, forget := sess.addProgress(ctx, meta.ProgressToken)
		defer forget()
		m := *meta
		m.ProgressToken = token
		meta = &m
	}
	raw, err := sess.call(ctx, method, params(meta))
	return raw, u.callError(ctx, method, timeout, err)
}

// forwardRaw sends one request whose params are ready JSON, under the
// per-call timeout.
func (u *upstream) forwardRaw(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	sess := u.sess.Load()
	if sess == nil {
		return nil, u.notConnected()
	}
	ctx, cancel, timeout := u.callContext(ctx)
	defer cancel()
	raw, err := sess.call(ctx, method, params)
	return raw, u.callError(ctx, method, timeout, err)
}

// callContext bounds a call by the server's timeout.
func (u *upstream) callContext(ctx context.Context) (context.Context, context.CancelFunc, time.Duration) {
	timeout := callTimeout(u.cfg.Load(), u.callTimeout)
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errCallTimeout)
	return ctx, cancel, timeout
}

// callError turns the error of a call into what the client is told.
func (u *upstream) callError(ctx context.Context, method string, timeout time.Duration, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errCallTimeout) {
		return fmt.Errorf("%s did not answer within %s; mcptray cancelled the call", u.name, timeout.Round(time.Millisecond))
	}
	var rpc *RPCError
	if !errors.As(err, &rpc) && ctx.Err() == nil {
		u.log.Debug("call failed", "method", method, "err", err)
	}
	return err
}

// notConnected is the error of a call while the server has no connection.
func (u *upstream) notConnected() error {
	st := u.Status()
	switch st.State {
	case StateNeedsAuthorization:
		return fmt.Errorf("%w: %s needs authorization; use Authorize… in mcptray's menu, or run mcptray authorize %s", ErrNotConnected, u.name, u.name)
	case StateError:
		return fmt.Errorf("%w: %s: %s", ErrNotConnected, u.name, st.Error)
	}
	return fmt.Errorf("%w: %s is %s", ErrNotConnected, u.name, st.State)
}
