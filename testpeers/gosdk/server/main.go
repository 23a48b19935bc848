// Command server is a go-sdk v1.8 MCP server for mcptray's tests. It speaks
// both protocol eras (2025-11-25 and earlier through initialize, 2026-07-28
// statelessly), over stdio (the default) or streamable HTTP (-http ADDR).
//
// Its tools are written once in the Multi Round-Trip Requests style (they
// return InputRequests); the SDK's own middleware turns those into
// server-initiated elicitation/sampling/roots requests for a legacy client.
//
//	echo {message}          → "echo: <message>"
//	header_echo {region}    → "region: <region>"; region is mirrored to the
//	                          Mcp-Param-Region header (x-mcp-header)
//	elicit_form {}          → asks for a name (form mode), then "hello <name>"
//	elicit_url {}           → asks the user to visit a URL, then "url: <action>"
//	sample {prompt}         → asks the client's model, then "sampled: <text>"
//	roots {}                → asks for the client's roots, then "roots: <uris>"
//	progress {steps}        → a progress notification and a log message per step
//	slow {ms}               → sleeps; a cancelled call logs "slow: cancelled" on stderr
//	cancellations {}        → "cancelled: N", the slow calls cancelled so far
//	touch_resource {}       → changes peer://status (notifications/resources/updated)
//	add_tool {name}         → adds a tool (notifications/tools/list_changed)
//
// Prompt greet {name} and resource template peer://items/{id} complete
// their arguments; resource peer://status can be subscribed to. List and
// read results carry ttlMs 30000 (cacheScope public, the SDK's default).
//
// On HTTP go-sdk serves 2026-07-28 only from a stateless handler, and a
// stateless handler cannot send a legacy client server-initiated requests
// (docs/protocol.md, "Stateless Mode"). -era dual (the default) routes each
// request by its MCP-Protocol-Version header: 2026-07-28 and later to a
// stateless handler, everything else to a stateful one, both over the same
// mcp.Server. -era legacy serves only the stateful handler (a 2025-only
// server: modern requests get -32022), -era modern only the stateless one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mcptray/mcptray/testpeers/gosdk/internal/state"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const statusURI = "peer://status"

type peer struct {
	server    *mcp.Server
	codec     *state.Codec
	version   atomic.Int64 // the content version of peer://status
	cancelled atomic.Int64 // how many slow calls were cancelled
}

func invalidState(err error) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
}

