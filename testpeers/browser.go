//go:build unix

package testpeers

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Decision is what a Browser's user answers at a consent page.
type Decision int

const (
	// Approve grants what the page offers (less any unticked scopes).
	Approve Decision = iota
	// Decline refuses: the authorization server sends the browser to the
	// redirect URI with error=access_denied (RFC 6749 section 4.1.2.1).
	Decline
)

// ErrNoUntick is returned when a Browser was told to untick a scope and no
// page offered a box for it.
var ErrNoUntick = errors.New("no consent page offered to untick the scope")

// Browser stands in for a user at a web browser during an authorization
// request: it follows redirects with a cookie jar, fills in the login forms
// (a text field whose name says user, login or email, and a password
// field), and at a consent form approves or declines and unticks the
// scopes it was told to. It knows no server in particular: it reads the
// forms the server sends. Its Open plugs into OpenBrowser options.
type Browser struct {
	User     string   // what it types into the user name field
	Password string   // and into the password field
	Decision Decision // its answer at consent
	Untick   []string // scopes whose boxes it unticks at consent

	t      testing.TB
	client *http.Client
	wg     sync.WaitGroup

	mu     sync.Mutex // guards pages, opened and errs
	pages  []string
	opened []string
	errs   []error
}

// NewBrowser returns a Browser with an empty cookie jar that logs in as
// user with password. The test waits for its Open walks when it ends.
func NewBrowser(t testing.TB, user, password string) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{User: user, Password: password, t: t}
	b.client = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		// Redirects are followed by hand, to stop at the redirect URI.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(b.wg.Wait)
	return b
}

// Authorize walks from authURL through the server's pages until the server
// redirects to redirectURI (compared without its query), and returns that
// redirect's URL, with its code, state, iss or error, without requesting it.
func (b *Browser) Authorize(ctx context.Context, authURL, redirectURI string) (*url.URL, error) {
	stop, err := url.Parse(redirectURI)
	if err != nil {
		return nil, err
	}
	return b.walk(ctx, authURL, stop)
}

// Open is an OpenBrowser function: it walks from u in the background,
// following every redirect, the one to the client's own callback included,
// as a browser would. What failed is in Errors.
func (b *Browser) Open(_ context.Context, u string) error {
	b.mu.Lock()
	b.opened = append(b.opened, u)
	b.mu.Unlock()
	b.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := b.walk(ctx, u, nil); err != nil {
			b.mu.Lock()
			b.errs = append(b.errs, err)
			b.mu.Unlock()
		}
	})
	return nil
}

// Opened returns the URLs given to Open.
func (b *Browser) Opened() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.opened)
}

// Errors returns why Open walks failed.
func (b *Browser) Errors() []error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errs)
}

// Pages returns a line per response the browser saw (method, URL without
// its query, status), for a test's failure message.
func (b *Browser) Pages() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.pages, "\n")
}

// bare is u without its query, which may carry codes and state that have
// no place in a test's output.
func bare(u *url.URL) string {
	c := *u
	c.RawQuery, c.User = "", nil
	return c.String()
}

func (b *Browser) record(req *http.Request, status int) {
	b.mu.Lock()
	b.pages = append(b.pages, fmt.Sprintf("%s %s → %d", req.Method, bare(req.URL), status))
	b.mu.Unlock()
}

