//go:build !linux

package main

// trayProblem: macOS and Windows always have a tray.
func trayProblem() string { return "" }

func trayHostProblem() string { return "" }
