//go:build linux

// Command bench measures the hub against the targets of its design: calls
// through the hub versus through a plain reverse proxy
// (net/http/httputil.ReverseProxy, the least any HTTP-aware hop can cost)
// and straight to the same fast upstream, for 2025-11-25 and 2026-07-28
// clients (calls/s, p50 and p99 latency, failed calls, 1 and 16 concurrent
// clients); the same for a stdio upstream; the hub's resident memory when
// idle with 20 stdio upstreams; and the time from start until every tool
// of 50 stdio upstreams is listed, against the slowest single start.
//
// It builds mcptray and the test server, runs them (and itself, as the
// proxy) as separate processes on 127.0.0.1, and prints one table. Run it
// with `task bench` or
//
//	go run ./testpeers/bench [-duration 5s]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

var (
	duration   = flag.Duration("duration", 5*time.Second, "load duration of each throughput run")
	startDelay = flag.Duration("start-delay", 500*time.Millisecond, "how long each upstream of the start test takes to start, like a node server")
	idleN      = flag.Int("idle", 20, "stdio upstreams for the memory test")
	startN     = flag.Int("start", 50, "stdio upstreams for the start test")
	target     = flag.String("target", "", "only put load on this MCP URL (to profile a running hub)")
	tool       = flag.String("tool", "fast-echo", "the tool -target calls")
	clients    = flag.Int("clients", 16, "concurrent clients of -target")
	proxyTo    = flag.String("proxy", "", "run as a reverse proxy to this URL (the benchmark starts itself so)")
	only       = flag.String("only", "", "run one part: throughput, idle, start or memory")
	sessionsN  = flag.Int("sessions", 20000, "sessions the memory test opens and never closes")
	resultMiB  = flag.Int("result-mib", 50, "size of the large result of the memory test")
)

// started are the processes the benchmark runs, stopped even when it fails.
var started []*exec.Cmd

// fatal stops what was started and exits.
func fatal(v ...any) {
	for _, c := range started {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	log.Fatal(v...)
}

func fatalf(format string, v ...any) { fatal(fmt.Sprintf(format, v...)) }

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *proxyTo != "" {
		runProxy(*proxyTo)
		return
	}
	if *target != "" {
		load(*target, *tool, *clients).print(*clients, *target)
		return
	}
	tmp, err := os.MkdirTemp("", "mcptray-bench")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(tmp)
	mcptray := build(tmp, "mcptray", "./app")
	testserver := build(tmp, "testserver", "./testpeers/goserver")

	parts := []struct {
		name string
		run  func(tmp, mcptray, testserver string)
	}{{"throughput", throughput}, {"idle", idle}, {"start", start}, {"memory", memory}}
	for _, p := range parts {
		if *only == "" || *only == p.name {
			p.run(tmp, mcptray, testserver)
		}
	}
}

// compare prints a run straight to the upstream and one through the hub.
func compare(conc int, upstream string, direct, viaHub result) {
	direct.print(conc, upstream+", direct")
	viaHub.print(conc, upstream+", hub")
	fmt.Printf("%-8d %-22s %9.0f%% %10s %10s\n\n", conc, "hub/direct", 100*viaHub.rate/direct.rate,
		"+"+(viaHub.p50-direct.p50).Round(time.Microsecond).String(), "+"+(viaHub.p99-direct.p99).Round(time.Microsecond).String())
}

// slowestConnect is the longest time an upstream of the hub took to connect.
func slowestConnect(base string) time.Duration {
	var list struct {
		Servers []struct {
			ConnectTook time.Duration `json:"connectTookNs"`
		}
	}
	resp, err := http.Get(base + "/api/servers")
	if err != nil {
		fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		fatal(err)
	}
	var d time.Duration
	for _, s := range list.Servers {
		d = max(d, s.ConnectTook)
	}
	return d
}

