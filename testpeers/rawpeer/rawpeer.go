// Package rawpeer is an MCP server over stdio whose JSON-RPC is written by
// hand, for answers no SDK would write: tests check that the hub passes
// them on byte for byte. The test server runs it as "testserver raw".
package rawpeer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Results are what the raw server's tool "odd" answers, by its "mode"
// argument: byte for byte, so tests can check that the hub passes them on
// unchanged.
var Results = map[string]string{
	// A content type and fields no SDK knows yet.
	"content": `{"content":[{"type":"x-future","payload":{"a":1}},{"type":"text","text":"hi","annotations":{"audience":["user"]},"_meta":{"k":"v"}}],"structuredContent":{"k":[1,2]},"extraTopLevel":"kept"}`,
}

// Errors are the JSON-RPC errors "odd" answers by mode.
var Errors = map[string]string{
	"error": `{"code":-32042,"message":"custom failure","data":{"hint":"retry later","n":3}}`,
}

// Serve answers MCP over stdio with JSON written by hand.
func Serve(in io.Reader, out io.Writer) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Arguments struct {
					Mode string `json:"mode"`
				} `json:"arguments"`
			} `json:"params"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) != nil || len(msg.ID) == 0 {
			continue // notifications
		}
		var result, rpcErr string
		switch msg.Method {
		case "initialize":
			result = `{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"raw","version":"1"}}`
		case "tools/list":
			result = `{"tools":[{"name":"odd","inputSchema":{"type":"object","properties":{"mode":{"type":"string","enum":["content","error","neither","stray","flood"]}},"anyOf":[{"required":["mode"]}]}}]}`
		case "tools/call":
			switch mode := msg.Params.Arguments.Mode; mode {
			case "neither":
				// A response with neither result nor error.
				fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s}`+"\n", msg.ID)
				continue
			case "stray":
				// An answer to a request nobody sent, then the real one.
				fmt.Fprint(out, `{"jsonrpc":"2.0","id":987654,"result":{"content":[]}}`+"\n")
				result = `{"content":[{"type":"text","text":"after a stray answer"}]}`
			case "flood":
				// Far more notifications than anyone asked for.
				for i := range 20000 {
					fmt.Fprintf(out, `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"flood %d"}}`+"\n", i)
				}
				result = `{"content":[{"type":"text","text":"after a flood"}]}`
			default:
				result, rpcErr = Results[mode], Errors[mode]
			}
		case "ping":
			result = `{}`
		default:
			rpcErr = `{"code":-32601,"message":"method not found"}`
		}
		if rpcErr != "" {
			fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"error":%s}`+"\n", msg.ID, rpcErr)
		} else {
			fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"result":%s}`+"\n", msg.ID, result)
		}
	}
}