// walk requests u and what follows. With stop set, it returns the first
// redirect to stop; without, the URL of the first page with no form.
func (b *Browser) walk(ctx context.Context, u string, stop *url.URL) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	unticked := map[string]bool{}
	for range 30 {
		resp, err := b.client.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		b.record(req, resp.StatusCode)
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			next, err := req.URL.Parse(loc)
			if err != nil {
				return nil, fmt.Errorf("redirect to %q: %w", loc, err)
			}
			if stop != nil && sameEndpoint(next, stop) {
				return next, b.untickedAll(unticked)
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s %s: %s: %s", req.Method, bare(req.URL), resp.Status, snippet(body))
		}
		page := string(body)
		forms := parseForms(page)
		if len(forms) == 0 {
			// zitadel/oidc's device confirmation: Allow and Deny are
			// buttons that navigate (onclick="location.href=...").
			if next, ok := b.chooseButton(req.URL, page); ok {
				if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil); err != nil {
					return nil, err
				}
				continue
			}
			if stop == nil {
				return req.URL, b.untickedAll(unticked)
			}
			return nil, fmt.Errorf("%s: a page without a form, before any redirect to %s: %s", bare(req.URL), bare(stop), snippet(body))
		}
		next, err := b.answer(ctx, req.URL, page, forms, unticked)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bare(req.URL), err)
		}
		req = next
	}
	return nil, errors.New("more than 30 pages and redirects: a loop?")
}

func (b *Browser) untickedAll(unticked map[string]bool) error {
	for _, s := range b.Untick {
		if !unticked[s] {
			return fmt.Errorf("%w %q", ErrNoUntick, s)
		}
	}
	return nil
}

// sameEndpoint compares scheme, host and path: a redirect URI with its
// response parameters added is still the redirect URI.
func sameEndpoint(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host) && a.Path == b.Path
}

var (
	denyWords = regexp.MustCompile(`(?i)\b(deny|denied|reject|decline|cancel|abort|refuse|no)\b`)
	userField = regexp.MustCompile(`(?i)user|login|email`)
	passField = regexp.MustCompile(`(?i)pass`)
	// navigate is a button that goes somewhere by script.
	navigate = regexp.MustCompile(`(?is)<button\b[^>]*onclick\s*=\s*"location\.href\s*=\s*'([^']*)'"[^>]*>(.*?)</button>`)
)

// chooseButton picks, on a page without a form, the button that navigates
// to approve or to decline, as Decision says.
func (b *Browser) chooseButton(page *url.URL, body string) (*url.URL, bool) {
	for _, m := range navigate.FindAllStringSubmatch(body, -1) {
		href, label := html.UnescapeString(m[1]), textRe.ReplaceAllString(m[2], " ")
		if denyWords.MatchString(label+" "+href) == (b.Decision == Decline) {
			next, err := page.Parse(href)
			return next, err == nil
		}
	}
	return nil, false
}

// isPassword: a password field, by its type or, where a page forgot the
// type, by its name.
func (c control) isPassword() bool {
	return c.typ == "password" || c.typ == "text" && passField.MatchString(c.name)
}

