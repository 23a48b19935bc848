package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/pkg/browser"
)

// `mcptray dashboard` opens the running mcptray's dashboard in the browser.
// With bearer keys in the settings, the dashboard opens only through a
// one-time link: the command asks for one with a key, as the tray makes
// one for itself.

// dashboardLink asks the mcptray c reaches for a link to a page of its
// dashboard ("/", "/servers/NAME").
func dashboardLink(c *apiClient, path string) (string, error) {
	var out struct {
		URL string `json:"url"`
	}
	if err := c.do(http.MethodPost, "/api/dashboard/link?path="+url.QueryEscape(path), &out); err != nil {
		return "", err
	}
	return out.URL, nil
}

// dashboard opens the dashboard, or a server's page of it.
func dashboard(o options, c cliArgs, stdout io.Writer) error {
	client, err := newAPIClient(o)
	if err != nil {
		return err
	}
	path := "/"
	if len(c.pos) == 1 {
		path = "/servers/" + url.PathEscape(c.pos[0])
	}
	u, err := dashboardLink(client, path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mcptray's dashboard: %s\n", u)
	if !o.noBrowser && noDisplay() == "" {
		if err := browser.OpenURL(u); err == nil {
			fmt.Fprintln(stdout, "(opened in your browser)")
		}
	}
	return nil
}
