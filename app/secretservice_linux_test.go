//go:build linux

package main

import "github.com/mcptray/mcptray/keychain/keychaintest"

// keychainSession is the private Secret Service of this test binary: every
// test, and every mcptray process a test starts, keeps its secrets there.
var keychainSession *keychaintest.Session

func startSecretService() (func(), error) {
	s, err := keychaintest.Start()
	if err != nil {
		return nil, err
	}
	keychainSession = s
	return s.Stop, nil
}
