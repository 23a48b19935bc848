package rawjson

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEachAndGet(t *testing.T) {
	obj := []byte(` { "name" : "a\"b", "args": {"x": [1, {"y": "}"}]}, "n": 12.5e3, "t": true, "z": null } `)
	var keys []string
	if !Each(obj, func(m Member) bool { keys = append(keys, m.Name()); return true }) {
		t.Fatal("not an object")
	}
	if want := "name args n t z"; strings.Join(keys, " ") != want {
		t.Fatalf("keys %v, want %s", keys, want)
	}
	if v, _ := Get(obj, "args"); string(v) != `{"x": [1, {"y": "}"}]}` {
		t.Fatalf("args = %s", v)
	}
	if s, ok := String(obj, "name"); !ok || s != `a"b` {
		t.Fatalf("name = %q %v", s, ok)
	}
	if v, _ := Get(obj, "n"); string(v) != "12.5e3" {
		t.Fatalf("n = %s", v)
	}
	if _, ok := Get(obj, "missing"); ok {
		t.Fatal("found a missing key")
	}
	if Each([]byte(`[1]`), func(Member) bool { return true }) {
		t.Fatal("an array is not an object")
	}
}

func TestApplyKeepsTheRest(t *testing.T) {
	obj := []byte(`{"name":"x-echo","arguments":{"text":"hi"},"_meta":{"progressToken":1},"future":[1]}`)
	got := Apply(obj, Edit{Key: "name", Value: Quote("echo")}, Edit{Key: "_meta", Value: nil}, Edit{Key: "added", Value: []byte(`true`)})
	want := `{"name":"echo","arguments":{"text":"hi"},"future":[1],"added":true}`
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if got := Apply(nil, Edit{Key: "a", Value: []byte("1")}); string(got) != `{"a":1}` {
		t.Fatalf("from nothing: %s", got)
	}
	if got := Apply([]byte("null"), Edit{Key: "a", Value: nil}); string(got) != `{}` {
		t.Fatalf("from null: %s", got)
	}
}

// TestQuoteIsJSON: every string quotes to JSON that decodes back to it,
// control characters and invalid UTF-8 included (strconv.Quote writes Go
// escapes such as \a and \x7f, which are not JSON).
func TestQuoteIsJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "a\"b\\c", "bell\a del\x7f nul\x00", "tab\tnl\n", "é世界", "bad\xffutf8", "line\u2028sep"} {
		q := Quote(s)
		var back string
		if err := json.Unmarshal(q, &back); err != nil {
			t.Errorf("Quote(%q) = %s: not JSON: %v", s, q, err)
			continue
		}
		std, _ := json.Marshal(s)
		if back != mustUnmarshal(std) {
			t.Errorf("Quote(%q) decodes to %q, encoding/json's to %q", s, back, mustUnmarshal(std))
		}
	}
}

func mustUnmarshal(b []byte) string {
	var s string
	json.Unmarshal(b, &s)
	return s
}

func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"c":[1,2,"]"]}}`), "b", []byte(`"x"`))
	f.Add([]byte(`{}`), "k", []byte(`null`))
	f.Fuzz(func(t *testing.T, obj []byte, key string, val []byte) {
		if !json.Valid(obj) || !json.Valid(val) {
			return
		}
		var probe map[string]json.RawMessage
		if json.Unmarshal(obj, &probe) != nil {
			return
		}
		out := Apply(obj, Edit{Key: key, Value: val})
		if !json.Valid(out) {
			t.Fatalf("Apply(%s, %q, %s) = %s: not JSON", obj, key, val, out)
		}
	})
}
