package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// positions maps a path of object keys ("mcpServers\x00linear\x00type") to
// the byte offset where its value starts in the file, for error messages.
type positions map[string]int

// positionsOf records the offsets of values up to three objects deep: the
// top level, its sections, the servers and their fields.
func positionsOf(data []byte) positions {
	pos := positions{}
	if data == nil {
		return pos
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var walk func(prefix string, depth int) error
	walk = func(prefix string, depth int) error {
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			path := key
			if prefix != "" {
				path = prefix + "\x00" + key
			}
			pos[path] = skipToValue(data, int(dec.InputOffset()))
			if depth >= 3 {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return err
				}
				continue
			}
			tok, err = dec.Token()
			if err != nil {
				return err
			}
			switch tok {
			case json.Delim('{'):
				if err := walk(path, depth+1); err != nil {
					return err
				}
				if _, err := dec.Token(); err != nil { // }
					return err
				}
			case json.Delim('['):
				for dec.More() {
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
				}
				if _, err := dec.Token(); err != nil { // ]
					return err
				}
			}
		}
		return nil
	}
	if tok, err := dec.Token(); err == nil && tok == json.Delim('{') {
		if err := walk("", 1); err != nil && !errors.Is(err, io.EOF) {
			return pos // what was found before the problem still helps
		}
	}
	return pos
}

// skipToValue returns the offset of the first byte of the value that follows
// a key ending at off.
func skipToValue(data []byte, off int) int {
	for off < len(data) && (data[off] == ':' || data[off] == ' ' || data[off] == '\t' || data[off] == '\n' || data[off] == '\r') {
		off++
	}
	return off
}

// offset returns the offset of the deepest of the keys that has one.
func (p positions) offset(keys ...string) (int, bool) {
	for n := len(keys); n > 0; n-- {
		if off, ok := p[strings.Join(keys[:n], "\x00")]; ok {
			return off, true
		}
	}
	return 0, false
}

// lookup returns the line and column of the deepest of the keys that has a
// position, or 0, 0.
func (p positions) lookup(data []byte, keys ...string) (int, int) {
	off, ok := p.offset(keys...)
	if !ok {
		return 0, 0
	}
	return lineCol(data, off)
}
