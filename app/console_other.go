//go:build !windows

package main

// attachConsole: elsewhere a command's output reaches its terminal as it is.
func attachConsole() {}
