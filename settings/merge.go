package settings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// mergeJSON writes next, the settings as this program marshals them, in the
// shape of orig, the bytes of the file as it was read. A value that did not
// change keeps its original bytes (formatting, key order, escapes); an object
// that changed keeps its keys in their original order and puts new keys last.
// That is what makes a save of a file MCPHub (or a person) wrote differ from
// the original only where the program changed something.
//
// A key that next no longer has is dropped, unless its original value was
// empty ("", null, 0, [] or {}): the typed side drops those with omitempty,
// which is not a change worth a diff line. (Booleans are pointers on the
// typed side, so a missing one was removed on purpose.)
func mergeJSON(orig, next []byte) ([]byte, error) {
	var o *node
	if len(bytes.TrimSpace(orig)) > 0 {
		// An unreadable original is written in the default style.
		o, _ = parseNode(orig)
	}
	n, err := parseNode(next)
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	w := &jsonWriter{indent: detectIndent(orig)}
	w.value(o, n, 0)
	if len(orig) == 0 || bytes.HasSuffix(orig, []byte("\n")) {
		w.buf.WriteByte('\n')
	}
	return w.buf.Bytes(), nil
}

// orderedObject is a JSON object that remembers its key order and the raw
// bytes of each value.
type orderedObject struct {
	keys []string
	vals map[string]*node
}

// node is one decoded JSON value together with its raw bytes.
type node struct {
	raw   json.RawMessage
	obj   *orderedObject // when the value is an object
	arr   []*node        // when the value is an array
	isArr bool
}

func parseNode(raw []byte) (*node, error) {
	raw = bytes.TrimSpace(raw)
	if !json.Valid(raw) {
		return nil, fmt.Errorf("invalid JSON")
	}
	n := &node{raw: raw}
	switch raw[0] {
	case '{':
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if _, err := dec.Token(); err != nil { // {
			return nil, err
		}
		obj := &orderedObject{vals: map[string]*node{}}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := tok.(string)
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, err
			}
			child, err := parseNode(v)
			if err != nil {
				return nil, err
			}
			if _, dup := obj.vals[key]; !dup {
				obj.keys = append(obj.keys, key)
			}
			obj.vals[key] = child
		}
		n.obj = obj
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		n.isArr = true
		n.arr = make([]*node, 0, len(items))
		for _, it := range items {
			child, err := parseNode(it)
			if err != nil {
				return nil, err
			}
			n.arr = append(n.arr, child)
		}
	}
	return n, nil
}

// sameValue reports whether two JSON values mean the same thing.
func sameValue(a, b *node) bool {
	if bytes.Equal(a.raw, b.raw) {
		return true
	}
	var x, y any
	if err := unmarshalNumber(a.raw, &x); err != nil {
		return false
	}
	if err := unmarshalNumber(b.raw, &y); err != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func unmarshalNumber(raw []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// isEmptyValue reports whether raw is "", null, 0, [] or {}.
func isEmptyValue(n *node) bool {
	switch string(bytes.Join(bytes.Fields(n.raw), nil)) {
	case `""`, "null", "0", "[]", "{}":
		return true
	}
	return false
}

type jsonWriter struct {
	buf    bytes.Buffer
	indent string
}

func (w *jsonWriter) newline(depth int) {
	w.buf.WriteByte('\n')
	for range depth {
		w.buf.WriteString(w.indent)
	}
}

// value writes n, reusing o's bytes where they mean the same thing.
func (w *jsonWriter) value(o, n *node, depth int) {
	if o != nil && sameValue(o, n) {
		w.buf.Write(o.raw)
		return
	}
	switch {
	case n.obj != nil:
		var oobj *orderedObject
		if o != nil {
			oobj = o.obj
		}
		w.object(oobj, n.obj, depth)
	case n.isArr:
		var oarr []*node
		if o != nil && o.isArr && len(o.arr) == len(n.arr) {
			oarr = o.arr // same length: keep unchanged items as they were
		}
		w.array(oarr, n.arr, depth)
	default:
		w.buf.Write(n.raw)
	}
}

func (w *jsonWriter) object(o, n *orderedObject, depth int) {
	var keys []string
	if o != nil {
		for _, k := range o.keys {
			if _, ok := n.vals[k]; ok || isEmptyValue(o.vals[k]) {
				keys = append(keys, k)
			}
		}
	}
	for _, k := range n.keys {
		if o == nil || o.vals[k] == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		w.buf.WriteString("{}")
		return
	}
	w.buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.newline(depth + 1)
		w.buf.Write(encodeString(k))
		w.buf.WriteString(": ")
		var ov *node
		if o != nil {
			ov = o.vals[k]
		}
		nv := n.vals[k]
		if nv == nil { // an empty original value the typed side omitted
			w.buf.Write(ov.raw)
			continue
		}
		w.value(ov, nv, depth+1)
	}
	w.newline(depth)
	w.buf.WriteByte('}')
}

func (w *jsonWriter) array(o, n []*node, depth int) {
	if len(n) == 0 {
		w.buf.WriteString("[]")
		return
	}
	w.buf.WriteByte('[')
	for i, item := range n {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.newline(depth + 1)
		var oi *node
		if o != nil {
			oi = o[i]
		}
		w.value(oi, item, depth+1)
	}
	w.newline(depth)
	w.buf.WriteByte(']')
}

// encodeString encodes s as JavaScript's JSON.stringify does: no HTML escapes.
func encodeString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// detectIndent returns the indentation unit of a formatted JSON document:
// the leading whitespace of its first indented line, or two spaces, which is
// what MCPHub's JSON.stringify(settings, null, 2) writes.
func detectIndent(data []byte) string {
	for line := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed != "" && len(trimmed) < len(line) {
			return line[:len(line)-len(trimmed)]
		}
	}
	return "  "
}
