//go:build unix && !linux

package main

// startSecretService does nothing where the keychain is the system's own
// (macOS): the tests that need a private one are Linux's.
func startSecretService() (func(), error) { return func() {}, nil }
