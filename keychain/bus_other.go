//go:build !linux

package keychain

// sessionBusProblem is Linux's concern: elsewhere the keychain needs no bus.
func sessionBusProblem() string { return "" }
