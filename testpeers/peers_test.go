//go:build unix

package testpeers

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// The baseline: every test client against every test server directly, no
// hub in between. A feature a pair of SDKs cannot do is listed in
// cannot with the reason; the test asserts those fail too, so a pair that
// starts (or stops) working shows up.

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
				es := RunClient(t, c.client, target, c.version, OwnSteps(c.version))
				conn := es.Of("connected")
				if len(conn) == 0 {
					t.Fatalf("did not connect:\n%s", es)
				}
				got := OwnFeatures(es)
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
