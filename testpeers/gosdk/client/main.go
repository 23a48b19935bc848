// Command client is a go-sdk v1.8 MCP client for mcptray's tests. It
// connects to a server (-url for streamable HTTP, or the command after --
// for stdio) at a protocol version (-version 2026-07-28, the SDK's
// discover-then-initialize default, or 2025-11-25, initialize only), runs a
// scenario and prints what happened as JSON lines on stdout.
//
// The scenario (-steps, a JSON array; see testpeers.Step for the fields) is
// the one the npm clients in testpeers/npm run too, and the output has the
// same shape, so a test reads all three alike. Requests the server makes of
// the client get canned answers: elicitations are accepted with values made
// from the requested schema, sampling answers "canned answer to: <prompt>"
// from model "canned-model", and the roots are file:///canned/root.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// step is one operation of the scenario.
type step struct {
	Op        string         `json:"op"`
	Name      string         `json:"name,omitempty"`
	Args      map[string]any `json:"args,omitempty"`
	URI       string         `json:"uri,omitempty"`
	Progress  bool           `json:"progress,omitempty"`
	LogLevel  string         `json:"logLevel,omitempty"`
	Ref       map[string]any `json:"ref,omitempty"`
	Argument  map[string]any `json:"argument,omitempty"`
	Event     string         `json:"event,omitempty"`
	Count     int            `json:"count,omitempty"`
	TimeoutMs int            `json:"timeoutMs,omitempty"`
	AfterMs   int            `json:"afterMs,omitempty"`
	Ms        int            `json:"ms,omitempty"`
	Level     string         `json:"level,omitempty"`
}

// out writes events as JSON lines and counts them by kind for "wait".
type out struct {
	mu     sync.Mutex // guards counts and writes to stdout
	counts map[string]int
	cond   *sync.Cond
}

func newOut() *out {
	o := &out{counts: map[string]int{}}
	o.cond = sync.NewCond(&o.mu)
	return o
}

func (o *out) emit(ev map[string]any) {
	b, err := json.Marshal(ev)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"event": "error", "op": "emit", "message": err.Error()})
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	os.Stdout.Write(append(b, '\n'))
	if k, _ := ev["event"].(string); k != "" {
		o.counts[k]++
	}
	o.cond.Broadcast()
}

