//go:build unix

package testpeers

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ChromiumPath is where Debian's chromium is (scripts/test installs the
// package).
const ChromiumPath = "/usr/bin/chromium"

// Chromium is Debian's chromium, headless, with one page, driven by
// playwright-core (npm/browser.mjs): a real browser for the dashboard's
// tests. Its methods fail the test when a step fails.
type Chromium struct {
	t   testing.TB
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	err Buffer

	mu sync.Mutex // guards the command and answer in flight: one at a time
}

// StartChromium starts the browser; it is stopped when t ends.
func StartChromium(t testing.TB) *Chromium {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Fatalf("chromium is not installed (%s): scripts/test installs it (the Debian package chromium)", ChromiumPath)
	}
	dir := PeersDir(t)
	c := &Chromium{t: t}
	c.cmd = exec.Command(Node(t), filepath.Join(dir, "browser.mjs"))
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(), "CHROMIUM="+ChromiumPath)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.cmd.Stderr = &c.err
	var err error
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewScanner(stdout)
	c.out.Buffer(nil, 16<<20)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	if _, err := c.answer(60 * time.Second); err != nil {
		t.Fatalf("chromium did not start: %v\n%s", err, c.err.String())
	}
	return c
}

// stop closes the browser (its stdin ends), or kills it after 10 s.
func (c *Chromium) stop() {
	c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// answer reads the next answer.
func (c *Chromium) answer(limit time.Duration) (json.RawMessage, error) {
	got := make(chan error, 1)
	var a struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	go func() {
		if !c.out.Scan() {
			got <- fmt.Errorf("the browser ended: %v", c.out.Err())
			return
		}
		got <- json.Unmarshal(c.out.Bytes(), &a)
	}()
	select {
	case err := <-got:
		if err != nil {
			return nil, err
		}
		if !a.OK {
			return nil, errors.New(a.Error)
		}
		return a.Result, nil
	case <-time.After(limit):
		return nil, fmt.Errorf("no answer within %v", limit)
	}
}

// Do runs one command of npm/browser.mjs and returns its result.
func (c *Chromium) Do(cmd map[string]any) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, _ := json.Marshal(cmd)
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	limit := 60 * time.Second
	if ms, ok := cmd["timeoutMs"].(int); ok {
		limit = time.Duration(ms)*time.Millisecond + 10*time.Second
	}
	return c.answer(limit)
}

func (c *Chromium) must(cmd map[string]any) json.RawMessage {
	c.t.Helper()
	r, err := c.Do(cmd)
	if err != nil {
		c.t.Fatalf("chromium %v: %v (at %s)", cmd, err, c.url())
	}
	return r
}

func (c *Chromium) url() string {
	r, err := c.Do(map[string]any{"op": "url"})
	if err != nil {
		return "?"
	}
	var s string
	_ = json.Unmarshal(r, &s)
	return s
}

func str(r json.RawMessage) string {
	var s string
	_ = json.Unmarshal(r, &s)
	return s
}

// Goto loads a page and returns where it ended (after redirects).
func (c *Chromium) Goto(u string) string {
	c.t.Helper()
	return str(c.must(map[string]any{"op": "goto", "url": u}))
}

// Click clicks what selector finds.
func (c *Chromium) Click(selector string) {
	c.t.Helper()
	c.must(map[string]any{"op": "click", "selector": selector})
}

// ClickNav clicks what selector finds and waits for the page it loads;
// it returns that page's URL.
func (c *Chromium) ClickNav(selector string) string {
	c.t.Helper()
	return str(c.must(map[string]any{"op": "clickNav", "selector": selector}))
}

// Fill types value into the field selector finds.
func (c *Chromium) Fill(selector, value string) {
	c.t.Helper()
	c.must(map[string]any{"op": "fill", "selector": selector, "value": value})
}

// Text is the text of what selector finds.
func (c *Chromium) Text(selector string) string {
	c.t.Helper()
	return str(c.must(map[string]any{"op": "text", "selector": selector}))
}

// WaitText waits until what selector finds has text in it (the page
// updating itself, or a page loading), at most limit, and returns its text.
func (c *Chromium) WaitText(selector, text string, limit time.Duration) string {
	c.t.Helper()
	r, err := c.Do(map[string]any{"op": "waitText", "selector": selector, "text": text, "timeoutMs": int(limit / time.Millisecond)})
	if err != nil {
		got, _ := c.Do(map[string]any{"op": "eval", "js": "document.body ? document.body.innerText : ''"})
		c.t.Fatalf("chromium: no %q in %s within %v (%v); the page (%s) says:\n%s", text, selector, limit, err, c.url(), str(got))
	}
	return str(r)
}

// WaitSelector waits until selector finds something, at most limit.
func (c *Chromium) WaitSelector(selector string, limit time.Duration) {
	c.t.Helper()
	c.must(map[string]any{"op": "waitSelector", "selector": selector, "timeoutMs": int(limit / time.Millisecond)})
}

// WaitURL waits until the page's URL has part in it, and returns it.
func (c *Chromium) WaitURL(part string, limit time.Duration) string {
	c.t.Helper()
	return str(c.must(map[string]any{"op": "waitURL", "text": part, "timeoutMs": int(limit / time.Millisecond)}))
}

// URL is the page's URL.
func (c *Chromium) URL() string { return c.url() }

// Eval evaluates a JavaScript expression in the page and returns its
// value as JSON.
func (c *Chromium) Eval(js string) json.RawMessage {
	c.t.Helper()
	return c.must(map[string]any{"op": "eval", "js": js})
}

// Cookie is a cookie as the browser keeps it.
type Cookie struct {
	Name, Value, Domain, Path, SameSite string
	HTTPOnly                            bool `json:"httpOnly"`
	Secure                              bool
}

// Cookies are the browser's cookies.
func (c *Chromium) Cookies() []Cookie {
	c.t.Helper()
	var cs []Cookie
	_ = json.Unmarshal(c.must(map[string]any{"op": "cookies"}), &cs)
	return cs
}

// Screenshot saves the page, whole, as a PNG.
func (c *Chromium) Screenshot(path string) {
	c.t.Helper()
	c.must(map[string]any{"op": "screenshot", "path": path})
}
