package settings

import (
	"errors"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"HOME": "/home/u", "TOKEN": "t0k", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"${HOME}/x", "/home/u/x"},
		{"$HOME/x", "/home/u/x"},
		{"Bearer ${TOKEN}", "Bearer t0k"},
		{"$TOKEN$TOKEN", "t0kt0k"},
		{"cost: $$5", "cost: $5"},
		{"$5 and $ alone and trailing $", "$5 and $ alone and trailing $"},
		{"${not closed", "${not closed"},
		{"${bad-name}", "${bad-name}"},
		{"[${EMPTY}]", "[]"},
	}
	for _, c := range cases {
		x := &Expander{Lookup: lookup}
		if got := x.Expand(c.in); got != c.want || x.Err() != nil {
			t.Errorf("Expand(%q) = %q, %v; want %q", c.in, got, x.Err(), c.want)
		}
	}
}

func TestUnsetVariableIsAnError(t *testing.T) {
	lookup := func(k string) (string, bool) { return "", false }
	srv := &Server{Command: "npx", Env: map[string]string{"KEY": "${API_KEY}"}, Headers: map[string]string{"X": "$OTHER"}}
	_, err := srv.Resolve(lookup)
	if !errors.Is(err, ErrUnsetVariable) {
		t.Fatalf("Resolve: %v, want ErrUnsetVariable", err)
	}
	var ue *UnsetVariableError
	if !errors.As(err, &ue) || len(ue.Names) != 2 {
		t.Errorf("error %v should name both variables", err)
	}
}

func TestResolveKeepsPlaceholdersInSettings(t *testing.T) {
	srv := &Server{
		URL:     "https://${HOST}/mcp",
		Headers: map[string]string{"Authorization": "Bearer ${TOKEN}"},
		OAuth:   &OAuth{OAuthConfig: OAuthConfig{ClientID: "${ID}", DynamicRegistration: &DynamicRegistration{InitialAccessToken: "${IAT}"}}},
	}
	env := map[string]string{"HOST": "example.com", "TOKEN": "x", "ID": "client", "IAT": "iat"}
	r, err := srv.Resolve(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if r.URL != "https://example.com/mcp" || r.Headers["Authorization"] != "Bearer x" || r.OAuth.ClientID != "client" || r.OAuth.DynamicRegistration.InitialAccessToken != "iat" {
		t.Errorf("resolved %+v", r)
	}
	if srv.URL != "https://${HOST}/mcp" || srv.Headers["Authorization"] != "Bearer ${TOKEN}" || srv.OAuth.ClientID != "${ID}" || srv.OAuth.DynamicRegistration.InitialAccessToken != "${IAT}" {
		t.Error("Resolve changed the settings")
	}
}

func TestResolveChecksTheExpandedURL(t *testing.T) {
	srv := &Server{Type: "sse", URL: "${U}"}
	_, err := srv.Resolve(func(string) (string, bool) { return "not a url", true })
	if err == nil {
		t.Fatal("a URL that is not absolute passed")
	}
}

func TestCheckServerName(t *testing.T) {
	for _, ok := range []string{"linear", "my_server", "a.b-c", "X1"} {
		if err := CheckServerName(ok, "-"); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"my server", "a/b", "notes-日本", "", "a:b"} {
		if err := CheckServerName(bad, "-"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
