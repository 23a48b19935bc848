// Package broadcast is how a lower layer of mcptray tells the layers above
// it that something changed: the settings file, the keychain, OAuth, the
// hub's servers. Each offers a channel that is closed at its next change;
// whoever cares selects on it, then reads the state it needs (the new
// settings, a server's status) from the layer itself. Changes that come
// while nobody looks coalesce into one, and any number of readers can wait
// on the same change.
package broadcast

import "sync"

// Signal is one layer's change signal. Its zero value is ready to use.
type Signal struct {
	mu sync.Mutex    // guards ch
	ch chan struct{} // closed at the next Notify; nil until someone waits
}

// C returns a channel that is closed at the next Notify. Call it again,
// before reading the state, for the change after that.
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes everyone waiting on a channel from C.
func (s *Signal) Notify() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}
