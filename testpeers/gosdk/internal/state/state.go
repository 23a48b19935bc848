// Package state mints and verifies the opaque requestState of the test
// servers' Multi Round-Trip Requests. The 2026-07-28 spec (basic/patterns/
// mrtr.mdx, "Server Requirements") makes requestState attacker-controlled
// input that a server must integrity-protect and bind to the request it
// belongs to; this HMAC-SHA256 codec does both, so a test can check that a
// tampered or misdirected state is refused.
package state

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalid is returned for a state that fails verification.
var ErrInvalid = errors.New("invalid requestState")

// Codec mints and verifies states with one key.
type Codec struct {
	key []byte
}

// New returns a codec with a fresh random key.
func New() *Codec {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	return &Codec{key: key}
}

type payload struct {
	Tool    string `json:"tool"`
	Step    string `json:"step"`
	Expires int64  `json:"exp"`
}

// Mint returns a state that binds step to tool for ten minutes.
func (c *Codec) Mint(tool, step string) string {
	p, _ := json.Marshal(payload{Tool: tool, Step: step, Expires: time.Now().Add(10 * time.Minute).Unix()})
	body := base64.RawURLEncoding.EncodeToString(p)
	return body + "." + base64.RawURLEncoding.EncodeToString(c.mac(body))
}

// Verify checks a state minted for tool and returns its step.
func (c *Codec) Verify(tool, s string) (string, error) {
	body, sig, ok := strings.Cut(s, ".")
	if !ok {
		return "", fmt.Errorf("%w: malformed", ErrInvalid)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac(body)) {
		return "", fmt.Errorf("%w: signature does not match (tampered)", ErrInvalid)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", fmt.Errorf("%w: malformed", ErrInvalid)
	}
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("%w: malformed", ErrInvalid)
	}
	if p.Tool != tool {
		return "", fmt.Errorf("%w: minted for tool %q, not %q", ErrInvalid, p.Tool, tool)
	}
	if time.Now().Unix() > p.Expires {
		return "", fmt.Errorf("%w: expired", ErrInvalid)
	}
	return p.Step, nil
}

func (c *Codec) mac(body string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}
