package keychain

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Keychains bound the size of one item: Windows Credential Manager refuses
// more than 2,560 bytes, and go-keyring's macOS backend about 3,000 with the
// service and account names (go-keyring's ErrSetDataTooBig). A bundle of OAuth
// tokens with JWTs goes over that, so a value that does not fit is first
// compressed, and if that is not enough, split across numbered items:
//
//	ACCOUNT      "mcptray:chunks:N:SHA256" (the head)
//	ACCOUNT#1    first part
//	...
//	ACCOUNT#N    last part
//
// Compressed values start with "mcptray:gz:". One item per server stays the
// rule wherever it fits, so that a token refresh is one keychain write.
const (
	gzPrefix    = "mcptray:gz:"
	chunkPrefix = "mcptray:chunks:"
	maxChunks   = 64
)

// backend is the operating system's keychain as go-keyring sees it.
type backend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// errBackendNotFound is what the backend answers for a missing item.
var errBackendNotFound = errors.New("not found")

// encode turns a value into what is stored, compressed when it does not
// fit in limit (0: no limit).
func encode(value []byte, limit int) string {
	// A value that starts like an encoding is always encoded, so that
	// decode cannot mistake it.
	plain := !strings.HasPrefix(string(value), "mcptray:")
	if plain && (limit <= 0 || len(value) <= limit) {
		return string(value)
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(value)
	zw.Close()
	return gzPrefix + base64.StdEncoding.EncodeToString(b.Bytes())
}

// decode reverses encode.
func decode(stored string) ([]byte, error) {
	rest, ok := strings.CutPrefix(stored, gzPrefix)
	if !ok {
		return []byte(stored), nil
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("stored value: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("stored value: %w", err)
	}
	return io.ReadAll(io.LimitReader(zr, 16<<20))
}

// chunked stores values over a backend whose items hold at most limit bytes.
type chunked struct {
	b       backend
	service string
	limit   int // 0: no limit
}

func (c chunked) get(account string) ([]byte, error) {
	head, err := c.b.Get(c.service, account)
	if err != nil {
		return nil, err
	}
	spec, ok := strings.CutPrefix(head, chunkPrefix)
	if !ok {
		return decode(head)
	}
	nStr, sum, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(nStr)
	if err != nil || n < 1 || n > maxChunks {
		return nil, fmt.Errorf("item %s: bad chunk header", account)
	}
	var all strings.Builder
	for i := 1; i <= n; i++ {
		part, err := c.b.Get(c.service, partName(account, i))
		if err != nil {
			return nil, fmt.Errorf("item %s: part %d of %d: %w", account, i, n, err)
		}
		all.WriteString(part)
	}
	if digest(all.String()) != sum {
		return nil, fmt.Errorf("item %s: its parts do not match (written by two processes at once?)", account)
	}
	return decode(all.String())
}

func (c chunked) set(account string, value []byte) error {
	enc := encode(value, c.limit)
	oldParts := c.partCount(account)
	if c.limit <= 0 || len(enc) <= c.limit {
		if err := c.b.Set(c.service, account, enc); err != nil {
			return err
		}
		c.deleteParts(account, 1, oldParts)
		return nil
	}
	size := c.limit
	n := (len(enc) + size - 1) / size
	if n > maxChunks {
		return fmt.Errorf("a secret of %d bytes is too big for the keychain", len(value))
	}
	// Parts first, head last: a reader never sees a head whose parts are
	// not all written.
	for i := 1; i <= n; i++ {
		part := enc[(i-1)*size : min(i*size, len(enc))]
		if err := c.b.Set(c.service, partName(account, i), part); err != nil {
			return err
		}
	}
	if err := c.b.Set(c.service, account, fmt.Sprintf("%s%d:%s", chunkPrefix, n, digest(enc))); err != nil {
		return err
	}
	c.deleteParts(account, n+1, oldParts)
	return nil
}

func (c chunked) delete(account string) error {
	parts := c.partCount(account)
	err := c.b.Delete(c.service, account)
	c.deleteParts(account, 1, parts)
	return err
}

// partCount returns how many parts the stored value of account has.
func (c chunked) partCount(account string) int {
	head, err := c.b.Get(c.service, account)
	if err != nil {
		return 0
	}
	spec, ok := strings.CutPrefix(head, chunkPrefix)
	if !ok {
		return 0
	}
	nStr, _, _ := strings.Cut(spec, ":")
	n, _ := strconv.Atoi(nStr)
	return min(n, maxChunks)
}

func (c chunked) deleteParts(account string, from, to int) {
	for i := from; i <= to; i++ {
		_ = c.b.Delete(c.service, partName(account, i))
	}
}

func partName(account string, i int) string { return account + "#" + strconv.Itoa(i) }

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
