package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pkg/browser"

	"github.com/mcptray/mcptray/hub"
	"github.com/mcptray/mcptray/oauthflow"
	"github.com/mcptray/mcptray/settings"
)

// apiClient talks to the control API of the running instance.
type apiClient struct {
	base  string
	token string // a bearer key with access to everything, when keys are set
	http  *http.Client
}

// newAPIClient finds the running instance: at --listen when it is given,
// else where the lock file of the settings file says one listens, else at
// the default address. It takes a bearer key from the settings file when
// it has keys.
func newAPIClient(o options) (*apiClient, error) {
	listen := o.listen
	path, pathErr := settingsPath(o)
	if !o.listenSet && pathErr == nil {
		if info, ok := readInstanceInfo(path); ok && info.Addr != "" && isMcptray(info.Addr) {
			listen = info.Addr
		}
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" || host == "localhost" {
		host = "127.0.0.1"
	}
	c := &apiClient{base: "http://" + net.JoinHostPort(host, port), http: &http.Client{Timeout: 30 * time.Second}}
	if pathErr == nil {
		c.token = bearerKeyOf(path)
	}
	return c, nil
}

// bearerKeyOf is a bearer key of the settings file at path with access to
// everything, or "" when it has none.
func bearerKeyOf(path string) string {
	data, err := readFileIfExists(path)
	if err != nil || data == nil {
		return ""
	}
	st, err := settings.Parse(path, data)
	if err != nil {
		return ""
	}
	for _, k := range st.ActiveBearerKeys() {
		if k.AccessType == "" || k.AccessType == "all" {
			return k.Token
		}
	}
	return ""
}

// isMcptray reports whether an mcptray answers at addr.
func isMcptray(addr string) bool {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/api/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		App string `json:"app"`
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&h) == nil && h.App == "mcptray"
}

// notRunningError says that no mcptray answers.
type notRunningError struct{ base string }

func (e *notRunningError) Error() string {
	return "mcptray is not running (nothing answers at " + e.base + ")"
}

// do sends a request and decodes a JSON answer into out.
func (c *apiClient) do(method, path string, out any) error {
	return c.send(method, path, nil, out)
}

// send sends a request with in, when not nil, as its JSON body, and
// decodes a JSON answer into out.
func (c *apiClient) send(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return &notRunningError{c.base}
		}
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// status prints the servers of the running instance; with none running,
// how to start one, and what the settings file configures.
func status(o options, stdout io.Writer) error {
	c, err := newAPIClient(o)
	if err != nil {
		return err
	}
	var list hub.ServerList
	err = c.do(http.MethodGet, "/api/servers", &list)
	var nr *notRunningError
	if errors.As(err, &nr) {
		printConfigured(o, stdout)
		return fmt.Errorf("%w: start it with `mcptray` (the tray icon), `mcptray --headless` (none), or from your applications menu", err)
	}
	if err != nil {
		return err
	}
	printStatus(stdout, list, time.Now())
	return nil
}

// printConfigured says what the settings file configures, for status with
// no mcptray running.
func printConfigured(o options, w io.Writer) {
	path, err := settingsPath(o)
	if err != nil {
		return
	}
	data, err := readFileIfExists(path)
	if err != nil || data == nil {
		fmt.Fprintf(w, "settings: %s (not made yet: mcptray makes it at its first start)\n", path)
		return
	}
	fmt.Fprintf(w, "settings: %s\n", path)
	st, err := settings.Parse(path, data)
	if err != nil {
		for _, e := range settings.List(err) {
			fmt.Fprintf(w, "settings error: %s\n", e.Brief())
		}
		return
	}
	for _, e := range st.Warnings {
		fmt.Fprintf(w, "settings warning: %s\n", e.Brief())
	}
	names := st.ServerNames()
	if len(names) == 0 {
		fmt.Fprintln(w, "It configures no servers.")
		return
	}
	fmt.Fprintf(w, "It configures %d %s: %s.\n", len(names), plural(len(names), "server", "servers"), strings.Join(names, ", "))
	for _, e := range st.Problems() {
		fmt.Fprintf(w, "settings error: %s\n", e.Brief())
	}
}