// answer fills in the page's form as the user would and returns the
// request that submits it.
func (b *Browser) answer(ctx context.Context, page *url.URL, body string, forms []form, unticked map[string]bool) (*http.Request, error) {
	f := forms[0]
	for _, c := range forms {
		if slices.ContainsFunc(c.inputs, control.isPassword) {
			f = c
			break
		}
	}
	login := slices.ContainsFunc(f.inputs, control.isPassword)
	values := url.Values{}
	for _, in := range f.inputs {
		switch {
		case in.typ == "submit" || in.typ == "button" || in.typ == "reset" || in.typ == "image" || in.typ == "file":
		case in.isPassword():
			values.Add(in.name, b.Password)
		case in.typ == "checkbox" || in.typ == "radio":
			if !in.checked {
				continue
			}
			if !login && slices.Contains(b.Untick, in.value) {
				unticked[in.value] = true
				continue
			}
			values.Add(in.name, in.value)
		default:
			if in.typ != "hidden" && userField.MatchString(in.name) {
				values.Add(in.name, b.User)
			} else {
				values.Add(in.name, in.value)
			}
		}
	}
	decline := !login && b.Decision == Decline
	var chosen *control
	for i := range f.submits {
		s := &f.submits[i]
		if denyWords.MatchString(s.name+" "+s.value+" "+s.text) == decline {
			chosen = s
			break
		}
	}
	if chosen == nil && decline {
		// oidc-provider's pages decline with a link, not a button.
		for _, l := range parseLinks(body) {
			if denyWords.MatchString(l.text + " " + l.href) {
				next, err := page.Parse(l.href)
				if err != nil {
					return nil, err
				}
				return http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
			}
		}
		return nil, errors.New("the consent page offers no way to decline")
	}
	if chosen == nil && len(f.submits) > 0 {
		return nil, errors.New("the form offers no button to approve")
	}
	if chosen != nil && chosen.name != "" {
		values.Add(chosen.name, chosen.value)
	}
	action, err := page.Parse(f.action)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(f.method, "get") {
		action.RawQuery = values.Encode()
		return http.NewRequestWithContext(ctx, http.MethodGet, action.String(), nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(values.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

var (
	styleRe  = regexp.MustCompile(`(?is)<style\b.*?</style>`)
	scriptRe = regexp.MustCompile(`(?is)<script\b.*?</script>`)
)

// snippet is the start of a page's text, for an error message.
func snippet(b []byte) string {
	page := scriptRe.ReplaceAllString(styleRe.ReplaceAllString(string(b), " "), " ")
	s := strings.Join(strings.Fields(html.UnescapeString(textRe.ReplaceAllString(page, " "))), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// A form, as far as a user filling it in sees it.
type form struct {
	action, method string
	inputs         []control
	submits        []control
}

type control struct {
	typ, name, value, text string
	checked                bool
}

type link struct{ href, text string }

// The pages are the servers' own simple HTML; a tag scanner reads their
// forms without a parser's dependency (and is not thrown by scripts).
var (
	tagRe  = regexp.MustCompile(`(?is)<(/?)(form|input|button|a)\b([^>]*)>`)
	attrRe = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)
	textRe = regexp.MustCompile(`(?s)<[^>]*>`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

// text returns the text of page from offset to the closing tag of name.
func text(page string, from int, name string) string {
	end := strings.Index(strings.ToLower(page[from:]), "</"+name)
	if end < 0 {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(textRe.ReplaceAllString(page[from:from+end], " ")))
}

func parseForms(page string) []form {
	var forms []form
	var cur *form
	for _, m := range tagRe.FindAllStringSubmatchIndex(page, -1) {
		closing, name, a := page[m[2]:m[3]] == "/", strings.ToLower(page[m[4]:m[5]]), attrs(page[m[6]:m[7]])
		switch {
		case name == "form" && !closing:
			forms = append(forms, form{action: a["action"], method: a["method"]})
			cur = &forms[len(forms)-1]
		case name == "form":
			cur = nil
		case cur == nil || closing:
		case name == "input":
			_, checked := a["checked"]
			c := control{typ: strings.ToLower(a["type"]), name: a["name"], value: a["value"], checked: checked}
			if c.typ == "" {
				c.typ = "text"
			}
			if c.typ == "checkbox" && c.value == "" {
				c.value = "on"
			}
			if c.typ == "submit" || c.typ == "image" {
				cur.submits = append(cur.submits, c)
			} else if c.name != "" {
				cur.inputs = append(cur.inputs, c)
			}
		case name == "button":
			typ := strings.ToLower(a["type"])
			if typ == "" || typ == "submit" {
				cur.submits = append(cur.submits, control{typ: "submit", name: a["name"], value: a["value"], text: text(page, m[1], "button")})
			}
		}
	}
	return forms
}

func parseLinks(page string) []link {
	var links []link
	for _, m := range tagRe.FindAllStringSubmatchIndex(page, -1) {
		if page[m[2]:m[3]] == "" && strings.EqualFold(page[m[4]:m[5]], "a") {
			if href := attrs(page[m[6]:m[7]])["href"]; href != "" {
				links = append(links, link{href: href, text: text(page, m[1], "a")})
			}
		}
	}
	return links
}