// wait waits until n events of kind were emitted, or d passes.
func (o *out) wait(kind string, n int, d time.Duration) bool {
	timer := time.AfterFunc(d, func() {
		o.mu.Lock()
		o.cond.Broadcast()
		o.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(d)
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.counts[kind] < n {
		if !time.Now().Before(deadline) {
			return false
		}
		o.cond.Wait()
	}
	return true
}

func errEvent(op, name string, err error) map[string]any {
	ev := map[string]any{"event": "error", "op": op, "message": err.Error()}
	if name != "" {
		ev["name"] = name
	}
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		ev["code"] = we.Code
		ev["message"] = we.Message
	}
	return ev
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// cannedContent fills a form from its requested schema.
func cannedContent(schema any) map[string]any {
	var s struct {
		Properties map[string]struct {
			Type   string `json:"type"`
			Format string `json:"format"`
			Enum   []any  `json:"enum"`
			OneOf  []struct {
				Const any `json:"const"`
			} `json:"oneOf"`
			Minimum *float64 `json:"minimum"`
			Items   *struct {
				Enum  []any `json:"enum"`
				AnyOf []struct {
					Const any `json:"const"`
				} `json:"anyOf"`
			} `json:"items"`
		} `json:"properties"`
	}
	b, _ := json.Marshal(schema)
	_ = json.Unmarshal(b, &s)
	content := map[string]any{}
	for name, p := range s.Properties {
		switch {
		case len(p.Enum) > 0:
			content[name] = p.Enum[0]
		case len(p.OneOf) > 0:
			content[name] = p.OneOf[0].Const
		case p.Type == "boolean":
			content[name] = true
		case p.Type == "number" || p.Type == "integer":
			v := 42.0
			if p.Minimum != nil && *p.Minimum > v {
				v = *p.Minimum
			}
			content[name] = v
		case p.Type == "array":
			if p.Items != nil && len(p.Items.Enum) > 0 {
				content[name] = []any{p.Items.Enum[0]}
			} else if p.Items != nil && len(p.Items.AnyOf) > 0 {
				content[name] = []any{p.Items.AnyOf[0].Const}
			} else {
				content[name] = []any{}
			}
		case p.Format == "email":
			content[name] = "canned@example.com"
		case p.Format == "uri":
			content[name] = "https://example.com/canned"
		case p.Format == "date":
			content[name] = "2026-01-02"
		case p.Format == "date-time":
			content[name] = "2026-01-02T03:04:05Z"
		default:
			content[name] = "canned " + name
		}
	}
	return content
}

func textOf(content []mcp.Content) string {
	var parts []string
	for _, c := range content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func main() {
	url := flag.String("url", "", "streamable HTTP endpoint of the server")
	version := flag.String("version", "2026-07-28", "protocol version to ask for: 2026-07-28 or 2025-11-25")
	steps := flag.String("steps", `[{"op":"list"}]`, "the scenario, a JSON array of steps")
	timeout := flag.Duration("timeout", 60*time.Second, "how long the whole scenario may take")
	flag.Parse()
	o := newOut()
	var scenario []step
	if err := json.Unmarshal([]byte(*steps), &scenario); err != nil {
		o.emit(errEvent("steps", "", err))
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	client := mcp.NewClient(&mcp.Implementation{Name: "gosdk-client", Version: "1.0.0"}, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{
			RootsV2:     &mcp.RootCapabilities{ListChanged: true},
			Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}},
		},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			mode := req.Params.Mode
			if mode == "" {
				mode = "form"
			}
			res := &mcp.ElicitResult{Action: "accept"}
			if mode != "url" {
				res.Content = cannedContent(req.Params.RequestedSchema)
			}
			o.emit(map[string]any{"event": "elicitation", "mode": mode, "message": req.Params.Message, "url": req.Params.URL, "action": res.Action})
			return res, nil
		},
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			var prompt string
			if n := len(req.Params.Messages); n > 0 {
				if t, ok := req.Params.Messages[n-1].Content.(*mcp.TextContent); ok {
					prompt = t.Text
				}
			}
			o.emit(map[string]any{"event": "sampling", "prompt": prompt})
			return &mcp.CreateMessageResult{Role: "assistant", Model: "canned-model", Content: &mcp.TextContent{Text: "canned answer to: " + prompt}}, nil
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			o.emit(map[string]any{"event": "list_changed", "kind": "tools"})
		},
		PromptListChangedHandler: func(context.Context, *mcp.PromptListChangedRequest) {
			o.emit(map[string]any{"event": "list_changed", "kind": "prompts"})
		},
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) {
			o.emit(map[string]any{"event": "list_changed", "kind": "resources"})
		},
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			o.emit(map[string]any{"event": "resource_updated", "uri": req.Params.URI})
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			o.emit(map[string]any{"event": "log", "level": req.Params.Level, "logger": req.Params.Logger, "data": req.Params.Data})
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			o.emit(map[string]any{"event": "progress", "progress": req.Params.Progress, "total": req.Params.Total, "message": req.Params.Message})
		},
	})
	client.AddRoots(&mcp.Root{URI: "file:///canned/root", Name: "canned"})

	var transport mcp.Transport
	switch {
	case *url != "":
		transport = &mcp.StreamableClientTransport{Endpoint: *url}
	case flag.NArg() > 0:
		transport = &mcp.CommandTransport{Command: exec.Command(flag.Arg(0), flag.Args()[1:]...)}
	default:
		o.emit(map[string]any{"event": "error", "op": "connect", "message": "give -url or a command after --"})
		os.Exit(2)
	}
	cs, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: *version})
	if err != nil {
		o.emit(errEvent("connect", "", err))
		os.Exit(1)
	}
	defer cs.Close()
	init := cs.InitializeResult()
	era := "legacy"
	if init.ProtocolVersion >= "2026-07-28" {
		era = "modern"
	}
	o.emit(map[string]any{"event": "connected", "protocolVersion": init.ProtocolVersion, "era": era, "server": init.ServerInfo, "capabilities": init.Capabilities})

	for _, st := range scenario {
		run(ctx, cs, o, st)
	}
	o.emit(map[string]any{"event": "done"})
}

