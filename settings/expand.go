package settings

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// ErrUnsetVariable is wrapped by the error of an expansion that names an
// environment variable which is not set.
var ErrUnsetVariable = errors.New("environment variable is not set")

// UnsetVariableError lists the variables an expansion needed and did not
// find.
type UnsetVariableError struct{ Names []string }

func (e *UnsetVariableError) Error() string {
	if len(e.Names) == 1 {
		return fmt.Sprintf("environment variable %s is not set", e.Names[0])
	}
	return fmt.Sprintf("environment variables %s are not set", strings.Join(e.Names, ", "))
}

func (e *UnsetVariableError) Is(target error) bool { return target == ErrUnsetVariable }

// Expander expands ${VAR} and $VAR placeholders. "$$" stands for "$". A "$"
// that starts neither form is kept as it is. Unlike MCPHub, which puts an
// empty string in place of a variable that is not set, an unset variable is
// an error: an empty API key is a worse failure to diagnose.
type Expander struct {
	Lookup func(string) (string, bool) // os.LookupEnv when nil
	unset  []string
}

// Expand returns s with its placeholders replaced. Unset variables are
// remembered for Err.
func (x *Expander) Expand(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	lookup := x.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		var name string
		next := s[i+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			i++
			continue
		case next == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 || !isVarName(s[i+2:i+2+end]) {
				b.WriteByte(c)
				continue
			}
			name = s[i+2 : i+2+end]
			i += 2 + end
		case isVarStart(next):
			j := i + 1
			for j < len(s) && isVarChar(s[j]) {
				j++
			}
			name = s[i+1 : j]
			i = j - 1
		default:
			b.WriteByte(c)
			continue
		}
		v, ok := lookup(name)
		if !ok {
			if !slices.Contains(x.unset, name) {
				x.unset = append(x.unset, name)
			}
			continue
		}
		b.WriteString(v)
	}
	return b.String()
}

// Err returns an *UnsetVariableError naming the unset variables met so far.
func (x *Expander) Err() error {
	if len(x.unset) == 0 {
		return nil
	}
	return &UnsetVariableError{Names: slices.Clone(x.unset)}
}

func isVarStart(c byte) bool {
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

func isVarChar(c byte) bool { return isVarStart(c) || (c >= '0' && c <= '9') }

func isVarName(s string) bool {
	if s == "" || !isVarStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isVarChar(s[i]) {
			return false
		}
	}
	return true
}

func (x *Expander) strings(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = x.Expand(s)
	}
	return out
}

func (x *Expander) values(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = x.Expand(v)
	}
	return out
}

// Resolve returns a copy of the server with every placeholder expanded, the
// way it is used. The settings keep the placeholders.
func (s *Server) Resolve(lookup func(string) (string, bool)) (*Server, error) {
	x := &Expander{Lookup: lookup}
	r := *s
	r.Command = x.Expand(s.Command)
	r.Args = x.strings(s.Args)
	r.Env = x.values(s.Env)
	r.Cwd = x.Expand(s.Cwd)
	r.URL = x.Expand(s.URL)
	r.Headers = x.values(s.Headers)
	if s.OAuth != nil {
		o := *s.OAuth
		o.OAuthConfig = o.OAuthConfig.expand(x)
		r.OAuth = &o
	}
	if err := x.Err(); err != nil {
		return nil, err
	}
	if r.Kind() == TypeSSE || r.Kind() == TypeStreamableHTTP {
		if err := checkURL(r.URL); err != nil {
			return nil, err
		}
	}
	return &r, nil
}
