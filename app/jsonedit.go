package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file edits AI clients' JSON config files in place: it parses a
// document into byte ranges (of strict JSON, or of JSONC, JSON with
// comments and trailing commas, for the clients that read it), and
// rewrites only the member it changes. Everything else, comments, order,
// indentation and escapes, stays as the user wrote it.

// jsonSyntaxError is a mistake in a JSON document, with where it is.
type jsonSyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// jsonValue is a value of a document: its byte range and, for an object,
// its members.
type jsonValue struct {
	start, end int  // src[start:end] is the value
	kind       byte // '{', '[', '"' or 0 for a number or literal
	members    []jsonMember
}

// jsonMember is a member of an object.
type jsonMember struct {
	key      string
	keyStart int
	value    *jsonValue
	comma    int // the offset of the comma after the value, or -1
}

// member returns the member of an object named key (the last, when the
// key is given twice: that is the one JSON parsers keep).
func (v *jsonValue) member(key string) *jsonMember {
	for i := len(v.members) - 1; i >= 0; i-- {
		if v.members[i].key == key {
			return &v.members[i]
		}
	}
	return nil
}

// jsonDoc is a parsed document.
type jsonDoc struct {
	src   []byte
	jsonc bool
	root  *jsonValue // nil for an empty document
}

// parseJSONDoc parses src, strict JSON or (jsonc) JSON with comments and
// trailing commas. An empty document (or only whitespace and comments) has
// no root.
func parseJSONDoc(src []byte, jsonc bool) (*jsonDoc, error) {
	p := &jsonParser{src: src, jsonc: jsonc}
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		p.pos = 3 // a byte order mark, as some editors on Windows write
	}
	if err := p.skip(); err != nil {
		return nil, err
	}
	d := &jsonDoc{src: src, jsonc: jsonc}
	if p.pos == len(src) {
		return d, nil
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.pos != len(src) {
		return nil, p.errorf("unexpected %s after the document", p.what())
	}
	d.root = v
	return d, nil
}

// jsonParser reads a document.
type jsonParser struct {
	src   []byte
	pos   int
	jsonc bool
}

// maxDepth bounds how deep a document may nest.
const maxDepth = 512

func (p *jsonParser) errorf(format string, a ...any) error {
	line, col := 1, 1
	for _, c := range string(p.src[:min(p.pos, len(p.src))]) {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &jsonSyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, a...)}
}

// what names the byte at pos for an error.
func (p *jsonParser) what() string {
	if p.pos >= len(p.src) {
		return "end of file"
	}
	r, _ := utf8.DecodeRune(p.src[p.pos:])
	return fmt.Sprintf("%q", r)
}

// skip skips whitespace and, in JSONC, comments.
func (p *jsonParser) skip() error {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.pos++
		case c == '/' && p.pos+1 < len(p.src) && (p.src[p.pos+1] == '/' || p.src[p.pos+1] == '*'):
			if !p.jsonc {
				return p.errorf("a comment, which this file's JSON does not allow")
			}
			if p.src[p.pos+1] == '/' {
				end := bytes.IndexByte(p.src[p.pos:], '\n')
				if end < 0 {
					p.pos = len(p.src)
				} else {
					p.pos += end + 1
				}
				continue
			}
			end := bytes.Index(p.src[p.pos+2:], []byte("*/"))
			if end < 0 {
				return p.errorf("a comment that does not end")
			}
			p.pos += 2 + end + 2
		default:
			return nil
		}
	}
	return nil
}

func (p *jsonParser) value(depth int) (*jsonValue, error) {
	if depth > maxDepth {
		return nil, p.errorf("values nested over %d deep", maxDepth)
	}
	if p.pos >= len(p.src) {
		return nil, p.errorf("the file ends where a value should be")
	}
	switch p.src[p.pos] {
	case '{':
		return p.object(depth)
	case '[':
		return p.array(depth)
	case '"':
		start := p.pos
		if _, err := p.str(); err != nil {
			return nil, err
		}
		return &jsonValue{start: start, end: p.pos, kind: '"'}, nil
	}
	start := p.pos
	for p.pos < len(p.src) && strings.IndexByte("+-0123456789.eEtruefalsn", p.src[p.pos]) >= 0 {
		p.pos++
	}
	if p.pos == start || !json.Valid(p.src[start:p.pos]) {
		p.pos = start
		return nil, p.errorf("unexpected %s where a value should be", p.what())
	}
	return &jsonValue{start: start, end: p.pos}, nil
}

