//go:build unix

package hub

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcptray/mcptray/testpeers"
)

// goserverTools are the tools of testpeers/goserver.
var goserverTools = []string{"add_tool", "cancellations", "echo", "fail", "huge", "noise", "progress", "sleep"}

// TestGroupViews serves one of MCPHub's groups: alpha (the Go test server)
// whole, and server-everything as beta under the alias b with a selection
// of its tools, prompts and resources, joined by a custom nameSeparator.
// The group answers by id and by name, over streamable HTTP and SSE, with
// exactly what it selects; the rest is neither listed nor callable.
func TestGroupViews(t *testing.T) {
	const features = "demo://resource/static/document/features.md"
	cmd, args := testpeers.EverythingStdio(t)
	h := startHub(t, settingsJSON(map[string]any{
		"alpha": stdioServer(testServerBin, "stdio"),
		"beta":  stdioServer(cmd, args...),
	}, map[string]any{
		"groups": []any{map[string]any{"id": "g1", "name": "team", "servers": []any{
			"alpha",
			map[string]any{"name": "beta", "alias": "b", "tools": []string{"echo", "get-sum"}, "prompts": []string{"simple-prompt"}, "resources": []string{features}},
		}}},
		"systemConfig": map[string]any{"nameSeparator": "__"},
	}))
	h.waitConnected("alpha", "beta")

	var want []string
	for _, n := range goserverTools {
		want = append(want, "alpha__"+n)
	}
	want = append(want, "b__echo", "b__get-sum")
	slices.Sort(want)

	for _, route := range []struct {
		path string
		sse  bool
	}{{"/mcp/g1", false}, {"/mcp/team", false}, {"/sse/g1", true}, {"/sse/team", true}} {
		c, _ := h.connect(route.path, route.sse)
		waitListed(t, c, "b__echo", true)
		got := toolNames(t, c)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s lists tools %v, want %v", route.path, got, want)
		}
		if res := resultText(callTool(t, c, "b__echo", map[string]any{"message": "grouped"})); res != "Echo: grouped" {
			t.Errorf("%s b__echo: %q", route.path, res)
		}
		if res := resultText(callTool(t, c, "alpha__echo", map[string]any{"text": "whole"})); res != "whole" {
			t.Errorf("%s alpha__echo: %q", route.path, res)
		}
		// Unselected, unaliased, or with the default separator: no such
		// tool here.
		for _, name := range []string{"b__get-tiny-image", "beta__echo", "b-echo", "alpha-echo", "beta-get-sum"} {
			if _, err := callToolErr(c, name, map[string]any{"message": "x", "text": "x"}); err == nil {
				t.Errorf("%s: %s can be called", route.path, name)
			}
		}

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		prompts, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var promptNames []string
		for _, p := range prompts.Prompts {
			promptNames = append(promptNames, p.Name)
		}
		if !slices.Equal(promptNames, []string{"b__simple-prompt"}) {
			t.Errorf("%s lists prompts %v, want [b__simple-prompt]", route.path, promptNames)
		}
		if got, err := getPrompt(ctx, c, "b__simple-prompt"); err != nil || len(got.Messages) == 0 {
			t.Errorf("%s prompts/get b__simple-prompt: %v %+v", route.path, err, got)
		}
		if _, err := getPrompt(ctx, c, "b__args-prompt"); err == nil {
			t.Errorf("%s: the unselected b__args-prompt can be got", route.path)
		}

		res, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Resources) != 1 || res.Resources[0].URI != features || res.Resources[0].Name != "b__features.md" {
			t.Errorf("%s lists resources %+v, want only %s as b__features.md", route.path, res.Resources, features)
		}
		if read, err := readResource(ctx, c, features); err != nil || len(read.Contents) == 0 {
			t.Errorf("%s resources/read %s: %v", route.path, features, err)
		}
		if _, err := readResource(ctx, c, "demo://resource/static/document/architecture.md"); err == nil {
			t.Errorf("%s: an unselected resource can be read", route.path)
		}
		cancel()
	}

	// Every server, whole, at /mcp, with the separator too.
	c, _ := h.connect("/mcp", false)
	names := toolNames(t, c)
	for _, n := range []string{"alpha__echo", "beta__echo", "beta__get-tiny-image"} {
		if !slices.Contains(names, n) {
			t.Errorf("/mcp lacks %s: %v", n, names)
		}
	}
	for _, n := range names {
		if prefix, _, _ := strings.Cut(n, "__"); prefix != "alpha" && prefix != "beta" {
			t.Errorf("/mcp lists %s, not joined by the separator __", n)
		}
	}
	if res := resultText(callTool(t, c, "beta__get-sum", map[string]any{"a": 1, "b": 2})); res == "" {
		t.Error("beta__get-sum at /mcp answered nothing")
	}
}

func getPrompt(ctx context.Context, c *client.Client, name string) (*mcp.GetPromptResult, error) {
	req := mcp.GetPromptRequest{}
	req.Params.Name = name
	return c.GetPrompt(ctx, req)
}

func readResource(ctx context.Context, c *client.Client, uri string) (*mcp.ReadResourceResult, error) {
	req := mcp.ReadResourceRequest{}
	req.Params.URI = uri
	return c.ReadResource(ctx, req)
}