func printStatus(w io.Writer, list hub.ServerList, now time.Time) {
	fmt.Fprintf(w, "endpoint: %s\nsettings: %s\n", list.Endpoint, list.SettingsPath)
	for _, e := range list.SettingsErrors {
		fmt.Fprintf(w, "settings error: %s\n", e)
	}
	if len(list.SettingsErrors) > 0 {
		fmt.Fprintln(w, "  (the file is not in effect: mcptray keeps the last good version until it is fixed)")
	}
	for _, e := range list.SettingsWarnings {
		fmt.Fprintf(w, "settings warning: %s\n", e)
	}
	fmt.Fprintln(w)
	if len(list.Servers) == 0 {
		fmt.Fprintln(w, "no servers configured: add one with `mcptray add NAME URL` or `mcptray add NAME -- COMMAND ARGS…`")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATE\tTOOLS\tPROMPTS\tRESOURCES\tDETAIL")
	for _, s := range list.Servers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", s.Name, s.Type, s.State, s.Tools, s.Prompts, s.Resources, statusDetail(s, now))
	}
	tw.Flush()
	first := true
	for _, s := range list.Servers {
		text, fix := diagnosis(s)
		if fix == "" || text == "" {
			continue
		}
		if first {
			fmt.Fprintln(w)
			first = false
		}
		fmt.Fprintf(w, "%s: %s\n", serverLabel(s), fix)
	}
}

// statusDetail is the last column of the status table: the error and when
// the next attempt comes.
func statusDetail(s hub.ServerStatus, now time.Time) string {
	var parts []string
	if s.Error != "" {
		parts = append(parts, s.Error)
	}
	if s.Problem != "" && s.Problem != s.Error {
		parts = append(parts, s.Problem)
	}
	if !s.RetryAt.IsZero() {
		parts = append(parts, "retry "+strconv.Itoa(s.Attempt+1)+" in "+s.RetryAt.Sub(now).Round(time.Second).String())
	}
	return strings.Join(parts, "; ")
}

// readFileIfExists returns nil, nil for a file that does not exist.
func readFileIfExists(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// stdin is what mcptray authorize --paste reads the address from.
var stdin io.Reader = os.Stdin

// authorizeFlags are the flags of mcptray authorize.
type authorizeFlags struct {
	// paste: the browser is elsewhere; the user pastes back the address
	// it was sent to.
	paste bool
	// device: the device authorization grant (RFC 8628): a code typed in
	// at a URL.
	device bool
}

// authorize signs in to a server of the running instance and waits until
// the sign-in ends: it exits with the failure's reason as soon as the
// server's summary says the sign-in failed. By default it opens the
// sign-in URL here (where the user is) unless --no-browser or there is no
// display; with --paste it reads the address the browser was sent back to
// from stdin; with --device (or without a display, where the server
// offers it) it shows a code to type in at a URL.
func authorize(o options, name string, f authorizeFlags, stdin io.Reader, stdout io.Writer) error {
	c, err := newAPIClient(o)
	if err != nil {
		return err
	}
	path := "/api/servers/" + url.PathEscape(name)
	if !f.device && !f.paste && (o.noBrowser || noDisplay() != "") {
		// No browser here: the device flow, where the server offers it,
		// needs none.
		var d hub.ServerDetails
		if err := c.do(http.MethodGet, path, &d); err != nil {
			return err
		}
		f.device = d.OAuth != nil && d.OAuth.Endpoints != nil && d.OAuth.Endpoints.Device != ""
	}
	var a oauthflow.Authorization
	switch {
	case f.device:
		if err := c.do(http.MethodPost, path+"/authorize?flow=device", &a); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "To sign in to %s, open this address on any device:\n\n  %s\n\nand enter the code:  %s\n\n", name, a.VerificationURI, a.UserCode)
		if a.URL != "" && a.URL != a.VerificationURI {
			fmt.Fprintf(stdout, "(or open %s, which has the code in it)\n\n", a.URL)
		}
	default:
		if err := c.do(http.MethodPost, path+"/authorize?browser=false", &a); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "To sign in to %s, open:\n\n  %s\n\n", name, a.URL)
		if f.paste {
			return pasteRedirect(c, name, path, a, stdin, stdout)
		}
		if !o.noBrowser && noDisplay() == "" {
			if err := browser.OpenURL(a.URL); err == nil {
				fmt.Fprintln(stdout, "(opened in your browser)")
			}
		} else {
			fmt.Fprintf(stdout, "If the browser is on another machine, run mcptray authorize %s --paste instead.\n", name)
		}
	}
	fmt.Fprintln(stdout, "Waiting for the sign-in to complete (Ctrl-C stops waiting; the sign-in stays open until it expires)…")
	return waitSignIn(c, name, path, a, stdout)
}

