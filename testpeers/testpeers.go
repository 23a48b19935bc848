//go:build unix

// Package testpeers starts the real peers mcptray's tests run against: MCP
// servers and OAuth servers from npm (pinned in npm/package-lock.json),
// each on 127.0.0.1 only, each stopped when its test ends.
//
// The test command (scripts/test) installs the npm packages; a test that
// finds them missing fails and says how to install them.
package testpeers

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PeersDir returns the folder of the npm test peers, failing t when their
// packages are not installed.
func PeersDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "npm")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		t.Fatalf("the npm test peers are not installed: run scripts/test, or npm ci --prefix %s", dir)
	}
	return dir
}

// Node returns the node binary, failing t when there is none.
func Node(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: scripts/test needs Node.js 20 or later")
	}
	return p
}

// EverythingScript returns the path of @modelcontextprotocol/server-everything.
func EverythingScript(t testing.TB) string {
	return filepath.Join(PeersDir(t), "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
}

// EverythingStdio returns the command and arguments that run
// server-everything over stdio, for a server's settings.
func EverythingStdio(t testing.TB) (string, []string) {
	return Node(t), []string{EverythingScript(t), "stdio"}
}

// StartEverything runs server-everything over "sse" or "streamableHttp" and
// returns its MCP URL.
func StartEverything(t testing.TB, transport string) string {
	t.Helper()
	p := StartNode(t, EverythingScript(t), []string{transport}, nil)
	switch transport {
	case "sse":
		return fmt.Sprintf("http://127.0.0.1:%d/sse", p.Port)
	case "streamableHttp":
		return fmt.Sprintf("http://127.0.0.1:%d/mcp", p.Port)
	}
	t.Fatalf("unknown transport %q", transport)
	return ""
}

// Process is a peer started by StartNode.
type Process struct {
	Port  int   // the first port it listens on
	Ports []int // every port it said it listens on, in order
	cmd   *exec.Cmd
	out   *Buffer
}

// Output returns what the peer wrote so far, stdout and stderr together.
func (p *Process) Output() string { return p.out.String() }

// Stop stops the peer and its children.
func (p *Process) Stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// StartNode runs script with node, every server it starts forced onto
// 127.0.0.1 (npm/loopback.cjs), with PORT=0 unless env sets it. It waits
// for the first port the script listens on, and stops it when t ends.
func StartNode(t testing.TB, script string, args []string, env []string) *Process {
	t.Helper()
	return StartNodePorts(t, script, args, env, 1)
}

// StartNodePorts is StartNode for a script that listens on n ports.
func StartNodePorts(t testing.TB, script string, args []string, env []string, n int) *Process {
	t.Helper()
	dir := PeersDir(t)
	return startIn(t, dir, Node(t), append([]string{"--require", filepath.Join(dir, "loopback.cjs"), script}, args...), append([]string{"PORT=0"}, env...), n)
}

// StartProgram runs the program bin, which announces each port it listens
// on as node peers do ("MCPTRAY_PEER_LISTENING port" on stderr), waits for
// n of them, and stops it when t ends.
func StartProgram(t testing.TB, bin string, args []string, env []string, n int) *Process {
	t.Helper()
	return StartProcess(t, bin, args, env, n)
}

// OAuthServer is the oidc-provider authorization server and the MCP server
// it protects (npm/oauth-mcp.mjs).
type OAuthServer struct {
	Issuer string // the authorization server
	MCPURL string // the protected MCP server
	*Process
}

// StartOAuthServer runs npm/oauth-mcp.mjs with access tokens that live
// ttl seconds.
func StartOAuthServer(t testing.TB, ttl int) *OAuthServer {
	t.Helper()
	p := StartNodePorts(t, filepath.Join(PeersDir(t), "oauth-mcp.mjs"), nil, []string{"ACCESS_TTL=" + strconv.Itoa(ttl)}, 2)
	return &OAuthServer{Issuer: fmt.Sprintf("http://127.0.0.1:%d", p.Ports[0]), MCPURL: fmt.Sprintf("http://127.0.0.1:%d/mcp", p.Ports[1]), Process: p}
}

// StartSDKOAuthExample runs the TypeScript SDK's example server
// simpleStreamableHttp with --oauth, which serves its own authorization
// server, and returns its MCP URL. The example hard-codes localhost in its
// URLs and takes fixed ports, so two free ones are chosen first.
func StartSDKOAuthExample(t testing.TB) string {
	t.Helper()
	mcpPort, authPort := freePort(t), freePort(t)
	script := filepath.Join(PeersDir(t), "node_modules", "@modelcontextprotocol", "sdk", "dist", "esm", "examples", "server", "simpleStreamableHttp.js")
	StartNodePorts(t, script, []string{"--oauth"}, []string{"MCP_PORT=" + strconv.Itoa(mcpPort), "MCP_AUTH_PORT=" + strconv.Itoa(authPort)}, 2)
	return fmt.Sprintf("http://localhost:%d/mcp", mcpPort)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Inspector runs the MCP Inspector's CLI with args and returns its output.
func Inspector(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	dir := PeersDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	script := filepath.Join(dir, "node_modules", "@modelcontextprotocol", "inspector-cli", "build", "index.js")
	cmd := exec.CommandContext(ctx, Node(t), append([]string{script}, args...)...)
	// The CLI finds its package.json relative to the working folder; run it
	// from a folder whose parent has one.
	cmd.Dir = filepath.Join(dir, "node_modules")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("inspector %v: %w\n%s", args, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// WaitHTTP waits until url answers at all, for up to 30 s.
func WaitHTTP(t testing.TB, url string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("%s did not answer within 30 s", url)
}

// Buffer is a bytes.Buffer safe for concurrent use: for the output of
// processes and loggers that tests read while they write.
type Buffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
