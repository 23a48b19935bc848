//go:build unix

package testpeers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcptray/mcptray/testpeers/gobuild"
)

// The user the login pages of the Go authorization servers accept.
const (
	HydraUser     = "test-user"
	HydraPassword = "test-password"
)

// HydraOptions configures StartHydra.
type HydraOptions struct {
	// Scopes the discovery document lists in scopes_supported (besides
	// Hydra's openid, offline and offline_access). Hydra grants a client
	// only the scopes it registered, whatever the document lists.
	Scopes []string
	// AccessTTL is the access tokens' lifetime; 0 means an hour.
	AccessTTL time.Duration
}

// Hydra is Ory Hydra (v2, module testpeers/hydra) with its database in
// memory, and the login and consent app Hydra delegates to, in this
// process. Hydra:
//   - offers RFC 7591 registration at /oauth2/register (advertised as the
//     registration_endpoint) and RFC 7592's registration_client_uri;
//   - lets a client ask only for the scopes it registered: a client
//     registered without "scope" gets "offline_access offline openid", and
//     asking for any other scope ends at the redirect URI with
//     error=invalid_scope;
//   - serves only OpenID discovery (/.well-known/openid-configuration), no
//     RFC 8414 document, and its issuer ends with a slash;
//   - requires PKCE (here), issues opaque access tokens (ory_at_...), which
//     the resource server introspects on the admin port, and rotating
//     refresh tokens when the client asks for offline_access;
//   - matches a loopback redirect URI on any port (RFC 8252 section 7.3),
//     but only for 127.0.0.1 and [::1]: http://localhost must match
//     exactly, port included;
//   - refuses a state shorter than 8 characters (invalid_state), sends no
//     RFC 9207 iss and ignores RFC 8707 resource (its tokens' audience
//     comes from its own "audience" parameter);
//   - treats a spent refresh token's reuse as theft and revokes the chain;
//   - forgets every client and token when it restarts (Restart).
type Hydra struct {
	Issuer   string // with Hydra's trailing slash
	Public   string // the public port's base URL (no slash)
	Admin    string // the admin port's base URL
	Login    *ConsentApp
	bin, dir string
	proc     *hydraProcess
}

type hydraProcess struct {
	cmd  *exec.Cmd
	out  *Buffer
	done chan struct{}
}

// StartHydra builds Hydra when the cache has none for testpeers/hydra's
// go.sum, starts it on 127.0.0.1 and stops it when t ends.
func StartHydra(t testing.TB, opts HydraOptions) *Hydra {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := gobuild.Build(ctx, "hydra")
	if err != nil {
		t.Fatal(err)
	}
	public, admin := freePort(t), freePort(t)
	h := &Hydra{
		Issuer: fmt.Sprintf("http://127.0.0.1:%d/", public),
		Public: fmt.Sprintf("http://127.0.0.1:%d", public),
		Admin:  fmt.Sprintf("http://127.0.0.1:%d", admin),
		bin:    bin,
		dir:    t.TempDir(),
	}
	h.Login = StartConsentApp(t, h.Admin)
	ttl := opts.AccessTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	config := map[string]any{
		"dsn": "memory",
		"serve": map[string]any{
			"public": map[string]any{"host": "127.0.0.1", "port": public},
			"admin":  map[string]any{"host": "127.0.0.1", "port": admin},
		},
		"urls": map[string]any{
			"self":    map[string]any{"issuer": h.Issuer},
			"login":   h.Login.URL + "/login",
			"consent": h.Login.URL + "/consent",
		},
		"secrets": map[string]any{"system": []string{"mcptray-test-only-system-secret-0123456789"}},
		"oauth2":  map[string]any{"pkce": map[string]any{"enforced": true}},
		"oidc": map[string]any{
			"dynamic_client_registration": map[string]any{"enabled": true},
		},
		// Hydra serves /oauth2/register when registration is enabled but
		// names it in its discovery document only when told to.
		"webfinger": map[string]any{"oidc_discovery": map[string]any{
			"client_registration_url": h.Public + "/oauth2/register",
			"supported_scope":         opts.Scopes,
		}},
		"ttl": map[string]any{"access_token": ttl.String(), "refresh_token": "24h"},
		"log": map[string]any{"level": "info", "format": "text"},
	}
	cfg, _ := json.Marshal(config)
	// Hydra reads YAML, of which JSON is a part.
	file := filepath.Join(h.dir, "hydra.yaml")
	if err := os.WriteFile(file, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	t.Cleanup(h.stop)
	return h
}

func (h *Hydra) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(h.bin, "serve", "all", "--dev", "--config", filepath.Join(h.dir, "hydra.yaml"))
	cmd.Dir = h.dir
	cmd.Env = os.Environ()
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hydra: %v", err)
	}
	p := &hydraProcess{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	h.proc = p
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.done:
			t.Fatalf("hydra exited: %s\n%s", cmd.ProcessState, out.String())
		default:
		}
		if ready(c, h.Public+"/health/ready") && ready(c, h.Admin+"/health/ready") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra did not become ready within 60 s:\n%s", out.String())
		}
	}
}

