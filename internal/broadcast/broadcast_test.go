package broadcast

import (
	"testing"
	"time"
)

func TestSignalWakesEveryWaiterOnceAndCoalesces(t *testing.T) {
	var s Signal
	a, b := s.C(), s.C()
	if a != b {
		t.Fatal("two waiters of one change got different channels")
	}
	s.Notify()
	s.Notify() // nobody waits: nothing to do
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatal("a waiter was not woken")
		}
	}
	next := s.C()
	select {
	case <-next:
		t.Fatal("the channel for the next change is already closed")
	default:
	}
	s.Notify()
	<-next
}
