// Package payload makes the large answers of the test servers: text in a
// pattern that a dropped, repeated or shifted block cannot pass for.
package payload

import (
	"strconv"
	"strings"
)

// Text is n bytes: runs of 1,000 'x's, each after its own offset in
// decimal and a colon.
func Text(n int) string {
	var b strings.Builder
	b.Grow(n + 1024)
	for b.Len() < n {
		b.WriteString(strconv.Itoa(b.Len()))
		b.WriteByte(':')
		b.WriteString(strings.Repeat("x", 1000))
	}
	return b.String()[:n]
}
