//go:build unix

package testpeers

import (
	"fmt"
	"slices"
	"strings"
)

// The scenarios the test clients run, and what each feature's success
// looks like in their events: the baseline tests run them against each
// server directly, the hub's tests through the hub.

// OwnSteps is the scenario for the go-sdk and server@2 test servers.
func OwnSteps(version string) []Step {
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

// OwnFeatures says which features of ownSteps worked.
func OwnFeatures(es Events) map[string]bool {
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

// EverythingDoc is a resource of server-everything the scenario reads.
const EverythingDoc = "demo://resource/dynamic/text/1"

// EverythingSteps is the scenario for server-everything.
func EverythingSteps(version string) []Step {
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
		{Op: "subscribe", URI: EverythingDoc},
		{Op: "call", Name: "toggle-subscriber-updates"},
		{Op: "wait", Event: "resource_updated", TimeoutMs: 8000},
		{Op: "call", Name: "toggle-subscriber-updates"},
		{Op: "prompt", Name: "args-prompt", Args: map[string]any{"city": "Lisbon"}},
		{Op: "read", URI: EverythingDoc},
		{Op: "complete", Ref: map[string]any{"type": "ref/prompt", "name": "completable-prompt"}, Argument: map[string]any{"name": "department", "value": "Eng"}},
		{Op: "cancel", Name: "trigger-long-running-operation", Args: map[string]any{"duration": 5, "steps": 5}, AfterMs: 300},
	}
}

// EverythingFeatures says which features of EverythingSteps worked.
func EverythingFeatures(es Events) map[string]bool {
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
		"read":        has("read", EverythingDoc, "Resource 1"),
		"complete":    len(comp) > 0 && slices.Equal(anyStrings(comp[0]["values"]), []string{"Engineering"}),
		"cancel":      len(es.Of("cancelled")) > 0,
	}
}
