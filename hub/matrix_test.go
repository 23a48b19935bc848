//go:build unix

package hub

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mcptray/mcptray/testpeers"
)

// The revision matrix: every test client, in each revision it speaks,
// against every test server through the hub, at /mcp/{server} (the
// server's own names, as if connected to it directly). What a client can
// do with a server directly it can do through the hub; some pairs can do
// more, because the hub speaks each side's revision and translates
// (testpeers' baseline tests show the direct results).

type matrixClient struct {
	client  testpeers.Client
	version string
}

var matrixClients = []matrixClient{
	{testpeers.GoSDKClient, testpeers.Modern}, {testpeers.GoSDKClient, testpeers.Legacy},
	{testpeers.TS2Client, testpeers.Modern}, {testpeers.TS2Client, testpeers.Legacy},
	{testpeers.TS1Client, testpeers.Legacy},
}

// matrixCannot lists what a pair cannot do through the hub, and why: only
// what a client or server SDK, or the protocol, cannot do. Keys:
// client@version/server.
var matrixCannot = func() map[string]map[string]string {
	m := map[string]map[string]string{}
	add := func(c matrixClient, server, why string, features ...string) {
		k := fmt.Sprintf("%s@%s/%s", c.client, c.version, server)
		if m[k] == nil {
			m[k] = map[string]string{}
		}
		for _, f := range features {
			m[k][f] = why
		}
	}
	for _, c := range matrixClients {
		for _, s := range []string{"gosdk-dual", "gosdk-legacy", "gosdk-modern", "gosdk-stdio"} {
			add(c, s, "go-sdk has no tasks extension: the go-sdk test server has no task tool", "task")
		}
		if c.client != testpeers.TS2Client || c.version != testpeers.Modern {
			for _, s := range []string{"server2-http", "server2-stdio"} {
				add(c, s, "only client@2 on a 2026-07-28 connection declares the tasks extension", "task")
			}
		}
		if c.version == testpeers.Modern {
			for _, s := range []string{"ev-http", "ev-sse", "ev-stdio"} {
				add(c, s, "server-everything logs on its own, outside any request; 2026-07-28 sends log messages only with the request that asked for them", "logging")
			}
		}
	}
	for _, s := range []string{"server2-http", "server2-stdio"} {
		add(matrixClient{testpeers.GoSDKClient, testpeers.Modern}, s, "server@2 asks for roots/list without params, and the hub passes a 2026-07-28 server's input requests on unchanged; the go-sdk v1.8 client cannot decode it (as directly)", "roots")
	}
	return m
}()

func cannotThrough(client matrixClient, server string) map[string]string {
	return matrixCannot[fmt.Sprintf("%s@%s/%s", client.client, client.version, server)]
}

// matrixServers start each test server, fresh for each client: the
// scenarios change a server's state (a tool added, a cancellation counted).
var matrixServers = map[string]func(t *testing.T) map[string]any{
	"gosdk-dual": func(t *testing.T) map[string]any {
		return map[string]any{"url": testpeers.StartGoSDKServer(t, "dual").URL}
	},
	"gosdk-legacy": func(t *testing.T) map[string]any {
		return map[string]any{"url": testpeers.StartGoSDKServer(t, "legacy").URL}
	},
	"gosdk-modern": func(t *testing.T) map[string]any {
		return map[string]any{"url": testpeers.StartGoSDKServer(t, "modern").URL}
	},
	"gosdk-stdio":   func(t *testing.T) map[string]any { return stdioTarget(testpeers.GoSDKServerStdio(t)) },
	"server2-http":  func(t *testing.T) map[string]any { return map[string]any{"url": testpeers.StartServer2(t).URL} },
	"server2-stdio": func(t *testing.T) map[string]any { return stdioTarget(testpeers.Server2Stdio(t)) },
	"ev-http": func(t *testing.T) map[string]any {
		return map[string]any{"url": testpeers.StartEverything(t, "streamableHttp")}
	},
	"ev-sse": func(t *testing.T) map[string]any {
		return map[string]any{"type": "sse", "url": testpeers.StartEverything(t, "sse")}
	},
	"ev-stdio": func(t *testing.T) map[string]any { return stdioTarget(testpeers.EverythingStdioTarget(t)) },
}

func stdioTarget(t testpeers.Target) map[string]any { return stdioServer(t.Command, t.Args...) }

func TestRevisionMatrix(t *testing.T) {
	names := make([]string, 0, len(matrixServers))
	for n := range matrixServers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, server := range names {
		everything := strings.HasPrefix(server, "ev-")
		for _, c := range matrixClients {
			t.Run(fmt.Sprintf("%s@%s/%s", c.client, c.version, server), func(t *testing.T) {
				t.Parallel()
				h := startHub(t, settingsJSON(map[string]any{server: matrixServers[server](t)}))
				h.waitConnected(server)
				target := testpeers.Target{URL: h.base + "/mcp/" + server}
				var steps []testpeers.Step
				if everything {
					steps = testpeers.EverythingSteps(c.version)
				} else {
					steps = testpeers.OwnSteps(c.version)
				}
				es := testpeers.RunClient(t, c.client, target, c.version, steps)
				conn := es.Of("connected")
				if len(conn) == 0 {
					t.Fatalf("did not connect:\n%s", es)
				}
				if era := conn[0].Str("era"); (c.version == testpeers.Modern) != (era == "modern") {
					t.Errorf("a %s client spoke era %q with the hub", c.version, era)
				}
				var got map[string]bool
				if everything {
					got = testpeers.EverythingFeatures(es)
				} else {
					got = testpeers.OwnFeatures(es)
				}
				want := cannotThrough(c, server)
				var wrong []string
				keys := make([]string, 0, len(got))
				for k := range got {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				for _, k := range keys {
					if _, expectFail := want[k]; got[k] == expectFail {
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
