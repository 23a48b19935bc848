package rope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// split writes b into a rope in pieces of random sizes, so that blocks
// and writes cut it anywhere.
func split(b []byte, seed uint64) *Rope {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r := &Rope{}
	most := 2 * BlockSize
	if seed%2 == 0 {
		most = 7 // cut small inputs everywhere
	}
	for len(b) > 0 {
		n := min(len(b), 1+rng.IntN(most))
		r.Write(b[:n])
		b = b[n:]
	}
	return r
}

func TestRopeSlices(t *testing.T) {
	var want []byte
	for i := range 3*BlockSize + 123 {
		want = append(want, byte('a'+i%26))
	}
	r := split(want, 1)
	if r.Len() != len(want) || !bytes.Equal(r.Bytes(), want) {
		t.Fatalf("rope of %d bytes holds %d", len(want), r.Len())
	}
	for _, c := range [][2]int{{0, 0}, {0, 1}, {5, BlockSize + 7}, {BlockSize - 1, BlockSize + 1}, {BlockSize, 2 * BlockSize}, {0, len(want)}, {len(want) - 3, len(want)}} {
		got := bytes.Join(r.Slice(c[0], c[1]), nil)
		if !bytes.Equal(got, want[c[0]:c[1]]) || !bytes.Equal(r.Copy(c[0], c[1]), want[c[0]:c[1]]) {
			t.Errorf("slice %v: %d bytes, want %d", c, len(got), c[1]-c[0])
		}
	}
	var w bytes.Buffer
	if n, err := r.WriteTo(&w); err != nil || n != int64(len(want)) || !bytes.Equal(w.Bytes(), want) {
		t.Errorf("WriteTo: %d %v", n, err)
	}
	var rf Rope
	rf.Write(want[:10])
	if n, err := rf.ReadFrom(bytes.NewReader(want[10:])); err != nil || n != int64(len(want)-10) || !bytes.Equal(rf.Bytes(), want) {
		t.Errorf("ReadFrom: %d %v", n, err)
	}
	sp := split([]byte("{}  \r\n\t "), 2)
	sp.TrimEnd()
	if string(sp.Bytes()) != "{}" || sp.Len() != 2 {
		t.Errorf("TrimEnd: %q", sp.Bytes())
	}
}

// TestScanAgreesWithEncodingJSON: for every input the scanner says what
// json.Valid says, however the bytes are cut.
func TestScanAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range scanCorpus {
		for seed := range uint64(3) {
			_, err := Scan(split([]byte(in), seed))
			if (err == nil) != json.Valid([]byte(in)) {
				t.Errorf("%q: Scan %v, json.Valid %v", in, err, json.Valid([]byte(in)))
			}
		}
	}
}

var scanCorpus = []string{
	`{}`, `[]`, ` {"a":1} `, `{"a":[1,2,{"b":null}],"c":"d\"e\\u00e9\n"}`, `"x"`, `0`, `-0.5e+10`, `1E3`, `true`, `false`, `null`,
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{1:2}`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`,
	`tru`, `nul`, `truex`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", `"unterminated`, `{"a":1}{}`, `[1] 2`, `{"a":1} x`,
	"[\"\xff\"]", `{"a":-}`, `[-01]`, `[1.5e3,2E-2,0.0]`, `{"\u0041":"\\\/"}`, `[[[[[]]]]]`, `{"a":{"b":{"c":[]}}}`,
}

func FuzzScan(f *testing.F) {
	for _, s := range scanCorpus {
		f.Add([]byte(s), uint64(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		out, err := Scan(split(b, seed))
		if (err == nil) != json.Valid(b) {
			t.Fatalf("%q: Scan %v, json.Valid %v", b, err, json.Valid(b))
		}
		if err == nil {
			checkOutline(t, b, out)
		}
	})
}

// TestOutline: the members found are rawjson's, key and value, at the top
// and one level in.
func TestOutline(t *testing.T) {
	big := strings.Repeat("x", 3*BlockSize)
	in := `  {"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` + big + `"}],"isError":false,"n":-1.5e3,"o":{"p":[1,{"q":2}]}},"x":"y"}` + "\n"
	for seed := range uint64(4) {
		out, err := Scan(split([]byte(in), seed))
		if err != nil {
			t.Fatal(err)
		}
		checkOutline(t, []byte(in), out)
		if len(out.Members) != 4 || len(out.Inner[2]) != 4 {
			t.Errorf("%d members, %d in result; want 4 and 4", len(out.Members), len(out.Inner[2]))
		}
	}
}

// checkOutline compares an outline with what rawjson finds in b.
func checkOutline(t *testing.T, b []byte, out *Outline) {
	t.Helper()
	v := bytes.TrimSpace(b)
	if string(b[out.From:out.To]) != string(v) || out.Kind != v[0] {
		t.Fatalf("top-level value at [%d,%d) kind %q, want %q", out.From, out.To, out.Kind, v)
	}
	var want []rawjson.Member
	rawjson.Each(v, func(m rawjson.Member) bool { want = append(want, m); return true })
	if len(want) != len(out.Members) {
		t.Fatalf("%q: %d members, want %d", b, len(out.Members), len(want))
	}
	for i, m := range out.Members {
		if got := string(b[m.KeyFrom:m.KeyTo]) + "=" + string(b[m.From:m.To]); got != string(want[i].Key)+"="+string(want[i].Value) {
			t.Fatalf("member %d: %s, want %s=%s", i, got, want[i].Key, want[i].Value)
		}
		var inner []rawjson.Member
		if rawjson.Each(want[i].Value, func(m rawjson.Member) bool { inner = append(inner, m); return true }) {
			if len(inner) != len(out.Inner[i]) {
				t.Fatalf("member %d: %d inner members, want %d", i, len(out.Inner[i]), len(inner))
			}
			for j, im := range out.Inner[i] {
				got := string(b[im.KeyFrom:im.KeyTo]) + "=" + string(b[im.From:im.To])
				if got != string(inner[j].Key)+"="+string(inner[j].Value) {
					t.Fatalf("member %d.%d: %s, want %s=%s", i, j, got, inner[j].Key, inner[j].Value)
				}
			}
		} else if len(out.Inner[i]) != 0 {
			t.Fatalf("member %d is no object but has inner members", i)
		}
	}
}

func BenchmarkScan(b *testing.B) {
	msg := []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"%s"}]}}`, strings.Repeat("abcdefgh", 1<<20)))
	r := split(msg, 1)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Scan(r); err != nil {
			b.Fatal(err)
		}
	}
}
