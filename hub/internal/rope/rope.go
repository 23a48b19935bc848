// Package rope holds a message too large to be worth one contiguous buffer:
// its bytes in blocks, filled in order as they arrive, so that reading it
// never copies what came before (a growing buffer copies it at every
// doubling, and leaves each old buffer as garbage: a 50 MB message read so
// cost the hub three times its size, issue 11). Scan checks that the bytes
// are JSON and finds the members of the top-level object, and of the
// objects in it, without copying them; Slice hands out ranges as views of
// the blocks, to be written out as they are.
package rope

import (
	"bytes"
	"io"
)

// BlockSize is the size of the blocks a rope allocates.
const BlockSize = 256 << 10

// Rope is a sequence of bytes in blocks. The zero value is empty and ready.
type Rope struct {
	blocks [][]byte // every block but the last is full
	n      int
}

// Of makes a rope of b, which it keeps (a message whose length was known
// is read in one piece).
func Of(b []byte) *Rope {
	return &Rope{blocks: [][]byte{b}, n: len(b)}
}

// Len returns the number of bytes in the rope.
func (r *Rope) Len() int { return r.n }

// Write appends p. It never fails.
func (r *Rope) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		last := len(r.blocks) - 1
		if last < 0 || len(r.blocks[last]) == cap(r.blocks[last]) {
			r.blocks = append(r.blocks, make([]byte, 0, BlockSize))
			last++
		}
		b := r.blocks[last]
		k := copy(b[len(b):cap(b)], p)
		r.blocks[last] = b[:len(b)+k]
		p = p[k:]
	}
	r.n += n
	return n, nil
}

// ReadFrom appends what src has until its end, read straight into the
// blocks.
func (r *Rope) ReadFrom(src io.Reader) (int64, error) {
	var total int64
	for {
		last := len(r.blocks) - 1
		if last < 0 || len(r.blocks[last]) == cap(r.blocks[last]) {
			r.blocks = append(r.blocks, make([]byte, 0, BlockSize))
			last++
		}
		b := r.blocks[last]
		n, err := src.Read(b[len(b):cap(b)])
		r.blocks[last] = b[:len(b)+n]
		r.n += n
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// WriteByte appends c.
func (r *Rope) WriteByte(c byte) error {
	_, err := r.Write([]byte{c})
	return err
}

// TrimEnd drops trailing JSON whitespace.
func (r *Rope) TrimEnd() {
	for len(r.blocks) > 0 {
		last := len(r.blocks) - 1
		b := r.blocks[last]
		t := bytes.TrimRight(b, " \t\r\n")
		r.n -= len(b) - len(t)
		if len(t) > 0 {
			r.blocks[last] = t
			return
		}
		r.blocks = r.blocks[:last]
	}
}

// Contains reports whether the rope holds the byte c.
func (r *Rope) Contains(c byte) bool {
	for _, b := range r.blocks {
		if bytes.IndexByte(b, c) >= 0 {
			return true
		}
	}
	return false
}

// Bytes returns the rope's bytes in one new buffer.
func (r *Rope) Bytes() []byte {
	out := make([]byte, 0, r.n)
	for _, b := range r.blocks {
		out = append(out, b...)
	}
	return out
}

// Slice returns bytes [from, to) as views of the rope's blocks, without
// copying.
func (r *Rope) Slice(from, to int) [][]byte {
	var out [][]byte
	off := 0
	for _, b := range r.blocks {
		end := off + len(b)
		if end > from && off < to {
			lo, hi := max(from-off, 0), min(to-off, len(b))
			out = append(out, b[lo:hi])
		}
		if end >= to {
			break
		}
		off = end
	}
	return out
}

// Copy returns bytes [from, to) in one new buffer.
func (r *Rope) Copy(from, to int) []byte {
	out := make([]byte, 0, to-from)
	for _, p := range r.Slice(from, to) {
		out = append(out, p...)
	}
	return out
}

// WriteTo writes the rope's bytes to w.
func (r *Rope) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, b := range r.blocks {
		k, err := w.Write(b)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
