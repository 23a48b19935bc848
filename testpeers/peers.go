//go:build unix

package testpeers

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcptray/mcptray/testpeers/gobuild"
)

// The protocol versions the test clients can be asked to speak.
const (
	Modern = "2026-07-28"
	Legacy = "2025-11-25"
)

// Target is the server a test client connects to: a streamable HTTP URL,
// or a command to run over stdio.
type Target struct {
	URL     string
	Command string
	Args    []string
}

// String names the target in test output.
func (t Target) String() string {
	if t.URL != "" {
		return t.URL
	}
	return strings.Join(append([]string{filepath.Base(t.Command)}, t.Args...), " ")
}

// Step is one operation of a client scenario. The three test clients
// (gosdk/client, npm/client2.mjs, npm/client1.mjs) read the same steps:
//
//	{"op":"list"}                                  tools, prompts, resources, templates
//	{"op":"call","name":N,"args":{},"progress":true,"logLevel":"info"}
//	{"op":"cancel","name":N,"args":{},"afterMs":300}  call, then cancel it
//	{"op":"prompt","name":N,"args":{}}             prompts/get
//	{"op":"read","uri":U}                          resources/read
//	{"op":"complete","ref":{...},"argument":{"name":A,"value":V}}
//	{"op":"subscribe","uri":U} / {"op":"unsubscribe","uri":U}
//	{"op":"setLevel","level":L}                    logging/setLevel (2025 era)
//	{"op":"ping"}
//	{"op":"task","name":N,"args":{},"cancel":false}   tools/call answered by a task, driven to its end (client2 over HTTP)
//	{"op":"wait","event":E,"count":N,"timeoutMs":T}   until N events of kind E were seen
//	{"op":"sleep","ms":M}
//
// progress asks for progress notifications, logLevel puts
// io.modelcontextprotocol/logLevel in the request's _meta.
type Step struct {
	Op        string         `json:"op"`
	Name      string         `json:"name,omitempty"`
	Args      map[string]any `json:"args,omitempty"`
	URI       string         `json:"uri,omitempty"`
	Progress  bool           `json:"progress,omitempty"`
	LogLevel  string         `json:"logLevel,omitempty"`
	Ref       map[string]any `json:"ref,omitempty"`
	Argument  map[string]any `json:"argument,omitempty"`
	Event     string         `json:"event,omitempty"`
	Count     int            `json:"count,omitempty"`
	TimeoutMs int            `json:"timeoutMs,omitempty"`
	AfterMs   int            `json:"afterMs,omitempty"`
	Ms        int            `json:"ms,omitempty"`
	Level     string         `json:"level,omitempty"`
	Cancel    bool           `json:"cancel,omitempty"`
}

// Event is one JSON line a test client printed. Every event has "event":
// connected (protocolVersion, era, server, capabilities), tools, prompts,
// resources, resourceTemplates (names, ttlMs, cacheScope), result (op,
// name, text, isError, result), error (op, name, code, message), progress,
// log (level, logger, data), elicitation (mode, message, url, action),
// sampling (prompt), list_changed (kind), resource_updated (uri),
// subscribed, completion (values), cancelled, task (taskId, status),
// waited, pong, levelSet, unsupported, done.
type Event map[string]any

// Kind returns the event's kind.
func (e Event) Kind() string { s, _ := e["event"].(string); return s }

// Str returns a string field.
func (e Event) Str(key string) string { s, _ := e[key].(string); return s }

// Events is what one client run printed.
type Events []Event

// Of returns the events of kind.
func (es Events) Of(kind string) Events {
	var out Events
	for _, e := range es {
		if e.Kind() == kind {
			out = append(out, e)
		}
	}
	return out
}

// Result returns the text of the first result of op and name, and whether
// there was one that was not an error result.
func (es Events) Result(op, name string) (string, bool) {
	for _, e := range es {
		if e.Kind() == "result" && e.Str("op") == op && e.Str("name") == name {
			isErr, _ := e["isError"].(bool)
			return e.Str("text"), !isErr
		}
	}
	return "", false
}