// str reads a string and returns its value.
func (p *jsonParser) str() (string, error) {
	start := p.pos
	i := p.pos + 1
	for ; i < len(p.src); i++ {
		if p.src[i] == '\\' {
			i++
			continue
		}
		if p.src[i] == '"' {
			break
		}
	}
	if i >= len(p.src) {
		return "", p.errorf("a string that does not end")
	}
	var s string
	if err := json.Unmarshal(p.src[start:i+1], &s); err != nil {
		return "", p.errorf("a string that is not valid JSON")
	}
	p.pos = i + 1
	return s, nil
}

func (p *jsonParser) object(depth int) (*jsonValue, error) {
	v := &jsonValue{start: p.pos, kind: '{'}
	p.pos++
	if err := p.skip(); err != nil {
		return nil, err
	}
	for {
		if p.pos < len(p.src) && p.src[p.pos] == '}' {
			if len(v.members) > 0 && v.members[len(v.members)-1].comma >= 0 && !p.jsonc {
				return nil, p.errorf("a comma before }, which this file's JSON does not allow")
			}
			p.pos++
			v.end = p.pos
			return v, nil
		}
		if len(v.members) > 0 && v.members[len(v.members)-1].comma < 0 {
			return nil, p.errorf("unexpected %s where , or } should be", p.what())
		}
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return nil, p.errorf("unexpected %s where a member's name should be", p.what())
		}
		m := jsonMember{keyStart: p.pos, comma: -1}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		m.key = key
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.errorf("unexpected %s where : should be", p.what())
		}
		p.pos++
		if err := p.skip(); err != nil {
			return nil, err
		}
		if m.value, err = p.value(depth + 1); err != nil {
			return nil, err
		}
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			m.comma = p.pos
			p.pos++
			if err := p.skip(); err != nil {
				return nil, err
			}
		}
		v.members = append(v.members, m)
	}
}

func (p *jsonParser) array(depth int) (*jsonValue, error) {
	v := &jsonValue{start: p.pos, kind: '['}
	p.pos++
	if err := p.skip(); err != nil {
		return nil, err
	}
	comma, items := false, 0
	for {
		if p.pos < len(p.src) && p.src[p.pos] == ']' {
			if comma && !p.jsonc {
				return nil, p.errorf("a comma before ], which this file's JSON does not allow")
			}
			p.pos++
			v.end = p.pos
			return v, nil
		}
		if items > 0 && !comma {
			return nil, p.errorf("unexpected %s where , or ] should be", p.what())
		}
		if _, err := p.value(depth + 1); err != nil {
			return nil, err
		}
		items++
		if err := p.skip(); err != nil {
			return nil, err
		}
		comma = false
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			comma = true
			p.pos++
			if err := p.skip(); err != nil {
				return nil, err
			}
		}
	}
}

// errNotObject says that a value that must be an object is not.
var errNotObject = errors.New("not an object")

// get returns the value at root[container][name] as standard JSON (comments
// and trailing commas dropped), and whether it is there.
func (d *jsonDoc) get(container, name string) (json.RawMessage, bool) {
	if d.root == nil || d.root.kind != '{' {
		return nil, false
	}
	c := d.root.member(container)
	if c == nil || c.value.kind != '{' {
		return nil, false
	}
	m := c.value.member(name)
	if m == nil {
		return nil, false
	}
	return standardJSON(d.src[m.value.start:m.value.end]), true
}

// check reports what keeps the document from taking an entry at
// root[container]: a root that is not an object, or a container that is
// not one.
func (d *jsonDoc) check(container string) error {
	if d.root == nil {
		return nil
	}
	if d.root.kind != '{' {
		return fmt.Errorf("the file is not a JSON object: %w", errNotObject)
	}
	if c := d.root.member(container); c != nil && c.value.kind != '{' {
		return fmt.Errorf("its %q is not an object: %w", container, errNotObject)
	}
	return nil
}

