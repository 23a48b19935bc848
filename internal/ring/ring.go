// Package ring keeps the last N entries of a history: a server's events in
// the hub, its authorization steps in oauthflow.
package ring

import "sync"

// Ring keeps the last Size entries added. Its zero value keeps none; set
// Size before use.
type Ring[T any] struct {
	Size int

	mu      sync.Mutex // guards entries and next
	entries []T
	next    int // where the next entry goes once the ring is full
}

// Add records e, forgetting the oldest entry when the ring is full.
func (r *Ring[T]) Add(e T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) < r.Size {
		r.entries = append(r.entries, e)
		return
	}
	if r.Size == 0 {
		return
	}
	r.entries[r.next] = e
	r.next = (r.next + 1) % r.Size
}

// List returns the entries, oldest first.
func (r *Ring[T]) List() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]T, 0, len(r.entries))
	out = append(out, r.entries[r.next:]...)
	return append(out, r.entries[:r.next]...)
}
