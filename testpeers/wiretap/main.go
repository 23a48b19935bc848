// Command wiretap records MCP traffic between a real client and a real
// server, so that tests and notes can say exactly what an SDK puts on the
// wire. It has two modes:
//
//	wiretap -log FILE -target http://127.0.0.1:PORT   # HTTP reverse proxy
//	wiretap -log FILE -- COMMAND ARGS...              # stdio: runs COMMAND
//
// The HTTP proxy listens on -listen (127.0.0.1:0 by default), announces its
// port on stderr as "MCPTRAY_PEER_LISTENING PORT" (the testpeers helpers
// wait for that line) and logs every request and response with headers and
// bodies; an SSE response is logged chunk by chunk as it flows, so the log
// shows when each event arrived. The stdio mode copies the client's stdin
// to COMMAND and COMMAND's stdout back, logging each line with its
// direction.
package main

import (
	"bufio"
	"bytes"
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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// recorder writes log entries to one file.
type recorder struct {
	mu    sync.Mutex // guards w
	w     io.Writer
	start time.Time
}

func (r *recorder) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, "[%7.3fs] ", time.Since(r.start).Seconds())
	fmt.Fprintf(r.w, format, args...)
	if !strings.HasSuffix(format, "\n") {
		fmt.Fprintln(r.w)
	}
}

func headers(h http.Header) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(&b, "    %s: %s\n", k, v)
		}
	}
	return b.String()
}

// loggedBody logs what the client reads of a response body as it reads it.
type loggedBody struct {
	io.ReadCloser
	rec *recorder
	n   int64
}

func (b *loggedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.rec.printf("<- #%d chunk:\n%s", b.n, indent(p[:n]))
	}
	if err == io.EOF {
		b.rec.printf("<- #%d end of body", b.n)
	} else if err != nil {
		b.rec.printf("<- #%d body error: %v", b.n, err)
	}
	return n, err
}

func (b *loggedBody) Close() error {
	b.rec.printf("<- #%d body closed by the client side", b.n)
	return b.ReadCloser.Close()
}

func indent(p []byte) string {
	s := strings.TrimRight(string(p), "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

type ctxKey struct{}

func serveHTTP(rec *recorder, listen, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("parse -target: %w", err)
	}
	var seq atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1
	director := proxy.Director
	proxy.Director = func(req *http.Request) {
		director(req)
		// The target checks Host against loopback (DNS-rebinding
		// protection): present the target's own host.
		req.Host = u.Host
	}
	proxy.ModifyResponse = func(resp *http.Response) error {
		n := resp.Request.Context().Value(ctxKey{}).(int64)
		rec.printf("<- #%d %s\n%s", n, resp.Status, headers(resp.Header))
		resp.Body = &loggedBody{ReadCloser: resp.Body, rec: rec, n: n}
		return nil
	}
	proxy.ErrorHandler = func(w http.ResponseWriter, req *http.Request, err error) {
		n, _ := req.Context().Value(ctxKey{}).(int64)
		rec.printf("<- #%d proxy error: %v", n, err)
		w.WriteHeader(http.StatusBadGateway)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := seq.Add(1)
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		rec.printf("-> #%d %s %s\n%s%s", n, req.Method, req.URL.RequestURI(), headers(req.Header), indent(body))
		ctx := req.Context()
		go func() {
			<-ctx.Done()
			rec.printf("-- #%d request context done (client went away or response finished)", n)
		}()
		proxy.ServeHTTP(w, req.WithContext(contextWith(ctx, n)))
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "MCPTRAY_PEER_LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	return http.Serve(ln, h)
}

func runStdio(rec *recorder, args []string) error {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer in.Close()
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			rec.printf("-> %s", sc.Text())
			in.Write(append(sc.Bytes(), '\n'))
		}
		rec.printf("-> stdin closed")
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			rec.printf("<- %s", sc.Text())
			os.Stdout.Write(append(sc.Bytes(), '\n'))
		}
		rec.printf("<- stdout closed")
		os.Stdout.Close()
	}()
	err = cmd.Wait()
	rec.printf("-- exited: %v", err)
	return err
}

func main() {
	logPath := flag.String("log", "", "file to append the traffic to (default stderr)")
	listen := flag.String("listen", "127.0.0.1:0", "address of the HTTP proxy")
	target := flag.String("target", "", "URL of the server to proxy (HTTP mode)")
	flag.Parse()
	var w io.Writer = os.Stderr
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		w = f
	}
	rec := &recorder{w: w, start: time.Now()}
	var err error
	switch {
	case *target != "":
		err = serveHTTP(rec, *listen, *target)
	case flag.NArg() > 0:
		err = runStdio(rec, flag.Args())
	default:
		err = fmt.Errorf("give -target URL or -- COMMAND")
	}
	if err != nil {
		log.Fatal(err)
	}
}
