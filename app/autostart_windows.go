package main

import (
	"errors"
	"os"

	"golang.org/x/sys/windows/registry"
)

// Start at login on Windows is a value of the user's Run key.
const runKey = `Software\Microsoft\Windows\CurrentVersion\Run`

func startAtLogin() bool {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	defer k.Close()
	_, _, err = k.GetStringValue("mcptray")
	return err == nil
}

func setStartAtLogin(on bool) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	if !on {
		if err := k.DeleteValue("mcptray"); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return err
		}
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return k.SetStringValue("mcptray", `"`+exe+`"`)
}