// legacy reports whether the caller speaks an initialize-era revision.
func legacy(req *mcp.CallToolRequest) bool {
	p := req.Session.InitializeParams()
	return p != nil && p.ProtocolVersion < "2026-07-28"
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

func text(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

// retry checks the requestState of a retried call and returns the response
// to key, or nil on a first call.
func (p *peer) retry(req *mcp.CallToolRequest, tool, key string) (mcp.InputResponse, error) {
	if req.Params.RequestState == "" && len(req.Params.InputResponses) == 0 {
		return nil, nil
	}
	if _, err := p.codec.Verify(tool, req.Params.RequestState); err != nil {
		return nil, invalidState(err)
	}
	r, ok := req.Params.InputResponses[key]
	if !ok {
		return nil, nil
	}
	return r, nil
}

func (p *peer) ask(tool, key string, r mcp.InputRequest) *mcp.CallToolResult {
	return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{key: r}, RequestState: p.codec.Mint(tool, "asked")}
}

type echoIn struct {
	Message string `json:"message"`
}

type regionIn struct {
	Region string `json:"region"`
}

type sampleIn struct {
	Prompt string `json:"prompt,omitempty"`
}

type stepsIn struct {
	Steps int `json:"steps,omitempty"`
}

type slowIn struct {
	Ms int `json:"ms,omitempty"`
}

type nameIn struct {
	Name string `json:"name"`
}

func (p *peer) register() {
	s := p.server
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echoes message"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return text("echo: %s", in.Message), nil, nil
	})
	regionSchema := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{
		"region": {Type: "string", Extra: map[string]any{"x-mcp-header": "Region"}},
	}, Required: []string{"region"}}
	mcp.AddTool(s, &mcp.Tool{Name: "header_echo", Description: "Echoes region, which travels in the Mcp-Param-Region header too", InputSchema: regionSchema}, func(_ context.Context, _ *mcp.CallToolRequest, in regionIn) (*mcp.CallToolResult, any, error) {
		return text("region: %s", in.Region), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "elicit_form", Description: "Asks for a name in a form"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		r, err := p.retry(req, "elicit_form", "name")
		if err != nil {
			return nil, nil, err
		}
		if er, ok := r.(*mcp.ElicitResult); ok {
			name, _ := er.Content["name"].(string)
			return text("hello %s (%s)", name, er.Action), nil, nil
		}
		return p.ask("elicit_form", "name", &mcp.ElicitParams{
			Mode:    "form",
			Message: "What is your name?",
			RequestedSchema: &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{
				"name": {Type: "string", Description: "your name"},
			}, Required: []string{"name"}},
		}), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "elicit_url", Description: "Asks the user to visit a URL"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		r, err := p.retry(req, "elicit_url", "consent")
		if err != nil {
			return nil, nil, err
		}
		if er, ok := r.(*mcp.ElicitResult); ok {
			return text("url: %s", er.Action), nil, nil
		}
		e := &mcp.ElicitParams{Mode: "url", Message: "Approve the test peer", URL: "https://example.com/consent"}
		if legacy(req) {
			// 2025-11-25 URL mode requires an elicitationId; 2026-07-28
			// removed it (changelog, minor change 11).
			e.ElicitationID = "consent-1"
		}
		return p.ask("elicit_url", "consent", e), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "sample", Description: "Asks the client's model"}, func(_ context.Context, req *mcp.CallToolRequest, in sampleIn) (*mcp.CallToolResult, any, error) {
		r, err := p.retry(req, "sample", "llm")
		if err != nil {
			return nil, nil, err
		}
		// go-sdk decodes a sampling response as CreateMessageWithToolsResult
		// (content may be an array there); accept both shapes.
		switch cr := r.(type) {
		case *mcp.CreateMessageResult:
			return text("sampled: %s (%s)", textOf([]mcp.Content{cr.Content}), cr.Model), nil, nil
		case *mcp.CreateMessageWithToolsResult:
			return text("sampled: %s (%s)", textOf(cr.Content), cr.Model), nil, nil
		}
		prompt := in.Prompt
		if prompt == "" {
			prompt = "Say hello"
		}
		return p.ask("sample", "llm", &mcp.CreateMessageParams{
			MaxTokens: 50,
			Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: prompt}}},
		}), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "roots", Description: "Lists the client's roots"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		r, err := p.retry(req, "roots", "roots")
		if err != nil {
			return nil, nil, err
		}
		if lr, ok := r.(*mcp.ListRootsResult); ok {
			var uris []string
			for _, root := range lr.Roots {
				uris = append(uris, root.URI)
			}
			return text("roots: %s", strings.Join(uris, ",")), nil, nil
		}
		return p.ask("roots", "roots", &mcp.ListRootsParams{}), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "progress", Description: "Sends a progress notification and a log message per step"}, func(ctx context.Context, req *mcp.CallToolRequest, in stepsIn) (*mcp.CallToolResult, any, error) {
		steps := in.Steps
		if steps <= 0 {
			steps = 3
		}
		token := req.Params.GetProgressToken()
		for i := 1; i <= steps; i++ {
			if token != nil {
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(i), Total: float64(steps), Message: fmt.Sprintf("step %d", i)}); err != nil {
					return nil, nil, err
				}
			}
			_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "progress", Data: fmt.Sprintf("step %d of %d", i, steps)})
			_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "debug", Logger: "progress", Data: fmt.Sprintf("debug %d", i)})
			// A pause per step: TypeScript SDK clients on stdio drop
			// notifications/progress that arrive back to back with the
			// response (see /work/notes/wire-facts.md).
			time.Sleep(50 * time.Millisecond)
		}
		return text("progress: %d steps", steps), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "Sleeps ms milliseconds (default 10000)"}, func(ctx context.Context, _ *mcp.CallToolRequest, in slowIn) (*mcp.CallToolResult, any, error) {
		d := time.Duration(in.Ms) * time.Millisecond
		if d <= 0 {
			d = 10 * time.Second
		}
		select {
		case <-time.After(d):
			return text("slept %dms", d.Milliseconds()), nil, nil
		case <-ctx.Done():
			p.cancelled.Add(1)
			fmt.Fprintln(os.Stderr, "slow: cancelled")
			return nil, nil, ctx.Err()
		}
	})
	mcp.AddTool(s, &mcp.Tool{Name: "cancellations", Description: "Counts the slow calls cancelled so far"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return text("cancelled: %d", p.cancelled.Load()), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "touch_resource", Description: "Changes " + statusURI}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		v := p.version.Add(1)
		if err := s.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: statusURI}); err != nil {
			return nil, nil, err
		}
		return text("status version %d", v), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "add_tool", Description: "Adds a tool named name"}, func(_ context.Context, _ *mcp.CallToolRequest, in nameIn) (*mcp.CallToolResult, any, error) {
		if in.Name == "" {
			return nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "name is required"}
		}
		added := in.Name
		mcp.AddTool(s, &mcp.Tool{Name: added, Description: "Added by add_tool"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return text("%s: added", added), nil, nil
		})
		return text("added %s", added), nil, nil
	})

	s.AddPrompt(&mcp.Prompt{Name: "greet", Description: "Greets someone", Arguments: []*mcp.PromptArgument{{Name: "name", Required: true}}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Description: "a greeting", Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Please greet " + req.Params.Arguments["name"]}}}}, nil
	})
	s.AddResource(&mcp.Resource{URI: statusURI, Name: "status", MIMEType: "text/plain"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: statusURI, MIMEType: "text/plain", Text: fmt.Sprintf("status version %d", p.version.Load())}}}, nil
	})
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "peer://items/{id}", Name: "item", MIMEType: "text/plain"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		id := strings.TrimPrefix(req.Params.URI, "peer://items/")
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "item " + id}}}, nil
	})
}

