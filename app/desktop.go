package main

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/pkg/browser"
)

// errNoClipboard says that no clipboard tool is installed: the tray shows
// the text in a notification instead.
var errNoClipboard = errors.New("no clipboard tool is installed (wl-clipboard, xclip or xsel)")

// copyToClipboard puts text on the clipboard with the platform's own tool:
// pbcopy, clip, or on Linux wl-copy, xclip or xsel.
func copyToClipboard(text string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("pbcopy")
	case "windows":
		cmd = exec.Command("clip")
	default:
		for _, c := range [][]string{{"wl-copy"}, {"xclip", "-selection", "clipboard"}, {"xsel", "--clipboard", "--input"}} {
			if c[0] == "wl-copy" && os.Getenv("WAYLAND_DISPLAY") == "" {
				continue
			}
			if _, err := exec.LookPath(c[0]); err == nil {
				cmd = exec.Command(c[0], c[1:]...)
				break
			}
		}
		if cmd == nil {
			return errNoClipboard
		}
	}
	cmd.Stdin = strings.NewReader(text)
	return cmd.Run()
}

// openPath opens a file or folder with the desktop's default application.
func openPath(path string) error {
	return browser.OpenFile(path)
}
