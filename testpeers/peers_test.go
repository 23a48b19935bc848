//go:build unix

package testpeers

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The baseline: every test client against every test server directly, no
// hub in between. A feature a pair of SDKs cannot do is listed in
// cannot with the reason; the test asserts those fail too, so a pair that
// starts (or stops) working shows up.

// ownSteps is the scenario for the go-sdk and server@2 test servers.
func ownSteps(version string) []Step {
	legacy := version != Modern
	s := []Step{
		{Op: "list"},
		{Op: "call", Name: "echo", Args: map[string]any{"message": "hi"}},
		{Op: "call", Name: "header_echo", Args: map[string]any{"region": "eu-west"}},
		{Op: "call", Name: "elicit_form"},
		{Op: "call", Name: "elicit_url"},
		{Op: "call", Name: "sample", Args: map[string]any{"prompt": "2+2?"}},
		{Op: "call", Name: "roots"},
	}
	if legacy {
		s = append(s, Step{Op: "setLevel", Level: "info"}, Step{Op: "ping"})
	}
	s = append(s,
		Step{Op: "call", Name: "progress", Args: map[string]any{"steps": 2}, Progress: true, LogLevel: "info"},
		Step{Op: "wait", Event: "progress", Count: 2, TimeoutMs: 3000},
		Step{Op: "wait", Event: "log", Count: 2, TimeoutMs: 3000},
		Step{Op: "subscribe", URI: "peer://status"},
		Step{Op: "sleep", Ms: 300},
		Step{Op: "call", Name: "touch_resource"},
		Step{Op: "wait", Event: "resource_updated", TimeoutMs: 3000},
		Step{Op: "call", Name: "add_tool", Args: map[string]any{"name": "added"}},
		Step{Op: "wait", Event: "list_changed", TimeoutMs: 3000},
		Step{Op: "prompt", Name: "greet", Args: map[string]any{"name": "Bob"}},
		Step{Op: "read", URI: "peer://items/7"},
		Step{Op: "complete", Ref: map[string]any{"type": "ref/prompt", "name": "greet"}, Argument: map[string]any{"name": "name", "value": "Al"}},
		Step{Op: "cancel", Name: "slow", Args: map[string]any{"ms": 5000}, AfterMs: 300},
		Step{Op: "sleep", Ms: 300},
		Step{Op: "call", Name: "cancellations"},
		Step{Op: "task", Name: "task", Args: map[string]any{"ms": 200, "confirm": true}},
	)
	return s
}