// loopbackRTT times a bare HTTP POST round trip to a Go server in another
// process: the floor of what one more hop costs on this machine.
func loopbackRTT(testserver string) time.Duration {
	cmd, port := startProcess(testserver, []string{"http", "127.0.0.1:0"}, nil)
	defer stop(cmd)
	url := fmt.Sprintf("http://127.0.0.1:%d/nothing", port)
	var lat []time.Duration
	for range 3000 {
		t := time.Now()
		resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
		if err != nil {
			fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	return lat[len(lat)/2]
}

func build(dir, name, pkg string) string {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fatalf("build %s: %v", pkg, err)
	}
	return out
}

// startProcess runs a program that prints MCPTRAY_PEER_LISTENING PORT on
// stderr, and returns it with the port.
func startProcess(bin string, args, env []string) (*exec.Cmd, int) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	started = append(started, cmd)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MCPTRAY_PEER_LISTENING "); ok {
			port, _ := strconv.Atoi(rest)
			go io.Copy(io.Discard, stderr)
			return cmd, port
		}
	}
	fatalf("%s did not say where it listens", bin)
	return nil, 0
}

func stop(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

type hubProc struct {
	cmd  *exec.Cmd
	base string
}

func startHub(dir, bin, name string, servers map[string]any) hubProc {
	path := filepath.Join(dir, name+".json")
	// Secrets in a file: the benchmark has no use for a keychain.
	b, _ := json.MarshalIndent(map[string]any{"mcpServers": servers, "systemConfig": map[string]any{"secretStore": "file"}}, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--headless", "--settings", path, "--listen", addr, "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	started = append(started, cmd)
	return hubProc{cmd: cmd, base: "http://" + addr}
}

func waitConnected(base string, n int) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var list struct {
			Servers []struct{ State string }
		}
		if resp, err := http.Get(base + "/api/servers"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			c := 0
			for _, s := range list.Servers {
				if s.State == "connected" {
					c++
				}
			}
			if c == n {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fatalf("%d servers did not connect", n)
}

// countTools lists the hub's tools, or returns 0 when it does not answer yet.
func countTools(base string) int {
	c, err := newClient(base + "/mcp")
	if err != nil {
		return 0
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return 0
	}
	return len(res.Tools)
}

func newClient(url string) (*client.Client, error) {
	c, err := client.NewStreamableHttpClient(url)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = "2025-11-25"
	req.Params.ClientInfo = mcp.Implementation{Name: "bench", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// singleStart runs one stdio server and times it until its tools are
// listed; it returns the time and the number of tools.
func singleStart(bin string, env []string) (time.Duration, int) {
	began := time.Now()
	tr := transport.NewStdioWithOptions(bin, env, []string{"stdio"})
	c := client.NewClient(tr)
	if err := c.Start(context.Background()); err != nil {
		fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = "2025-11-25"
	if _, err := c.Initialize(ctx, req); err != nil {
		fatal(err)
	}
	tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		fatal(err)
	}
	return time.Since(began), len(tools.Tools)
}

type result struct {
	rate     float64
	p50, p99 time.Duration
	failed   int
}

func (r result) printRev(conc int, rev, path string) {
	fmt.Printf("%-8d %-11s %-28s %10.0f %10s %10s %7d\n", conc, rev, path, r.rate, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.failed)
}

// runProxy is the benchmark's reverse proxy: net/http/httputil's, with
// flushing for event streams, and nothing else.
func runProxy(to string) {
	u, err := url.Parse(to)
	if err != nil {
		log.Fatal(err)
	}
	u.Path = "" // the request's own path (/mcp) is kept
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // event streams
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "MCPTRAY_PEER_LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	log.Fatal(http.Serve(ln, rp))
}

// rawClient speaks streamable HTTP by hand, as lean as a client can: a
// 2025-11-25 session, or 2026-07-28 requests that describe themselves. It
// is the same for every path, so what differs is the path.
type rawClient struct {
	url, sid, rev string
	http          *http.Client
	id            int
}

var rawTransport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}

func newRawClient(url, rev string) (*rawClient, error) {
	c := &rawClient{url: url, rev: rev, http: &http.Client{Transport: rawTransport}}
	if rev == "2026-07-28" {
		return c, nil
	}
	resp, err := c.post("initialize", "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	if err != nil {
		return nil, err
	}
	c.sid = resp.Header.Get("Mcp-Session-Id")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp, err = c.post("notifications/initialized", "", `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, nil
}

func (c *rawClient) post(method, name, body string) (*http.Response, error) {
	req, _ := http.NewRequest("POST", c.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.sid != "" {
		req.Header.Set("Mcp-Session-Id", c.sid)
	}
	if method != "initialize" {
		req.Header.Set("Mcp-Protocol-Version", c.rev)
	}
	if c.rev == "2026-07-28" {
		req.Header.Set("Mcp-Method", method)
		if name != "" {
			req.Header.Set("Mcp-Name", name)
		}
	}
	return c.http.Do(req)
}

// call makes one tools/call and reports whether it got a result.
func (c *rawClient) call(tool string) bool {
	c.id++
	meta := ""
	if c.rev == "2026-07-28" {
		meta = `,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}`
	}
	body := `{"jsonrpc":"2.0","id":` + strconv.Itoa(c.id) + `,"method":"tools/call","params":{"name":"` + tool + `","arguments":{"text":"benchmark payload of a modest size, like most tool arguments"}` + meta + `}}`
	resp, err := c.post("tools/call", tool, body)
	if err != nil {
		return false
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ok := resp.StatusCode == 200 && strings.Contains(string(b), `"result"`) && !strings.Contains(string(b), `"isError":true`)
	if !ok && os.Getenv("BENCH_DEBUG") != "" {
		log.Printf("%s %s: %d %s", c.url, c.rev, resp.StatusCode, b)
	}
	return ok
}

// rawLoad runs conc raw clients of url calling tool for the duration.
func rawLoad(url, tool, rev string, conc int) result {
	clients := make([]*rawClient, conc)
	for i := range clients {
		c, err := newRawClient(url, rev)
		if err != nil {
			fatal(err)
		}
		clients[i] = c
	}
	for _, c := range clients {
		for range 200 {
			if !c.call(tool) {
				fatalf("%s %s: a warm-up call failed", url, rev)
			}
		}
	}
	var mu sync.Mutex
	var all []time.Duration
	failed := 0
	var wg sync.WaitGroup
	began := time.Now()
	end := began.Add(*duration)
	for _, c := range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 100000)
			bad := 0
			for time.Now().Before(end) {
				t := time.Now()
				if !c.call(tool) {
					bad++
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			failed += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	slices.Sort(all)
	return result{rate: float64(len(all)) / elapsed.Seconds(), p50: all[len(all)/2], p99: all[len(all)*99/100], failed: failed}
}

func (r result) print(conc int, path string) {
	fmt.Printf("%-8d %-22s %10.0f %10s %10s\n", conc, path, r.rate, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
}

// load runs conc clients of url calling tool in a loop for the duration,
// after a warm-up, each with its own session.
func load(url, tool string, conc int) result {
	return loadWith(func() (*client.Client, error) { return newClient(url) }, tool, conc)
}

// loadStdio is load with each client running its own copy of the server
// over stdio: the way a client uses a stdio server without the hub.
func loadStdio(bin string, conc int) result {
	return loadWith(func() (*client.Client, error) {
		c := client.NewClient(transport.NewStdioWithOptions(bin, nil, []string{"stdio"}))
		// mcp-go's stdio transport kills the child when Start's context ends.
		if err := c.Start(context.Background()); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := mcp.InitializeRequest{}
		req.Params.ProtocolVersion = "2025-11-25"
		_, err := c.Initialize(ctx, req)
		return c, err
	}, "echo", conc)
}

func loadWith(connect func() (*client.Client, error), tool string, conc int) result {
	clients := make([]*client.Client, conc)
	for i := range clients {
		c, err := connect()
		if err != nil {
			fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	call := func(c *client.Client) {
		req := mcp.CallToolRequest{}
		req.Params.Name = tool
		req.Params.Arguments = map[string]any{"text": "benchmark payload of a modest size, like most tool arguments"}
		if _, err := c.CallTool(context.Background(), req); err != nil {
			fatal(err)
		}
	}
	for _, c := range clients {
		for range 200 {
			call(c)
		}
	}
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	began := time.Now()
	end := began.Add(*duration)
	for _, c := range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 100000)
			for time.Now().Before(end) {
				t := time.Now()
				call(c)
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	slices.Sort(all)
	return result{
		rate: float64(len(all)) / elapsed.Seconds(),
		p50:  all[len(all)/2],
		p99:  all[len(all)*99/100],
	}
}

// rssKiB reads a process's resident memory from /proc.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}

// throughput compares calls straight to an upstream, through a reverse
// proxy and through the hub, over streamable HTTP and stdio.
func throughput(tmp, mcptray, testserver string) {
	// The same fast upstream, over streamable HTTP, for both ways.
	up, upPort := startProcess(testserver, []string{"http", "127.0.0.1:0"}, nil)
	defer stop(up)
	upURL := fmt.Sprintf("http://127.0.0.1:%d/mcp", upPort)
	if os.Getenv("BENCH_DEBUG") != "" {
		log.Printf("upstream %s", upURL)
	}

	fmt.Printf("a plain net/http round trip on loopback between two processes on this machine: p50 %v\n\n", loopbackRTT(testserver).Round(time.Microsecond))

	self, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	proxy, proxyPort := startProcess(self, []string{"-proxy", upURL}, nil)
	defer stop(proxy)
	proxyURL := fmt.Sprintf("http://127.0.0.1:%d/mcp", proxyPort)
	h := startHub(tmp, mcptray, "throughput", map[string]any{"fast": map[string]any{"url": upURL}})
	waitConnected(h.base, 1)
	fmt.Printf("tools/call of an echo tool over streamable HTTP, %v per run, one session (2025) or none (2026) per client\n\n", *duration)
	fmt.Printf("%-8s %-11s %-28s %10s %10s %10s %7s\n", "clients", "revision", "path", "calls/s", "p50", "p99", "failed")
	for _, rev := range []string{"2025-11-25", "2026-07-28"} {
		for _, conc := range []int{1, 16} {
			direct := rawLoad(upURL, "echo", rev, conc)
			viaProxy := rawLoad(proxyURL, "echo", rev, conc)
			viaHub := rawLoad(h.base+"/mcp/fast", "echo", rev, conc)
			direct.printRev(conc, rev, "direct")
			viaProxy.printRev(conc, rev, "reverse proxy")
			viaHub.printRev(conc, rev, "hub (/mcp/fast)")
			fmt.Printf("%-8d %-11s %-28s %9.0f%% %10s %10s\n\n", conc, rev, "hub/proxy", 100*viaHub.rate/viaProxy.rate,
				"+"+(viaHub.p50-viaProxy.p50).Round(time.Microsecond).String(), "+"+(viaHub.p99-viaProxy.p99).Round(time.Microsecond).String())
		}
	}
	stop(h.cmd)

	h = startHub(tmp, mcptray, "stdio", map[string]any{"fast": map[string]any{"command": testserver, "args": []string{"stdio"}}})
	waitConnected(h.base, 1)
	for _, conc := range []int{1, 16} {
		compare(conc, "stdio upstream", loadStdio(testserver, conc), load(h.base+"/mcp", "fast-echo", conc))
	}
	stop(h.cmd)
}

// idle measures the hub's memory with stdio upstreams and nothing to do.
func idle(tmp, mcptray, testserver string) {
	servers := map[string]any{}
	for i := range *idleN {
		servers[fmt.Sprintf("s%02d", i)] = map[string]any{"command": testserver, "args": []string{"stdio"}}
	}
	h := startHub(tmp, mcptray, "idle", servers)
	waitConnected(h.base, *idleN)
	time.Sleep(3 * time.Second)
	rss := rssKiB(h.cmd.Process.Pid)
	stop(h.cmd)
	fmt.Printf("resident memory of the hub, idle, %d stdio upstreams: %.1f MiB\n\n", *idleN, float64(rss)/1024)
}

// start times 50 upstreams through the hub, against the slowest of them.
func start(tmp, mcptray, testserver string) {
	env := []string{"MCPTRAY_TESTSERVER_DELAY=" + startDelay.String()}
	alone, perServer := singleStart(testserver, env)
	servers := map[string]any{}
	for i := range *startN {
		servers[fmt.Sprintf("s%02d", i)] = map[string]any{"command": testserver, "args": []string{"stdio"}, "env": map[string]string{"MCPTRAY_TESTSERVER_DELAY": startDelay.String()}}
	}
	began := time.Now()
	h := startHub(tmp, mcptray, "start", servers)
	want := *startN * perServer
	for countTools(h.base) < want {
		time.Sleep(5 * time.Millisecond)
	}
	all := time.Since(began)
	slowest := slowestConnect(h.base)
	stop(h.cmd)
	fmt.Printf("start of %d stdio upstreams that each take %v to start (%v alone, handshake and list included):\n", *startN, *startDelay, alone.Round(time.Millisecond))
	fmt.Printf("  the slowest of them, started together: %v; from the hub's start until every tool is listed: %v (%.2f×)\n\n",
		slowest.Round(time.Millisecond), all.Round(time.Millisecond), float64(all)/float64(slowest))
}

// memory measures what sessions and a large result cost the hub: its
// resident memory idle, with -sessions sessions opened and never closed
// (the hub keeps at most 10,000, closing the oldest idle ones), and before,
// during (the peak, sampled every 5 ms) and after a -result-mib result
// passes, from an HTTP and from a stdio upstream.
func memory(tmp, mcptray, testserver string) {
	up, upPort := startProcess(testserver, []string{"http", "127.0.0.1:0"}, nil)
	defer stop(up)
	h := startHub(tmp, mcptray, "memory", map[string]any{
		"web":   map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d/mcp", upPort)},
		"local": map[string]any{"command": testserver, "args": []string{"stdio"}},
	})
	defer stop(h.cmd)
	waitConnected(h.base, 2)
	pid := h.cmd.Process.Pid
	time.Sleep(2 * time.Second)
	mib := func(kib int) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
	idleRSS := rssKiB(pid)
	fmt.Printf("resident memory of the hub (2 upstreams): idle %s\n", mib(idleRSS))

	// Sessions, opened by 16 clients at once and left open.
	var opened sync.WaitGroup
	next := make(chan int)
	marks := map[int]int{} // sessions opened → RSS
	for range 16 {
		opened.Go(func() {
			for range next {
				if _, err := newRawClient(h.base+"/mcp/web", "2025-11-25"); err != nil {
					fatal(err)
				}
			}
		})
	}
	for i := 1; i <= *sessionsN; i++ {
		next <- i
		if i%5000 == 0 {
			marks[i] = rssKiB(pid)
		}
	}
	close(next)
	opened.Wait()
	withSessions := rssKiB(pid)
	for i := 5000; i <= *sessionsN; i += 5000 {
		fmt.Printf("  %6d sessions opened: %s (+%.2f KiB a session)\n", i, mib(marks[i]), float64(marks[i]-idleRSS)/float64(min(i, 10000)))
	}
	fmt.Printf("  all %d opened and idle: %s\n", *sessionsN, mib(withSessions))

	// A large result from each upstream, read by a client that discards it.
	for _, path := range []string{"/mcp/web", "/mcp/local"} {
		c, err := newRawClient(h.base+path, "2025-11-25")
		if err != nil {
			fatal(err)
		}
		time.Sleep(2 * time.Second) // what the sessions left settles
		before := rssKiB(pid)
		peak := before
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					peak = max(peak, rssKiB(pid))
				}
			}
		}()
		began := time.Now()
		n := c.callDiscard("huge", fmt.Sprintf(`{"mib":%d}`, *resultMiB))
		took := time.Since(began)
		close(done)
		<-sampled
		peak = max(peak, rssKiB(pid))
		at := func(d time.Duration) int { time.Sleep(d); return rssKiB(pid) }
		after1 := at(time.Second)
		after10 := at(9 * time.Second)
		after30 := at(20 * time.Second)
		fmt.Printf("  a %d MiB result from %s (%d bytes in %v): before %s, peak %s (+%s), after 1 s %s, 10 s %s, 30 s %s\n",
			*resultMiB, path, n, took.Round(time.Millisecond), mib(before), mib(peak), mib(peak-before), mib(after1), mib(after10), mib(after30))
	}
	fmt.Println()
}

// callDiscard calls tool with args and counts the bytes of the answer
// without keeping them.
func (c *rawClient) callDiscard(tool, args string) int64 {
	c.id++
	body := `{"jsonrpc":"2.0","id":` + strconv.Itoa(c.id) + `,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
	resp, err := c.post("tools/call", tool, body)
	if err != nil {
		fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != 200 {
		fatalf("%s: %d %v", tool, resp.StatusCode, err)
	}
	return n
}
