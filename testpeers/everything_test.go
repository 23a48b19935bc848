//go:build unix

package testpeers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The test clients against server-everything, the 2025-era reference
// server (built on @modelcontextprotocol/sdk 1.x).

const everythingDoc = "demo://resource/dynamic/text/1"

func everythingSteps(version string) []Step {
	return []Step{
		{Op: "list"},
		{Op: "call", Name: "echo", Args: map[string]any{"message": "hi"}},
		{Op: "call", Name: "trigger-elicitation-request"},
		{Op: "call", Name: "trigger-url-elicitation", Args: map[string]any{"url": "https://example.com/consent"}},
		{Op: "call", Name: "trigger-sampling-request", Args: map[string]any{"prompt": "2+2?"}},
		{Op: "call", Name: "get-roots-list"},
		{Op: "setLevel", Level: "debug"},
		{Op: "call", Name: "trigger-long-running-operation", Args: map[string]any{"duration": 1, "steps": 3}, Progress: true},
		{Op: "wait", Event: "progress", Count: 2, TimeoutMs: 3000},
		{Op: "call", Name: "toggle-simulated-logging"},
		{Op: "wait", Event: "log", TimeoutMs: 8000},
		{Op: "call", Name: "toggle-simulated-logging"},
		{Op: "subscribe", URI: everythingDoc},
		{Op: "call", Name: "toggle-subscriber-updates"},
		{Op: "wait", Event: "resource_updated", TimeoutMs: 8000},
		{Op: "call", Name: "toggle-subscriber-updates"},
		{Op: "prompt", Name: "args-prompt", Args: map[string]any{"city": "Lisbon"}},
		{Op: "read", URI: everythingDoc},
		{Op: "complete", Ref: map[string]any{"type": "ref/prompt", "name": "completable-prompt"}, Argument: map[string]any{"name": "department", "value": "Eng"}},
		{Op: "cancel", Name: "trigger-long-running-operation", Args: map[string]any{"duration": 5, "steps": 5}, AfterMs: 300},
	}
}

func everythingFeatures(es Events) map[string]bool {
	has := func(op, name, sub string) bool {
		got, ok := es.Result(op, name)
		return ok && strings.Contains(got, sub)
	}
	tools := es.Of("tools")
	comp := es.Of("completion")
	return map[string]bool{
		"list":        len(tools) > 0 && slices.Contains(anyStrings(tools[0]["names"]), "echo"),
		"echo":        has("call", "echo", "hi"),
		"elicit_form": has("call", "trigger-elicitation-request", "User provided the requested information") && len(es.Of("elicitation")) > 0,
		"elicit_url":  has("call", "trigger-url-elicitation", "User completed the URL elicitation flow"),
		"sampling":    has("call", "trigger-sampling-request", "canned answer to: Resource trigger-sampling-request context: 2+2?"),
		"roots":       has("call", "get-roots-list", "file:///canned/root"),
		"progress":    len(es.Of("progress")) >= 2,
		"logging":     len(es.Of("log")) > 0,
		"subscribe":   len(es.Of("resource_updated")) > 0,
		"prompt":      has("prompt", "args-prompt", "Lisbon"),
		"read":        has("read", everythingDoc, "Resource 1"),
		"complete":    len(comp) > 0 && slices.Equal(anyStrings(comp[0]["values"]), []string{"Engineering"}),
		"cancel":      len(es.Of("cancelled")) > 0,
	}
}

// everythingCannot lists what each client cannot do with server-everything.
var everythingCannot = map[pair]map[string]string{}

func TestClientsAgainstEverything(t *testing.T) {
	servers := []struct {
		name  string
		start func(testing.TB) Target
	}{
		{"everything-http", func(t testing.TB) Target { return Target{URL: StartEverything(t, "streamableHttp")} }},
		{"everything-stdio", EverythingStdioTarget},
	}
	clients := []struct {
		client  Client
		version string
	}{{GoSDKClient, Modern}, {GoSDKClient, Legacy}, {TS2Client, Modern}, {TS2Client, Legacy}, {TS1Client, Legacy}}
	for _, s := range servers {
		for _, c := range clients {
			t.Run(fmt.Sprintf("%s@%s/%s", c.client, c.version, s.name), func(t *testing.T) {
				target := s.start(t)
				es := RunClient(t, c.client, target, c.version, everythingSteps(c.version))
				conn := es.Of("connected")
				if c.client == TS2Client && c.version == Modern {
					// A pinned 2026-07-28 client has no fallback: the
					// probe finds a 2025-only server and connect fails.
					if len(conn) != 0 || len(es.Of("error")) == 0 || !strings.Contains(es.Of("error")[0].Str("message"), "2026-07-28") {
						t.Fatalf("want a failed connect naming 2026-07-28:\n%s", es)
					}
					return
				}
				if len(conn) == 0 {
					t.Fatalf("did not connect:\n%s", es)
				}
				if era := conn[0].Str("era"); era != "legacy" {
					t.Errorf("era %q, want legacy", era)
				}
				got := everythingFeatures(es)
				want := everythingCannot[pair{c.client, c.version, s.name}]
				var wrong []string
				for _, k := range sortedKeys(got) {
					_, expectFail := want[k]
					if got[k] == expectFail {
						wrong = append(wrong, fmt.Sprintf("%s: works=%v, want %v", k, got[k], !expectFail))
					}
				}
				if len(wrong) > 0 {
					t.Errorf("%s\nevents:\n%s", strings.Join(wrong, "\n"), es)
				}
			})
		}
	}
}
