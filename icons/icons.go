// Package icons holds mcptray's icons, made by icons/gen from
// icons/mcptray.svg and embedded in the binary.
package icons

import (
	"embed"
	"runtime"
)

//go:embed mcptray.svg app tray
var files embed.FS

// Tray states, worst last.
const (
	StateOK        = "ok"        // every server connected
	StateStarting  = "starting"  // servers are connecting
	StateAttention = "attention" // a server needs a sign-in
	StateError     = "error"     // a server or the settings file has an error
)

// Tray returns the tray icon of a state in the platform's format: .ico on
// Windows, PNG elsewhere.
func Tray(state string) []byte {
	if runtime.GOOS == "windows" {
		return read("tray/" + state + ".ico")
	}
	return read("tray/" + state + ".png")
}

// TrayTemplate returns the monochrome template icon of a state, for the
// macOS menu bar, which tints it for light and dark mode.
func TrayTemplate(state string) []byte { return read("tray/" + state + "-template.png") }

// App returns the application icon as PNG at size pixels (16, 22, 24, 32,
// 48, 64, 128, 256, 512 or 1024).
func App(size int) []byte {
	return read("app/mcptray-" + itoa(size) + ".png")
}

// SVG returns the scalable source icon.
func SVG() []byte { return read("mcptray.svg") }

func read(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("icons: " + name + " is missing; run go run ./icons/gen")
	}
	return b
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [8]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
