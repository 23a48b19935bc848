package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// This file edits a TOML config file in place (Codex CLI's config.toml):
// mcptray's entry is one table, [mcp_servers.mcptray], written or replaced
// as lines of text, so that every other line, comment and order stays as
// the user wrote it. Each edit is checked by parsing the result: it must
// hold the entry as meant and everything else as it was, or the file is
// left alone.

// tomlKV is one key of a table, in the order written.
type tomlKV struct {
	Key   string
	Value any // string, []string or map[string]string
}

// tomlDoc is a parsed TOML document.
type tomlDoc struct {
	src  []byte
	data map[string]any
}

// parseTOMLDoc parses src.
func parseTOMLDoc(src []byte) (*tomlDoc, error) {
	data := map[string]any{}
	if _, err := toml.Decode(string(src), &data); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("line %d, column %d: %s", pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return nil, err
	}
	return &tomlDoc{src: src, data: data}, nil
}

// check reports what keeps the document from taking an entry in table: a
// key of that name that is not a table.
func (d *tomlDoc) check(table string) error {
	if v, ok := d.data[table]; ok {
		if _, isTable := v.(map[string]any); !isTable {
			return fmt.Errorf("its %s is not a table: %w", table, errNotObject)
		}
	}
	return nil
}

// get returns table.name as JSON, and whether it is there.
func (d *tomlDoc) get(table, name string) (json.RawMessage, bool) {
	t, _ := d.data[table].(map[string]any)
	v, ok := t[name]
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

// set returns the document with the table [table.name] holding kvs.
func (d *tomlDoc) set(table, name string, kvs []tomlKV) ([]byte, error) {
	if err := d.check(table); err != nil {
		return nil, err
	}
	text := encodeTOMLTable([]string{table, name}, kvs)
	start, end, found := d.section(table, name)
	var out []byte
	switch {
	case found:
		out = splice(d.src, start, end, text)
	case d.has(table, name):
		return nil, fmt.Errorf("its %s.%s is written inline or with dotted keys, which mcptray does not edit: change or remove it by hand", table, name)
	default:
		out = bytes.Clone(d.src)
		if len(bytes.TrimSpace(out)) > 0 {
			if !bytes.HasSuffix(out, []byte("\n")) {
				out = append(out, '\n')
			}
			out = append(out, '\n')
		} else {
			out = nil
		}
		out = append(out, text...)
	}
	want, _ := json.Marshal(tomlValues(kvs))
	if err := d.verify(out, table, name, want); err != nil {
		return nil, err
	}
	return out, nil
}

// remove returns the document without [table.name], and whether it had it.
func (d *tomlDoc) remove(table, name string) ([]byte, bool, error) {
	start, end, found := d.section(table, name)
	if !found {
		if d.has(table, name) {
			return nil, false, fmt.Errorf("its %s.%s is written inline or with dotted keys, which mcptray does not edit: remove it by hand", table, name)
		}
		return d.src, false, nil
	}
	// The blank line before the table goes too, when the table was the
	// file's last: set added it so.
	if end >= len(d.src) && start >= 2 && d.src[start-1] == '\n' && d.src[start-2] == '\n' {
		start--
	}
	out := splice(d.src, start, end, nil)
	if err := d.verify(out, table, name, nil); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// has reports whether the data has table.name.
func (d *tomlDoc) has(table, name string) bool {
	t, _ := d.data[table].(map[string]any)
	_, ok := t[name]
	return ok
}

// verify parses out and checks that it holds table.name as want (absent
// for nil) and everything else as the document did.
func (d *tomlDoc) verify(out []byte, table, name string, want json.RawMessage) error {
	after, err := parseTOMLDoc(out)
	if err != nil {
		return fmt.Errorf("the edit would break the file (%v); it is left as it was: edit it by hand", err)
	}
	got, ok := after.get(table, name)
	if want == nil && ok || want != nil && (!ok || !sameJSON(got, want)) {
		return errors.New("the edit would not come out as meant; the file is left as it was: edit it by hand")
	}
	strip := func(m map[string]any) map[string]any {
		c := maps.Clone(m)
		if t, ok := c[table].(map[string]any); ok {
			t = maps.Clone(t)
			delete(t, name)
			c[table] = t
			if len(t) == 0 {
				delete(c, table)
			}
		}
		return c
	}
	if !jsonEqual(strip(d.data), strip(after.data)) {
		return errors.New("the edit would change more than mcptray's entry; the file is left as it was: edit it by hand")
	}
	return nil
}

// tomlHeader matches a table header line: [a.b] or [[a.b]], with a comment
// after it or not.
var tomlHeader = regexp.MustCompile(`^\s*\[\[?\s*([^\[\]]*?)\s*\]\]?\s*(#.*)?$`)

// section finds the lines of the table [table.name] and its subtables:
// from its header to its last line that is neither blank nor a comment
// (what follows belongs to the next table), newline included.
func (d *tomlDoc) section(table, name string) (start, end int, found bool) {
	lines := splitLinesKeep(d.src)
	off := 0
	in, lastContent := false, 0
	multi := "" // the delimiter of a multi-line string being read
	for _, line := range lines {
		lineStart := off
		off += len(line)
		text := strings.TrimRight(line, "\r\n")
		if multi != "" {
			if strings.Count(text, multi)%2 == 1 {
				multi = ""
			}
			if in {
				lastContent = off
			}
			continue
		}
		if m := tomlHeader.FindStringSubmatch(text); m != nil && !strings.Contains(strings.SplitN(text, "#", 2)[0], "=") {
			parts := tomlKeyParts(m[1])
			mine := len(parts) >= 2 && parts[0] == table && parts[1] == name
			switch {
			case mine && !in && !found:
				in, found, start, lastContent = true, true, lineStart, off
				continue
			case in && !mine:
				return start, lastContent, true
			}
		}
		for _, q := range []string{`"""`, `'''`} {
			if strings.Count(text, q)%2 == 1 {
				multi = q
			}
		}
		if in {
			t := strings.TrimSpace(text)
			if t != "" && !strings.HasPrefix(t, "#") {
				lastContent = off
			}
		}
	}
	if in {
		return start, lastContent, true
	}
	return 0, 0, false
}

// splitLinesKeep splits src into lines, each with its newline.
func splitLinesKeep(src []byte) []string {
	var out []string
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			out = append(out, string(src))
			break
		}
		out = append(out, string(src[:i+1]))
		src = src[i+1:]
	}
	return out
}

