package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// errBuildCache refuses Start at login for a binary that a login cannot
// start again.
var errBuildCache = errors.New("this mcptray runs from Go's build cache (go run), which is cleaned out: install it first (go install ./app, or a package from `task package`), then turn on Start at login")

// installedExecutable returns errBuildCache when mcptray runs from Go's
// build cache or go run's temporary folder, where the entry Start at login
// writes would point at a file that goes away.
func installedExecutable() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if inBuildCache(exe, os.Getenv("GOCACHE")) {
		return errBuildCache
	}
	return nil
}

// inBuildCache reports whether exe is in gocache, or in a folder named
// like the go command's: go-build<digits> (go run's temporary folder) or
// the default cache, <user cache folder>/go-build.
func inBuildCache(exe, gocache string) bool {
	exe = filepath.Clean(exe)
	if gocache != "" {
		if rel, err := filepath.Rel(filepath.Clean(gocache), exe); err == nil && !strings.HasPrefix(rel, "..") {
			return true
		}
	}
	for _, part := range strings.Split(filepath.ToSlash(exe), "/") {
		if strings.HasPrefix(part, "go-build") {
			return true
		}
	}
	return false
}