// set returns the document with root[container][name] set to value, the
// container made when missing. The member is written in the style of its
// neighbours: on lines of its own, indented as they are, or on one line.
func (d *jsonDoc) set(container, name string, value any) ([]byte, error) {
	if err := d.check(container); err != nil {
		return nil, err
	}
	unit := indentUnit(d.src)
	if d.root == nil {
		body, err := indentedJSON(map[string]any{container: map[string]any{name: value}}, "", unit)
		if err != nil {
			return nil, err
		}
		return append(body, '\n'), nil
	}
	c := d.root.member(container)
	if c == nil {
		return d.insert(d.root, container, map[string]any{name: value}, unit)
	}
	if m := c.value.member(name); m != nil {
		ind, multi := d.memberIndent(c.value, unit)
		text, err := d.format(value, ind, unit, multi)
		if err != nil {
			return nil, err
		}
		return splice(d.src, m.value.start, m.value.end, text), nil
	}
	return d.insert(c.value, name, value, unit)
}

// insert adds a member to an object, after its last member.
func (d *jsonDoc) insert(obj *jsonValue, key string, value any, unit string) ([]byte, error) {
	ind, multi := d.memberIndent(obj, unit)
	text, err := d.format(value, ind, unit, multi)
	if err != nil {
		return nil, err
	}
	member := append(append(encodeJSONString(key), ": "...), text...)
	closing := obj.end - 1 // the '}'
	if len(obj.members) == 0 {
		inner := d.src[obj.start+1 : closing]
		if len(bytes.TrimSpace(inner)) == 0 {
			if !multi {
				return splice(d.src, obj.start+1, closing, member), nil
			}
			out := append([]byte("\n"+ind), member...)
			out = append(out, "\n"+lineIndent(d.src, obj.start)...)
			return splice(d.src, obj.start+1, closing, out), nil
		}
		// Only comments inside: the member goes after them.
		at := lastContent(d.src, closing)
		return splice(d.src, at, at, append([]byte("\n"+ind), member...)), nil
	}
	last := obj.members[len(obj.members)-1]
	var out []byte
	if !multi {
		// On the object's line: right after the last member (a comment
		// may follow it), the comma added below.
		at := last.value.end
		if last.comma >= 0 {
			at = last.comma + 1
		}
		out = splice(d.src, at, at, append([]byte(" "), member...))
	} else {
		at := lastContent(d.src, closing)
		add := append([]byte("\n"+ind), member...)
		if last.comma >= 0 {
			add = append(add, ',') // the file ends its members with commas: so does this one
		}
		out = splice(d.src, at, at, add)
	}
	if last.comma < 0 {
		out = splice(out, last.value.end, last.value.end, []byte(","))
	}
	return out, nil
}

// remove returns the document without root[container][name], and whether
// it had one. The member goes with its comma and its line; the container
// stays.
func (d *jsonDoc) remove(container, name string) ([]byte, bool) {
	if d.root == nil || d.root.kind != '{' {
		return d.src, false
	}
	c := d.root.member(container)
	if c == nil || c.value.kind != '{' {
		return d.src, false
	}
	obj := c.value
	i := -1
	for j := len(obj.members) - 1; j >= 0; j-- {
		if obj.members[j].key == name {
			i = j
			break
		}
	}
	if i < 0 {
		return d.src, false
	}
	m := obj.members[i]
	start := m.keyStart
	if ls := lineStart(d.src, m.keyStart); len(bytes.TrimSpace(d.src[ls:m.keyStart])) == 0 && ls > obj.start {
		start = ls - 1 // the newline before the member's line
	}
	end := m.value.end
	if m.comma >= 0 {
		end = m.comma + 1
		if start == m.keyStart { // one line: the spaces after the comma go too
			for end < len(d.src) && (d.src[end] == ' ' || d.src[end] == '\t') {
				end++
			}
		}
	}
	var out []byte
	switch {
	case m.comma < 0 && i > 0 && obj.members[i-1].comma >= 0 && start == m.keyStart:
		// The last member, on the object's line: from the comma before it.
		out = splice(d.src, obj.members[i-1].comma, end, nil)
	case m.comma < 0 && i > 0 && obj.members[i-1].comma >= 0:
		// The last member, on a line of its own: its line, and the comma
		// of the one before it.
		pc := obj.members[i-1].comma
		out = splice(splice(d.src, start, end, nil), pc, pc+1, nil)
	default:
		out = splice(d.src, start, end, nil)
	}
	if len(obj.members) == 1 {
		// An object left with only whitespace inside is written {}.
		closing := bytes.IndexByte(out[obj.start:], '}')
		if closing > 0 && len(bytes.TrimSpace(out[obj.start+1:obj.start+closing])) == 0 {
			out = splice(out, obj.start+1, obj.start+closing, nil)
		}
	}
	return out, true
}