// String prints the events one a line, for failure messages.
func (es Events) String() string {
	var b strings.Builder
	for _, e := range es {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// Client names a test client.
type Client string

// The test clients.
const (
	GoSDKClient Client = "gosdk"   // go-sdk v1.8 (gosdk/client)
	TS2Client   Client = "client2" // @modelcontextprotocol/client@2 (npm/client2.mjs)
	TS1Client   Client = "client1" // @modelcontextprotocol/sdk 1.x (npm/client1.mjs); 2025 era only
)

// RunClient runs client against target at protocol version (Modern or
// Legacy; TS1Client ignores it), runs steps and returns what it printed.
// The run is bounded by 90 s; a client that cannot connect prints an
// error event with op "connect" and exits non-zero, which is not a test
// failure here: callers assert on the events.
func RunClient(t testing.TB, client Client, target Target, version string, steps []Step) Events {
	t.Helper()
	js, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var args []string
	switch client {
	case GoSDKClient:
		_, name = GoSDKBinaries(t)
		args = []string{"-version", version, "-steps", string(js)}
		if target.URL != "" {
			args = append(args, "-url", target.URL)
		} else {
			args = append(append(args, "--", target.Command), target.Args...)
		}
	case TS2Client, TS1Client:
		name = Node(t)
		args = []string{filepath.Join(PeersDir(t), string(client)+".mjs"), "--version", version, "--steps", string(js)}
		if target.URL != "" {
			args = append(args, "--url", target.URL)
		} else {
			args = append(append(args, "--", target.Command), target.Args...)
		}
	default:
		t.Fatalf("unknown client %q", client)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var events Events
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s printed a line that is not JSON: %q", client, sc.Text())
		}
		events = append(events, e)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s against %s did not finish within 90 s:\n%s\nstderr:\n%s", client, target, events, stderr.String())
	}
	if runErr != nil && len(events.Of("error")) == 0 {
		t.Fatalf("%s against %s: %v\nstderr:\n%s", client, target, runErr, stderr.String())
	}
	return events
}

// GoSDKServerStdio returns the command that runs the go-sdk test server
// over stdio.
func GoSDKServerStdio(t testing.TB) Target {
	srv, _ := GoSDKBinaries(t)
	return Target{Command: srv}
}

// StartGoSDKServer runs the go-sdk test server over streamable HTTP on
// 127.0.0.1 and returns its target. era is "dual" (both eras, the
// default), "legacy" (2025 only) or "modern" (2026-07-28 only); see
// gosdk/server.
func StartGoSDKServer(t testing.TB, era string) Target {
	t.Helper()
	srv, _ := GoSDKBinaries(t)
	p := StartProcess(t, srv, []string{"-http", "127.0.0.1:0", "-era", era}, nil, 1)
	return Target{URL: fmt.Sprintf("http://127.0.0.1:%d/mcp", p.Port)}
}

// Server2Stdio returns the command that runs npm/server2.mjs (the
// @modelcontextprotocol/server@2 test server) over stdio.
func Server2Stdio(t testing.TB) Target {
	return Target{Command: Node(t), Args: []string{filepath.Join(PeersDir(t), "server2.mjs"), "stdio"}}
}

// StartServer2 runs npm/server2.mjs over streamable HTTP on 127.0.0.1 and
// returns its target.
func StartServer2(t testing.TB) Target {
	t.Helper()
	p := StartNode(t, filepath.Join(PeersDir(t), "server2.mjs"), []string{"http"}, nil)
	return Target{URL: fmt.Sprintf("http://127.0.0.1:%d/mcp", p.Port)}
}

// EverythingStdioTarget is EverythingStdio as a Target.
func EverythingStdioTarget(t testing.TB) Target {
	cmd, args := EverythingStdio(t)
	return Target{Command: cmd, Args: args}
}

var gosdkBuild struct {
	once           sync.Once
	server, client string
	err            error
}

// GoSDKBinaries builds gosdk/server and gosdk/client once and returns
// their paths. The binaries are kept under os.UserCacheDir()/
// mcptray-testpeers, keyed by a hash of the module's go.mod, go.sum and
// sources, so later test runs reuse them until the module changes.
func GoSDKBinaries(t testing.TB) (server, client string) {
	t.Helper()
	b := &gosdkBuild
	b.once.Do(func() { b.server, b.client, b.err = buildGoSDK() })
	if b.err != nil {
		t.Fatalf("build the go-sdk test peers: %v", b.err)
	}
	return b.server, b.client
}

func gosdkDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "gosdk")
}

func buildGoSDK() (string, string, error) {
	dir := gosdkDir()
	h := sha256.New()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".go") || filepath.Base(p) == "go.mod" || filepath.Base(p) == "go.sum") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", "", err
		}
		rel, _ := filepath.Rel(dir, f)
		fmt.Fprintf(h, "%s %d\n", rel, len(data))
		h.Write(data)
	}
	fmt.Fprintf(h, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	// The cache folder as the process started: a test that gave itself a
	// private HOME (keychaintest) still finds the binaries built before.
	cache, err := gobuild.CacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	out := filepath.Join(cache, "mcptray-testpeers", "gosdk-"+hex.EncodeToString(h.Sum(nil))[:16])
	server, client := filepath.Join(out, "server"), filepath.Join(out, "client")
	if _, err := os.Stat(client); err == nil {
		return server, client, nil
	}
	// Build into a fresh folder and rename it into place, so that test
	// binaries of several packages building at once never see half a
	// build.
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "build-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"server", "client"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, name), "./"+name)
		cmd.Dir = dir
		cmd.Env = append(gobuild.GoEnv(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build ./%s: %w\n%s", name, err, msg)
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		if _, statErr := os.Stat(client); statErr != nil {
			return "", "", err
		}
	}
	return server, client, nil
}

// StartProcess runs name with args, its stdout and stderr kept for
// Output, and waits until it has announced n ports on stderr as
// "MCPTRAY_PEER_LISTENING PORT" (npm/loopback.cjs does it for node
// peers). It stops the process and its children when t ends.
func StartProcess(t testing.TB, name string, args, env []string, n int) *Process {
	t.Helper()
	return startIn(t, "", name, args, env, n)
}

func startIn(t testing.TB, dir, name string, args, env []string, n int) *Process {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &Buffer{}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Process{cmd: cmd, out: out}
	t.Cleanup(p.Stop)
	ports := make(chan int, 8)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			out.Write([]byte(line + "\n"))
			if rest, ok := strings.CutPrefix(line, "MCPTRAY_PEER_LISTENING "); ok {
				if n, err := strconv.Atoi(rest); err == nil {
					select {
					case ports <- n:
					default:
					}
				}
			}
		}
		_, _ = io.Copy(out, stderr)
	}()
	deadline := time.After(30 * time.Second)
	for len(p.Ports) < n {
		select {
		case port := <-ports:
			p.Ports = append(p.Ports, port)
		case <-deadline:
			t.Fatalf("%s did not start listening on %d ports within 30 s:\n%s", name, n, out.String())
		}
	}
	p.Port = p.Ports[0]
	return p
}