var names = []string{"Alice", "Albert", "Bob"}

func complete(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	var values []string
	switch {
	case req.Params.Ref.Type == "ref/prompt" && req.Params.Argument.Name == "name":
		for _, n := range names {
			if strings.HasPrefix(n, req.Params.Argument.Value) {
				values = append(values, n)
			}
		}
	case req.Params.Ref.Type == "ref/resource" && req.Params.Argument.Name == "id":
		for _, id := range []string{"1", "2", "3"} {
			if strings.HasPrefix(id, req.Params.Argument.Value) {
				values = append(values, id)
			}
		}
	}
	if values == nil {
		values = []string{}
	}
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: values, Total: len(values)}}, nil
}

func newPeer() *peer {
	p := &peer{codec: state.New()}
	p.server = mcp.NewServer(&mcp.Implementation{Name: "gosdk-peer", Version: "1.0.0"}, &mcp.ServerOptions{
		Instructions:      "A go-sdk test peer for mcptray.",
		CompletionHandler: complete,
		SubscribeHandler:  func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error {
			return nil
		},
		SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) {
			if c.TTLMs == 0 {
				c.TTLMs = 30_000
			}
		},
	})
	p.register()
	return p
}

func main() {
	addr := flag.String("http", "", "serve streamable HTTP on this address (127.0.0.1:0 picks a port) instead of stdio")
	era := flag.String("era", "dual", "on HTTP: dual, legacy (2025 only, stateful) or modern (2026-07-28 only, stateless)")
	flag.Parse()
	p := newPeer()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *addr == "" {
		if err := p.server.Run(ctx, &mcp.StdioTransport{}); err != nil && !errors.Is(err, context.Canceled) {
			log.Fatal(err)
		}
		return
	}
	get := func(*http.Request) *mcp.Server { return p.server }
	stateful := mcp.NewStreamableHTTPHandler(get, nil)
	// go-sdk does not cancel a 2026-07-28 handler when its response stream
	// closes unless asked to, though streamable-http.mdx ("Cancellation")
	// says closing the stream MUST count as cancellation.
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true, PropagateRequestCancellation: true})
	var h http.Handler
	switch *era {
	case "dual":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v := r.Header.Get("Mcp-Protocol-Version"); v >= "2026-07-28" {
				stateless.ServeHTTP(w, r)
				return
			}
			stateful.ServeHTTP(w, r)
		})
	case "legacy":
		h = stateful
	case "modern":
		h = stateless
	default:
		log.Fatalf("unknown -era %q", *era)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "MCPTRAY_PEER_LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: mux}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
