package oauthflow

import (
	"errors"
	"io"
	"net/http"
	"slices"
)

// maxStepUps bounds the authorizations one request may ask for more
// scopes (403 insufficient_scope) before it gives up; maxAutoStepUps
// bounds them per server.
const maxStepUps = 2

// Transport returns the HTTP transport for a server's MCP connection: it
// adds the server's access token (over any static Authorization header of
// the settings), renews it ahead of expiry and after a 401, turns a 401 it
// cannot fix into an *AuthorizationError, and answers a 403
// insufficient_scope by asking the user for the union of the scopes held and
// those challenged, at most twice per request and maxAutoStepUps times per
// server until the user asks for a sign-in.
// The server must have been configured first.
func (m *Manager) Transport(name string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{s: m.server(name), base: base}
}

type transport struct {
	s    *server
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := t.s
	ctx := req.Context()
	for stepUps := 0; ; {
		tok, err := s.token(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := t.send(req, tok)
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			ch, _ := ParseChallenge(resp.Header)
			s.noteChallenge(ch)
			if tok != "" && replayable(req) {
				next, err := s.renewAfterRejection(ctx, tok)
				var ae *AuthorizationError
				switch {
				case errors.As(err, &ae):
					discard(resp)
					return nil, ae
				case err != nil:
					// Renewal failed for want of the network, say: the
					// tokens stay for the next attempt.
					discard(resp)
					return nil, err
				case next != "":
					discard(resp)
					if resp, err = t.send(req, next); err != nil {
						return nil, err
					}
					if resp.StatusCode != http.StatusUnauthorized {
						if resp.StatusCode < 400 {
							s.markWorking()
						}
						return resp, nil
					}
					tok = next
					ch, _ = ParseChallenge(resp.Header)
					s.noteChallenge(ch)
				}
			}
			discard(resp)
			reason := "the server answered 401 Unauthorized"
			if tok == "" {
				reason = "the server asks for a sign-in"
			} else if ch.Error != "" {
				reason = "the server refused the token (" + ch.Error + ")"
			}
			if tok != "" {
				// The token does not work any more: drop it, keep the
				// client.
				_ = s.update(ctx, func(b *bundle) {
					if b.Token != nil && b.Token.AccessToken == tok {
						b.Token = nil
					}
				})
			}
			s.needAuthorization(reason)
			s.mu.Lock()
			reason = s.reason // the first reason, when there was one already
			s.mu.Unlock()
			return nil, &AuthorizationError{Server: s.name, Reason: reason}
		case http.StatusForbidden:
			ch, ok := ParseChallenge(resp.Header)
			if !ok || ch.Error != "insufficient_scope" || !replayable(req) || stepUps >= maxStepUps {
				return resp, nil
			}
			discard(resp)
			stepUps++
			s.noteChallenge(ch)
			if err := s.stepUp(ctx, ch, tok); err != nil {
				return nil, err
			}
			continue
		}
		if tok != "" && resp.StatusCode < 400 {
			s.markWorking()
		}
		return resp, nil
	}
}

// markWorking records that the server accepted the token.
func (s *server) markWorking() {
	if s.state() != StateAuthorized {
		s.setState(StateAuthorized, "")
	}
}

// send sends req with the token, if any, in the Authorization header.
func (t *transport) send(req *http.Request, tok string) (*http.Response, error) {
	if tok == "" {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	if req.Body != nil && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(r)
}

// replayable reports whether a request can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
}

// noteChallenge remembers what the server last asked for, and the scopes
// it said it needs.
func (s *server) noteChallenge(ch Challenge) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch.ResourceMetadata == "" && ch.Error == "" && len(ch.Scopes) == 0 {
		return
	}
	c := ch
	s.challenge = &c
	switch {
	case ch.Error == "insufficient_scope":
		s.wanted = unionScopes(s.wanted, ch.Scopes)
	case len(ch.Scopes) > 0:
		s.challenged = slices.Clone(ch.Scopes)
	}
}