// ownFeatures says which features of ownSteps worked.
func ownFeatures(es Events) map[string]bool {
	is := func(op, name, want string) bool { got, ok := es.Result(op, name); return ok && got == want }
	logs := 0
	for _, e := range es.Of("log") {
		if strings.HasPrefix(fmt.Sprint(e["data"]), "step ") {
			logs++
		}
	}
	tools := es.Of("tools")
	f := map[string]bool{
		"list":         len(tools) > 0 && slices.Contains(anyStrings(tools[0]["names"]), "echo"),
		"echo":         is("call", "echo", "echo: hi"),
		"header":       is("call", "header_echo", "region: eu-west"),
		"elicit_form":  is("call", "elicit_form", "hello canned name (accept)") && len(es.Of("elicitation")) > 0,
		"elicit_url":   is("call", "elicit_url", "url: accept"),
		"sampling":     is("call", "sample", "sampled: canned answer to: 2+2? (canned-model)") && len(es.Of("sampling")) > 0,
		"roots":        is("call", "roots", "roots: file:///canned/root"),
		"progress":     len(es.Of("progress")) >= 2,
		"logging":      logs >= 2,
		"subscribe":    len(es.Of("resource_updated")) > 0,
		"list_changed": len(es.Of("list_changed")) > 0,
		"prompt":       is("prompt", "greet", "Please greet Bob"),
		"read":         is("read", "peer://items/7", "item 7"),
		"complete":     len(es.Of("completion")) > 0 && slices.Equal(anyStrings(es.Of("completion")[0]["values"]), []string{"Alice", "Albert"}),
		"cancel":       len(es.Of("cancelled")) > 0 && is("call", "cancellations", "cancelled: 1"),
		"task":         is("task", "task", `task: confirmed accept {"ok":true}`),
	}
	return f
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

type pair struct {
	client  Client
	version string
	server  string
}

// cannot lists what each pair cannot do, and why. Every other feature of
// the scenario must work.
var cannot = func() map[pair]map[string]string {
	m := map[pair]map[string]string{}
	add := func(p pair, why string, features ...string) {
		if m[p] == nil {
			m[p] = map[string]string{}
		}
		for _, f := range features {
			m[p][f] = why
		}
	}
	servers := []string{"gosdk-http", "gosdk-stdio", "server2-http", "server2-stdio"}
	clients := []pair{{GoSDKClient, Modern, ""}, {GoSDKClient, Legacy, ""}, {TS2Client, Modern, ""}, {TS2Client, Legacy, ""}, {TS1Client, Legacy, ""}}
	for _, s := range servers {
		for _, c := range clients {
			c.server = s
			switch {
			case !strings.HasPrefix(s, "server2"):
				add(c, "go-sdk has no tasks extension: the go-sdk server has no task tool", "task")
			case c.client != TS2Client || c.version != Modern:
				add(c, "only client@2 on a 2026-07-28 connection declares the tasks extension", "task")
			case s == "server2-stdio":
				add(c, "client@2 rejects resultType \"task\"; client2.mjs sends the creating call by hand, over HTTP only", "task")
			}
		}
	}
	for _, s := range []string{"server2-http", "server2-stdio"} {
		add(pair{GoSDKClient, Modern, s}, "server@2 sends {\"method\":\"roots/list\"} without params; the go-sdk v1.8 client fails to decode it (unexpected end of JSON input)", "roots")
	}
	// createMcpHandler serves 2025-era clients per request, statelessly:
	// no session, so no server-initiated requests, no resources/subscribe
	// (-32601) and no unsolicited notifications.
	for _, c := range []pair{{GoSDKClient, Legacy, "server2-http"}, {TS2Client, Legacy, "server2-http"}, {TS1Client, Legacy, "server2-http"}} {
		add(c, "server@2 serves 2025 clients statelessly over HTTP", "elicit_form", "elicit_url", "sampling", "roots", "subscribe", "list_changed")
	}
	// The TypeScript clients cancel a 2025-era call with a
	// notifications/cancelled POST, which reaches another stateless
	// instance; the go-sdk client also closes the response stream, which
	// aborts the handler.
	add(pair{TS2Client, Legacy, "server2-http"}, "notifications/cancelled reaches a different stateless instance", "cancel")
	add(pair{TS1Client, Legacy, "server2-http"}, "notifications/cancelled reaches a different stateless instance", "cancel")
	return m
}()

func TestClientsAgainstOwnServers(t *testing.T) {
	servers := []struct {
		name  string
		start func(testing.TB) Target
		stdio bool
	}{
		{"gosdk-http", func(t testing.TB) Target { return StartGoSDKServer(t, "dual") }, false},
		{"gosdk-stdio", GoSDKServerStdio, true},
		{"server2-http", StartServer2, false},
		{"server2-stdio", Server2Stdio, true},
	}
	clients := []struct {
		client  Client
		version string
	}{{GoSDKClient, Modern}, {GoSDKClient, Legacy}, {TS2Client, Modern}, {TS2Client, Legacy}, {TS1Client, Legacy}}
	for _, s := range servers {
		for _, c := range clients {
			t.Run(fmt.Sprintf("%s@%s/%s", c.client, c.version, s.name), func(t *testing.T) {
				target := s.start(t)
				es := RunClient(t, c.client, target, c.version, ownSteps(c.version))
				conn := es.Of("connected")
				if len(conn) == 0 {
					t.Fatalf("did not connect:\n%s", es)
				}
				got := ownFeatures(es)
				want := cannot[pair{c.client, c.version, s.name}]
				var wrong []string
				for _, k := range sortedKeys(got) {
					_, expectFail := want[k]
					if got[k] == expectFail {
						wrong = append(wrong, fmt.Sprintf("%s: works=%v, want %v", k, got[k], !expectFail))
					}
				}
				if len(wrong) > 0 {
					t.Errorf("era %s:\n%s\nevents:\n%s", conn[0].Str("era"), strings.Join(wrong, "\n"), es)
				}
			})
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
