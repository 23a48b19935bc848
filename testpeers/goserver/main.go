// Command testserver is a small MCP server for the hub's tests and
// benchmarks: what a real server cannot be made to do on demand (hang, answer
// with megabytes, write garbage to stdout, change its tool list, count the
// cancellations it received) and a fast echo to measure the hub against.
//
// Usage:
//
//	testserver stdio
//	testserver http ADDR      streamable HTTP at http://ADDR/mcp
//	testserver raw            stdio, JSON-RPC written by hand: a tool "odd"
//	                          whose answers no SDK would write (see testpeers/rawpeer)
//
// MCPTRAY_TESTSERVER_DELAY (a duration) makes it wait that long before it
// serves, like a server that takes time to start.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcptray/mcptray/testpeers/payload"
	"github.com/mcptray/mcptray/testpeers/rawpeer"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: testserver stdio | http ADDR")
	}
	if d, err := time.ParseDuration(os.Getenv("MCPTRAY_TESTSERVER_DELAY")); err == nil {
		time.Sleep(d)
	}
	s := newServer()
	switch os.Args[1] {
	case "stdio":
		if err := server.ServeStdio(s); err != nil {
			log.Fatal(err)
		}
	case "raw":
		rawpeer.Serve(os.Stdin, os.Stdout)
	case "http":
		addr := "127.0.0.1:0"
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "MCPTRAY_PEER_LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
		mux := http.NewServeMux()
		mux.Handle("/mcp", server.NewStreamableHTTPServer(s))
		log.Fatal(http.Serve(ln, mux))
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

func newServer() *server.MCPServer {
	s := server.NewMCPServer("testserver", "1.0", server.WithToolCapabilities(true))
	var cancelled atomic.Int64
	var added atomic.Int64

	s.AddTool(mcp.NewTool("echo", mcp.WithString("text", mcp.Required())),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(r.GetString("text", "")), nil
		})

	s.AddTool(mcp.NewTool("sleep", mcp.WithNumber("ms", mcp.Required())),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			select {
			case <-time.After(time.Duration(r.GetFloat("ms", 0)) * time.Millisecond):
				return mcp.NewToolResultText("slept"), nil
			case <-ctx.Done():
				cancelled.Add(1)
				return nil, ctx.Err()
			}
		})

	s.AddTool(mcp.NewTool("cancellations"),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(fmt.Sprint(cancelled.Load())), nil
		})

	// huge answers mib MiB of text, in a pattern a copy could not fake; with
	// a progress token it sends a progress notification first, which makes
	// the streamable HTTP answer an SSE stream.
	s.AddTool(mcp.NewTool("huge", mcp.WithNumber("mib", mcp.Required())),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			n := int(r.GetFloat("mib", 1))
			if r.Params.Meta != nil && r.Params.Meta.ProgressToken != nil {
				_ = server.ServerFromContext(ctx).SendNotificationToClient(ctx, "notifications/progress",
					map[string]any{"progressToken": r.Params.Meta.ProgressToken, "progress": 1, "total": 1})
			}
			return mcp.NewToolResultText(payload.Text(n << 20)), nil
		})

	s.AddTool(mcp.NewTool("fail"),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultError("it failed as asked"), nil
		})

	s.AddTool(mcp.NewTool("noise"),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			// Not JSON-RPC, on the stdio channel: a badly behaved server.
			fmt.Fprintln(os.Stdout, "this line is not JSON")
			return mcp.NewToolResultText("made noise"), nil
		})

	s.AddTool(mcp.NewTool("progress", mcp.WithNumber("steps", mcp.Required()), mcp.WithNumber("delayMs")),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			steps := int(r.GetFloat("steps", 3))
			delay := time.Duration(r.GetFloat("delayMs", 10)) * time.Millisecond
			var token mcp.ProgressToken
			if r.Params.Meta != nil {
				token = r.Params.Meta.ProgressToken
			}
			for i := 1; i <= steps && token != nil; i++ {
				_ = server.ServerFromContext(ctx).SendNotificationToClient(ctx, "notifications/progress",
					map[string]any{"progressToken": token, "progress": i, "total": steps, "message": fmt.Sprintf("step %d", i)})
				time.Sleep(delay)
			}
			return mcp.NewToolResultText("done"), nil
		})

	s.AddTool(mcp.NewTool("add_tool"),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			name := fmt.Sprintf("added_%d", added.Add(1))
			s.AddTool(mcp.NewTool(name), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultText(name), nil
			})
			return mcp.NewToolResultText(name), nil
		})
	return s
}
