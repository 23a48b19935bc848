//go:build unix

package testpeers

import (
	"fmt"
	"strings"
	"testing"
)

// The test clients against server-everything, the 2025-era reference
// server (built on @modelcontextprotocol/sdk 1.x).

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
				es := RunClient(t, c.client, target, c.version, EverythingSteps(c.version))
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
				got := EverythingFeatures(es)
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