// tomlKeyParts splits a dotted key into its parts, unquoted.
func tomlKeyParts(key string) []string {
	var parts []string
	for len(key) > 0 {
		key = strings.TrimLeft(key, " \t")
		var part string
		switch {
		case strings.HasPrefix(key, `"`) || strings.HasPrefix(key, `'`):
			q := key[:1]
			end := strings.Index(key[1:], q)
			if end < 0 {
				return append(parts, key)
			}
			part, key = key[1:1+end], key[2+end:]
			if q == `"` {
				var s string
				if json.Unmarshal([]byte(`"`+part+`"`), &s) == nil {
					part = s
				}
			}
		default:
			i := strings.IndexByte(key, '.')
			if i < 0 {
				i = len(key)
			}
			part, key = strings.TrimSpace(key[:i]), key[i:]
		}
		parts = append(parts, part)
		key = strings.TrimLeft(key, " \t")
		key = strings.TrimPrefix(key, ".")
	}
	return parts
}

// encodeTOMLTable writes a table: its header and one line per key.
func encodeTOMLTable(path []string, kvs []tomlKV) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, p := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tomlKey(p))
	}
	b.WriteString("]\n")
	for _, kv := range kvs {
		b.WriteString(tomlKey(kv.Key))
		b.WriteString(" = ")
		b.WriteString(tomlValue(kv.Value))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func tomlKey(k string) string {
	if bareKey.MatchString(k) {
		return k
	}
	return tomlString(k)
}

// tomlString is a TOML basic string. JSON's string escapes are TOML's
// (\" \\ \b \f \n \r \t \uXXXX), and JSON escapes every control character.
func tomlString(s string) string { return string(encodeJSONString(s)) }

func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return tomlString(v)
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = tomlString(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]string:
		keys := slices.Sorted(maps.Keys(v))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = tomlKey(k) + " = " + tomlString(v[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	panic(fmt.Sprintf("tomlValue: %T", v))
}

// tomlValues is kvs as a map, for comparing with what a parser reads.
func tomlValues(kvs []tomlKV) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}