func ready(c *http.Client, u string) bool {
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (h *Hydra) stop() {
	p := h.proc
	if p == nil {
		return
	}
	h.proc = nil
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Restart stops Hydra and starts it again on the same ports: with its
// database in memory, it has forgotten every client, grant and token.
func (h *Hydra) Restart(t testing.TB) {
	t.Helper()
	h.stop()
	h.start(t)
}

// Output returns what Hydra logged so far.
func (h *Hydra) Output() string {
	if h.proc == nil {
		return ""
	}
	return h.proc.out.String()
}

// IntrospectionURL is Hydra's RFC 7662 endpoint, on the admin port, which
// takes no client authentication.
func (h *Hydra) IntrospectionURL() string { return h.Admin + "/admin/oauth2/introspect" }

// CreateClient registers a client through Hydra's admin API, the way an
// operator pre-registers one (any field of Hydra's client model). It
// returns the stored client, client_id and client_secret included.
func (h *Hydra) CreateClient(client map[string]any) (map[string]any, error) {
	var out map[string]any
	err := hydraAdmin(context.Background(), http.MethodPost, h.Admin+"/admin/clients", client, &out)
	return out, err
}

func hydraAdmin(ctx context.Context, method, u string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("hydra admin %s %s: %s: %s", method, strings.Split(u, "?")[0], resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// ConsentApp is the login and consent app Hydra sends the browser to
// (Hydra has no user interface of its own): a login form (HydraUser,
// HydraPassword) and a consent form with a box per requested scope and
// Allow and Deny buttons. It talks to Hydra's admin API.
type ConsentApp struct {
	URL   string
	admin string
}

var consentPages = template.Must(template.New("").Parse(`
{{define "login"}}<!doctype html><title>Sign in</title>
<form method="post" action="/login">
<input type="hidden" name="challenge" value="{{.Challenge}}">
{{if .Error}}<p>{{.Error}}</p>{{end}}
<label>User <input type="text" name="username"></label>
<label>Password <input type="password" name="password"></label>
<button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>{{end}}
{{define "consent"}}<!doctype html><title>Consent</title>
<form method="post" action="/consent">
<input type="hidden" name="challenge" value="{{.Challenge}}">
<p>{{.Client}} asks for:</p>
{{range .Scopes}}<label><input type="checkbox" name="grant_scope" value="{{.}}" checked> {{.}}</label>
{{end}}
<button type="submit" name="action" value="allow">Allow</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>{{end}}`))

// StartConsentApp starts the login and consent app for the Hydra whose
// admin API is at admin, on 127.0.0.1, stopped when t ends.
func StartConsentApp(t testing.TB, admin string) *ConsentApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &ConsentApp{URL: "http://" + ln.Addr().String(), admin: admin}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /consent", a.consentPage)
	mux.HandleFunc("POST /consent", a.consent)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return a
}

func (a *ConsentApp) flow(ctx context.Context, kind, challenge, verb string, in any) (string, error) {
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	u := fmt.Sprintf("%s/admin/oauth2/auth/requests/%s/%s?%s_challenge=%s", a.admin, kind, verb, kind, url.QueryEscape(challenge))
	if err := hydraAdmin(ctx, http.MethodPut, u, in, &out); err != nil {
		return "", err
	}
	return out.RedirectTo, nil
}

func (a *ConsentApp) loginPage(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("login_challenge")
	var req struct {
		Skip    bool   `json:"skip"`
		Subject string `json:"subject"`
	}
	if err := hydraAdmin(r.Context(), http.MethodGet, a.admin+"/admin/oauth2/auth/requests/login?login_challenge="+url.QueryEscape(challenge), nil, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if req.Skip {
		// Hydra remembers the user: no form, as a real app would do.
		a.redirect(w, r, "login", challenge, "accept", map[string]any{"subject": req.Subject})
		return
	}
	_ = consentPages.ExecuteTemplate(w, "login", map[string]any{"Challenge": challenge})
}

func (a *ConsentApp) login(w http.ResponseWriter, r *http.Request) {
	challenge := r.PostFormValue("challenge")
	if r.PostFormValue("action") == "cancel" {
		a.redirect(w, r, "login", challenge, "reject", map[string]any{"error": "access_denied", "error_description": "the user cancelled the sign-in"})
		return
	}
	if r.PostFormValue("username") != HydraUser || r.PostFormValue("password") != HydraPassword {
		_ = consentPages.ExecuteTemplate(w, "login", map[string]any{"Challenge": challenge, "Error": "wrong user name or password"})
		return
	}
	a.redirect(w, r, "login", challenge, "accept", map[string]any{"subject": HydraUser, "remember": true, "remember_for": 3600})
}

func (a *ConsentApp) consentPage(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("consent_challenge")
	var req struct {
		Skip     bool     `json:"skip"`
		Scopes   []string `json:"requested_scope"`
		Audience []string `json:"requested_access_token_audience"`
		Client   struct {
			ID   string `json:"client_id"`
			Name string `json:"client_name"`
		} `json:"client"`
	}
	if err := hydraAdmin(r.Context(), http.MethodGet, a.admin+"/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if req.Skip {
		a.redirect(w, r, "consent", challenge, "accept", map[string]any{"grant_scope": req.Scopes, "grant_access_token_audience": req.Audience})
		return
	}
	name := req.Client.Name
	if name == "" {
		name = req.Client.ID
	}
	_ = consentPages.ExecuteTemplate(w, "consent", map[string]any{"Challenge": challenge, "Client": name, "Scopes": req.Scopes})
}

func (a *ConsentApp) consent(w http.ResponseWriter, r *http.Request) {
	challenge := r.PostFormValue("challenge")
	if r.PostFormValue("action") != "allow" {
		a.redirect(w, r, "consent", challenge, "reject", map[string]any{"error": "access_denied", "error_description": "the user denied the request"})
		return
	}
	var req struct {
		Audience []string `json:"requested_access_token_audience"`
	}
	if err := hydraAdmin(r.Context(), http.MethodGet, a.admin+"/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	granted := r.PostForm["grant_scope"]
	if granted == nil {
		granted = []string{}
	}
	a.redirect(w, r, "consent", challenge, "accept", map[string]any{"grant_scope": slices.Compact(granted), "grant_access_token_audience": req.Audience})
}

func (a *ConsentApp) redirect(w http.ResponseWriter, r *http.Request, kind, challenge, verb string, body any) {
	to, err := a.flow(r.Context(), kind, challenge, verb, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, to, http.StatusFound)
}