// pasteRedirect reads the address the browser was sent back to and
// completes the sign-in with it.
func pasteRedirect(c *apiClient, name, path string, a oauthflow.Authorization, stdin io.Reader, stdout io.Writer) error {
	back := "mcptray's callback"
	if u, err := url.Parse(a.URL); err == nil && u.Query().Get("redirect_uri") != "" {
		back = u.Query().Get("redirect_uri")
	}
	fmt.Fprintf(stdout, "Sign in there. The browser then goes to an address that starts with\n%s and may not load: copy that whole address from the\naddress bar and paste it here, then press Enter:\n\n", back)
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if strings.TrimSpace(line) == "" {
		if err == nil || err == io.EOF {
			err = errors.New("no address was pasted")
		}
		return err
	}
	body, _ := json.Marshal(map[string]string{"redirectUrl": strings.TrimSpace(line)})
	req, err := http.NewRequest(http.MethodPost, c.base+path+"/authorize", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
	if resp.StatusCode >= 300 {
		if out.Error == "" {
			out.Error = resp.Status
		}
		return fmt.Errorf("the sign-in to %s failed: %s", name, out.Error)
	}
	fmt.Fprintf(stdout, "Signed in to %s.\n", name)
	return nil
}

// waitSignIn follows the sign-in a until it ends.
func waitSignIn(c *apiClient, name, path string, a oauthflow.Authorization, stdout io.Writer) error {
	deadline := a.Expires
	if deadline.IsZero() {
		deadline = time.Now().Add(10 * time.Minute)
	}
	for time.Now().Before(deadline.Add(5 * time.Second)) {
		var d hub.ServerDetails
		if err := c.do(http.MethodGet, path, &d); err != nil {
			return err
		}
		if d.OAuth == nil {
			return fmt.Errorf("%s does not use OAuth any more", name)
		}
		if si := d.OAuth.SignIn; si != nil && si.ID == a.SignIn {
			switch si.Status {
			case oauthflow.SignInCompleted:
				fmt.Fprintf(stdout, "Signed in to %s.\n", name)
				return nil
			case oauthflow.SignInFailed:
				return fmt.Errorf("the sign-in to %s failed: %s; `mcptray authorize %s` tries again", name, si.Error, name)
			case oauthflow.SignInExpired:
				return fmt.Errorf("the sign-in to %s expired before it was finished; `mcptray authorize %s` tries again", name, name)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("the sign-in to %s did not complete in time; `mcptray authorize %s` tries again", name, name)
}

// signout revokes and deletes a server's tokens in the running instance.
func signout(o options, name string, stdout io.Writer) error {
	c, err := newAPIClient(o)
	if err != nil {
		return err
	}
	if err := c.do(http.MethodPost, "/api/servers/"+url.PathEscape(name)+"/signout", nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Signed out of %s: its tokens are revoked and deleted.\n", name)
	return nil
}