func sorted(s []string) []string {
	sort.Strings(s)
	if s == nil {
		s = []string{}
	}
	return s
}

func withMeta(st step, set func(mcp.Meta)) {
	m := mcp.Meta{}
	if st.LogLevel != "" {
		m[mcp.MetaKeyLogLevel] = st.LogLevel
	}
	if st.Progress {
		m["progressToken"] = "progress-" + st.Name
	}
	if len(m) > 0 {
		set(m)
	}
}

func run(ctx context.Context, cs *mcp.ClientSession, o *out, st step) {
	caps := cs.InitializeResult().Capabilities
	if caps == nil {
		caps = &mcp.ServerCapabilities{}
	}
	if st.Args == nil {
		st.Args = map[string]any{}
	}
	switch st.Op {
	case "list":
		if caps.Tools != nil {
			res, err := cs.ListTools(ctx, nil)
			if err != nil {
				o.emit(errEvent("list", "tools", err))
			} else {
				var names []string
				for _, t := range res.Tools {
					names = append(names, t.Name)
				}
				o.emit(map[string]any{"event": "tools", "names": sorted(names), "ttlMs": res.TTLMs, "cacheScope": res.CacheScope})
			}
		}
		if caps.Prompts != nil {
			res, err := cs.ListPrompts(ctx, nil)
			if err != nil {
				o.emit(errEvent("list", "prompts", err))
			} else {
				var names []string
				for _, p := range res.Prompts {
					names = append(names, p.Name)
				}
				o.emit(map[string]any{"event": "prompts", "names": sorted(names), "ttlMs": res.TTLMs, "cacheScope": res.CacheScope})
			}
		}
		if caps.Resources != nil {
			res, err := cs.ListResources(ctx, nil)
			if err != nil {
				o.emit(errEvent("list", "resources", err))
			} else {
				var uris []string
				for _, r := range res.Resources {
					uris = append(uris, r.URI)
				}
				o.emit(map[string]any{"event": "resources", "names": sorted(uris), "ttlMs": res.TTLMs, "cacheScope": res.CacheScope})
			}
			tres, err := cs.ListResourceTemplates(ctx, nil)
			if err != nil {
				o.emit(errEvent("list", "resourceTemplates", err))
			} else {
				var uris []string
				for _, r := range tres.ResourceTemplates {
					uris = append(uris, r.URITemplate)
				}
				o.emit(map[string]any{"event": "resourceTemplates", "names": sorted(uris), "ttlMs": tres.TTLMs, "cacheScope": tres.CacheScope})
			}
		}
	case "call":
		params := &mcp.CallToolParams{Name: st.Name, Arguments: st.Args}
		withMeta(st, func(m mcp.Meta) { params.Meta = m })
		res, err := cs.CallTool(ctx, params)
		if err != nil {
			o.emit(errEvent("call", st.Name, err))
			return
		}
		o.emit(map[string]any{"event": "result", "op": "call", "name": st.Name, "text": textOf(res.Content), "isError": res.IsError, "result": raw(res)})
	case "cancel":
		cctx, cancel := context.WithTimeout(ctx, time.Duration(st.AfterMs)*time.Millisecond)
		defer cancel()
		params := &mcp.CallToolParams{Name: st.Name, Arguments: st.Args}
		res, err := cs.CallTool(cctx, params)
		if err != nil {
			if cctx.Err() != nil {
				o.emit(map[string]any{"event": "cancelled", "op": "cancel", "name": st.Name})
				return
			}
			o.emit(errEvent("cancel", st.Name, err))
			return
		}
		o.emit(map[string]any{"event": "result", "op": "cancel", "name": st.Name, "text": textOf(res.Content), "isError": res.IsError})
	case "prompt":
		args := map[string]string{}
		for k, v := range st.Args {
			args[k] = fmt.Sprint(v)
		}
		res, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: st.Name, Arguments: args})
		if err != nil {
			o.emit(errEvent("prompt", st.Name, err))
			return
		}
		var texts []string
		for _, m := range res.Messages {
			if t, ok := m.Content.(*mcp.TextContent); ok {
				texts = append(texts, t.Text)
			}
		}
		o.emit(map[string]any{"event": "result", "op": "prompt", "name": st.Name, "text": strings.Join(texts, "\n"), "result": raw(res)})
	case "read":
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: st.URI})
		if err != nil {
			o.emit(errEvent("read", st.URI, err))
			return
		}
		var texts []string
		for _, c := range res.Contents {
			texts = append(texts, c.Text)
		}
		o.emit(map[string]any{"event": "result", "op": "read", "name": st.URI, "text": strings.Join(texts, "\n"), "ttlMs": res.TTLMs, "cacheScope": res.CacheScope})
	case "complete":
		ref := &mcp.CompleteReference{}
		if b, err := json.Marshal(st.Ref); err == nil {
			_ = json.Unmarshal(b, ref)
		}
		arg := mcp.CompleteParamsArgument{}
		if b, err := json.Marshal(st.Argument); err == nil {
			_ = json.Unmarshal(b, &arg)
		}
		res, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: ref, Argument: arg})
		if err != nil {
			o.emit(errEvent("complete", arg.Name, err))
			return
		}
		vals := res.Completion.Values
		if vals == nil {
			vals = []string{}
		}
		o.emit(map[string]any{"event": "completion", "values": vals})
	case "subscribe":
		// Under 2026-07-28 Subscribe holds a subscriptions/listen stream
		// open until Unsubscribe or Close, so it runs on its own.
		if cs.InitializeResult().ProtocolVersion >= "2026-07-28" {
			go func() {
				if err := cs.Subscribe(context.WithoutCancel(ctx), &mcp.SubscribeParams{URI: st.URI}); err != nil && !errors.Is(err, context.Canceled) {
					o.emit(errEvent("subscribe", st.URI, err))
				}
			}()
			o.emit(map[string]any{"event": "subscribed", "uri": st.URI})
			return
		}
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: st.URI}); err != nil {
			o.emit(errEvent("subscribe", st.URI, err))
			return
		}
		o.emit(map[string]any{"event": "subscribed", "uri": st.URI})
	case "unsubscribe":
		if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: st.URI}); err != nil {
			o.emit(errEvent("unsubscribe", st.URI, err))
			return
		}
		o.emit(map[string]any{"event": "unsubscribed", "uri": st.URI})
	case "setLevel":
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: mcp.LoggingLevel(st.Level)}); err != nil {
			o.emit(errEvent("setLevel", st.Level, err))
			return
		}
		o.emit(map[string]any{"event": "levelSet", "level": st.Level})
	case "ping":
		if err := cs.Ping(ctx, nil); err != nil {
			o.emit(errEvent("ping", "", err))
			return
		}
		o.emit(map[string]any{"event": "pong"})
	case "wait":
		n := st.Count
		if n <= 0 {
			n = 1
		}
		d := time.Duration(st.TimeoutMs) * time.Millisecond
		if d <= 0 {
			d = 10 * time.Second
		}
		if !o.wait(st.Event, n, d) {
			o.emit(map[string]any{"event": "error", "op": "wait", "name": st.Event, "message": fmt.Sprintf("fewer than %d %s events within %v", n, st.Event, d)})
			return
		}
		o.emit(map[string]any{"event": "waited", "name": st.Event, "count": n})
	case "sleep":
		time.Sleep(time.Duration(st.Ms) * time.Millisecond)
	default:
		o.emit(map[string]any{"event": "unsupported", "op": st.Op})
	}
}
