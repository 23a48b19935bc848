package oauthflow

import (
	"net/http"
	"strings"
)

// Challenge is what a protected resource asked for in WWW-Authenticate
// (RFC 6750 §3, RFC 9728 §5.1).
type Challenge struct {
	ResourceMetadata string   // resource_metadata: where its metadata is
	Scopes           []string // scope: what the request needs
	Error            string   // error: invalid_token, insufficient_scope, ...
	Description      string   // error_description
}

// ParseChallenge reads the Bearer challenge of a response's WWW-Authenticate
// headers. A response may carry several challenges (RFC 9110 §11.6.1), in
// several headers or in one; the first Bearer one counts.
func ParseChallenge(h http.Header) (Challenge, bool) {
	for _, value := range h.Values("WWW-Authenticate") {
		for _, c := range splitChallenges(value) {
			if !strings.EqualFold(c.scheme, "Bearer") {
				continue
			}
			ch := Challenge{
				ResourceMetadata: c.params["resource_metadata"],
				Error:            c.params["error"],
				Description:      c.params["error_description"],
			}
			if s := c.params["scope"]; s != "" {
				ch.Scopes = strings.Fields(s)
			}
			return ch, true
		}
	}
	return Challenge{}, false
}

type challenge struct {
	scheme string
	params map[string]string // names in lower case
}

// splitChallenges parses a WWW-Authenticate value: challenges separated by
// commas, each a scheme followed by name=value parameters (values are tokens
// or quoted strings with backslash escapes, RFC 9110 §11.2).
func splitChallenges(s string) []challenge {
	var out []challenge
	var cur *challenge
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		word := s[start:i]
		if word == "" { // not a token: skip the character
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j < len(s) && s[j] == '=' && cur != nil {
			// A parameter of the current challenge.
			j++
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			var value string
			if j < len(s) && s[j] == '"' {
				var b strings.Builder
				j++
				for j < len(s) && s[j] != '"' {
					if s[j] == '\\' && j+1 < len(s) {
						j++
					}
					b.WriteByte(s[j])
					j++
				}
				j++ // the closing quote
				value = b.String()
			} else {
				vs := j
				for j < len(s) && s[j] != ',' && s[j] != ' ' && s[j] != '\t' {
					j++
				}
				value = s[vs:j]
			}
			cur.params[strings.ToLower(word)] = value
			i = j
			continue
		}
		// A scheme: a new challenge. (A token68 after it is ignored.)
		out = append(out, challenge{scheme: word, params: map[string]string{}})
		cur = &out[len(out)-1]
	}
	return out
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
