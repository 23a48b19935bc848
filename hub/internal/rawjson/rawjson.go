// Package rawjson reads and edits JSON objects without decoding them: it
// finds the top-level members of an object and splices new values in, so
// that the hub can rename a tool or rewrite _meta and pass every other byte
// of a message through as its sender wrote it.
//
// It trusts its input to be valid JSON (the hub checks a message once, when
// it arrives); on anything else its functions report false or return the
// input unchanged.
package rawjson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Member is one member of an object: its key as written (quotes and escapes
// included) and its value's bytes, with the offsets of both in the object.
type Member struct {
	Key        []byte // the key's JSON string, quotes included
	Value      []byte
	Start, End int // of the whole member, key to value, in the object
}

// Name returns the member's key, unescaped.
func (m Member) Name() string {
	if bytes.IndexByte(m.Key, '\\') < 0 {
		return string(m.Key[1 : len(m.Key)-1])
	}
	var s string
	_ = json.Unmarshal(m.Key, &s)
	return s
}

// Is reports whether the member's key is name, without allocating for keys
// that have no escapes.
func (m Member) Is(name string) bool {
	if bytes.IndexByte(m.Key, '\\') < 0 {
		return len(m.Key) == len(name)+2 && string(m.Key[1:len(m.Key)-1]) == name
	}
	return m.Name() == name
}

// Each calls fn for each top-level member of obj, in order, until fn
// returns false. It reports false when obj is not an object.
func Each(obj []byte, fn func(Member) bool) bool {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) {
			return false
		}
		if obj[i] == '}' {
			return true
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		if i >= len(obj) || obj[i] != '"' {
			return false
		}
		start := i
		kend := skipString(obj, i)
		if kend < 0 {
			return false
		}
		j := skipSpace(obj, kend)
		if j >= len(obj) || obj[j] != ':' {
			return false
		}
		vstart := skipSpace(obj, j+1)
		vend := skipValue(obj, vstart)
		if vend < 0 {
			return false
		}
		if !fn(Member{Key: obj[start:kend], Value: obj[vstart:vend], Start: start, End: vend}) {
			return true
		}
		i = vend
	}
}

// Get returns the value of obj's member key, and whether it has one.
func Get(obj []byte, key string) ([]byte, bool) {
	var out []byte
	found := false
	Each(obj, func(m Member) bool {
		if m.Is(key) {
			out, found = m.Value, true
			return false
		}
		return true
	})
	return out, found
}

// String returns the value of obj's member key when it is a string.
func String(obj []byte, key string) (string, bool) {
	v, ok := Get(obj, key)
	if !ok || len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// Edit is a change to one member of an object: Value nil deletes it,
// otherwise it is set (replaced where it is, or added at the end).
type Edit struct {
	Key   string
	Value []byte
}

// Apply returns obj with the edits made. Members not edited keep their bytes
// and their order. obj "null", empty or absent counts as {}.
func Apply(obj []byte, edits ...Edit) []byte {
	trimmed := bytes.TrimSpace(obj)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		trimmed = []byte("{}")
	}
	done := make([]bool, len(edits))
	out := make([]byte, 0, len(trimmed)+64)
	out = append(out, '{')
	first := true
	ok := Each(trimmed, func(m Member) bool {
		for i, e := range edits {
			if !done[i] && m.Is(e.Key) {
				done[i] = true
				if e.Value == nil {
					return true
				}
				out = appendMember(out, &first, m.Key, e.Value)
				return true
			}
		}
		out = appendMember(out, &first, m.Key, m.Value)
		return true
	})
	if !ok {
		return obj
	}
	for i, e := range edits {
		if !done[i] && e.Value != nil {
			out = appendMember(out, &first, Quote(e.Key), e.Value)
		}
	}
	return append(out, '}')
}

func appendMember(out []byte, first *bool, key, value []byte) []byte {
	if !*first {
		out = append(out, ',')
	}
	*first = false
	out = append(out, key...)
	out = append(out, ':')
	return append(out, value...)
}

// Quote returns s as a JSON string, escaped as encoding/json escapes it
// (without the HTML escapes), never with Go's own escapes.
func Quote(s string) []byte {
	return AppendQuote(make([]byte, 0, len(s)+2), s)
}

// AppendQuote appends s as a JSON string to b.
func AppendQuote(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript; escape
		// them as encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hex = "0123456789abcdef"

// Int returns n as a JSON number.
func Int(n int64) []byte { return strconv.AppendInt(nil, n, 10) }

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset just past the string starting at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the offset just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j)
				if j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}