// memberIndent is how a member of obj is indented, and whether members go
// on lines of their own (multi) or on the object's line.
func (d *jsonDoc) memberIndent(obj *jsonValue, unit string) (string, bool) {
	if len(obj.members) > 0 {
		k := obj.members[0].keyStart
		ls := lineStart(d.src, k)
		if len(bytes.TrimSpace(d.src[ls:k])) == 0 {
			return string(d.src[ls:k]), true
		}
		return "", false
	}
	return lineIndent(d.src, obj.start) + unit, true
}

// format writes value for a member indented ind: on several lines, or on
// one.
func (d *jsonDoc) format(value any, ind, unit string, multi bool) ([]byte, error) {
	if !multi {
		return compactJSON(value)
	}
	return indentedJSON(value, ind, unit)
}

// indentedJSON is value as JSON over several lines, each after the first
// prefixed with prefix, without HTML escapes.
func indentedJSON(value any, prefix, unit string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, unit)
	if err := enc.Encode(value); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func compactJSON(value any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(value); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func encodeJSONString(s string) []byte {
	b, _ := compactJSON(s)
	return b
}

// splice replaces src[start:end] with text, in a new slice.
func splice(src []byte, start, end int, text []byte) []byte {
	out := make([]byte, 0, len(src)-(end-start)+len(text))
	out = append(out, src[:start]...)
	out = append(out, text...)
	return append(out, src[end:]...)
}

// lineStart is the offset of the start of the line that has offset i.
func lineStart(src []byte, i int) int {
	return bytes.LastIndexByte(src[:i], '\n') + 1
}

// lineIndent is the leading whitespace of the line that has offset i.
func lineIndent(src []byte, i int) string {
	ls := lineStart(src, i)
	j := ls
	for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
		j++
	}
	return string(src[ls:j])
}

// lastContent is the offset just after the last byte before before that is
// not whitespace.
func lastContent(src []byte, before int) int {
	i := before
	for i > 0 && strings.IndexByte(" \t\r\n", src[i-1]) >= 0 {
		i--
	}
	return i
}

// indentUnit is a document's indentation step: the leading whitespace of
// its first indented line, or two spaces.
func indentUnit(src []byte) string {
	for line := range strings.SplitSeq(string(src), "\n") {
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed != "" && len(trimmed) < len(line) {
			return line[:len(line)-len(trimmed)]
		}
	}
	return "  "
}

// standardJSON is a JSONC value as standard JSON: its comments and
// trailing commas dropped. The value must have parsed.
func standardJSON(v []byte) json.RawMessage {
	var out []byte
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			j := i + 1
			for ; j < len(v); j++ {
				if v[j] == '\\' {
					j++
					continue
				}
				if v[j] == '"' {
					break
				}
			}
			out = append(out, v[i:min(j+1, len(v))]...)
			i = j
		case c == '/' && i+1 < len(v) && v[i+1] == '/':
			for i < len(v) && v[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(v) && v[i+1] == '*':
			end := bytes.Index(v[i+2:], []byte("*/"))
			if end < 0 {
				return out
			}
			i += 2 + end + 1
		case c == ',':
			// A comma followed only by whitespace and comments up to a
			// closing bracket is a trailing one.
			rest := standardJSON(v[i+1:])
			if t := bytes.TrimLeft(rest, " \t\r\n"); len(t) > 0 && (t[0] == '}' || t[0] == ']') {
				return append(out, rest...)
			}
			return append(append(out, ','), rest...)
		default:
			out = append(out, c)
		}
	}
	return out
}

// sameJSON reports whether two JSON values mean the same.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return jsonEqual(x, y)
}

func jsonEqual(x, y any) bool {
	xb, err1 := json.Marshal(x)
	yb, err2 := json.Marshal(y)
	return err1 == nil && err2 == nil && bytes.Equal(xb, yb)
}
