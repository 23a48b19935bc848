// Command gen makes every icon of mcptray from icons/mcptray.svg: the app
// icon at the hicolor sizes, as .ico and .icns, and the tray icons of each
// state (PNG for Linux, .ico for Windows, monochrome template PNGs for the
// macOS menu bar). The generated files are committed, so that a build needs
// no image tools; run `task icons` (or `go run ./icons/gen`) after changing
// the source. It needs rsvg-convert (Debian: librsvg2-bin).
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Tray states and how each one marks the icon.
var states = []string{"ok", "attention", "error", "starting"}

// badge draws a state's mark at the lower right, over a ring of the
// background color so that it stands out at 16 pixels.
func badge(state string, template bool) string {
	fill, mark := "", ""
	switch state {
	case "attention": // needs a sign-in: amber, with an exclamation mark
		fill = "#F2A516"
		mark = `<rect x="790" y="680" width="44" height="150" rx="22" fill="#FFFFFF"/><circle cx="812" cy="880" r="26" fill="#FFFFFF"/>`
	case "error": // red, with a cross
		fill = "#D93025"
		mark = `<g stroke="#FFFFFF" stroke-width="52" stroke-linecap="round"><line x1="740" y1="710" x2="884" y2="854"/><line x1="884" y1="710" x2="740" y2="854"/></g>`
	default:
		return ""
	}
	if template {
		// Monochrome: a hollow ring for attention, a solid dot for errors.
		if state == "attention" {
			return `<circle cx="812" cy="782" r="150" fill="none" stroke="#000000" stroke-width="60"/>`
		}
		return `<circle cx="812" cy="782" r="170" fill="#000000"/>`
	}
	return fmt.Sprintf(`<circle cx="812" cy="782" r="200" fill="#FFFFFF"/><circle cx="812" cy="782" r="170" fill="%s"/>%s`, fill, mark)
}

var background = regexp.MustCompile(`(?s)<g id="background">.*?</g>`)

// variant turns the source SVG into a state's icon.
func variant(src, state string, template bool) string {
	svg := src
	if template {
		svg = background.ReplaceAllString(svg, "")
		svg = strings.ReplaceAll(svg, "#FFFFFF", "#000000")
		if state == "starting" {
			svg = strings.Replace(svg, `<g id="glyph"`, `<g id="glyph" opacity="0.45"`, 1)
		}
	} else if state == "starting" {
		svg = strings.ReplaceAll(svg, "#1F5FAD", "#7B8794") // grey until the servers are up
	}
	return strings.Replace(svg, "</svg>", badge(state, template)+"</svg>", 1)
}

func main() {
	log.SetFlags(0)
	dir := "icons"
	if _, err := os.Stat(filepath.Join(dir, "mcptray.svg")); err != nil {
		log.Fatal("run from the repository's root: icons/mcptray.svg not found")
	}
	if _, err := exec.LookPath("rsvg-convert"); err != nil {
		log.Fatal("rsvg-convert is needed (Debian: apt-get install librsvg2-bin)")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "mcptray.svg"))
	if err != nil {
		log.Fatal(err)
	}
	src := string(raw)

	// The app icon at the hicolor theme's sizes, and its .ico and .icns.
	app := filepath.Join(dir, "app")
	must(os.MkdirAll(app, 0o755))
	pngs := map[int][]byte{}
	for _, size := range []int{16, 22, 24, 32, 48, 64, 128, 256, 512, 1024} {
		pngs[size] = render(src, size)
		write(filepath.Join(app, fmt.Sprintf("mcptray-%d.png", size)), pngs[size])
	}
	write(filepath.Join(app, "mcptray.ico"), ico(pngs, 16, 24, 32, 48, 64, 256))
	write(filepath.Join(app, "mcptray.icns"), icns(pngs))

	// The tray: PNG (Linux hosts scale it, so a large one stays crisp on
	// HiDPI), .ico (Windows), template PNG (macOS, 22 points at 2x).
	tray := filepath.Join(dir, "tray")
	must(os.MkdirAll(tray, 0o755))
	for _, st := range states {
		color := variant(src, st, false)
		write(filepath.Join(tray, st+".png"), render(color, 64))
		sized := map[int][]byte{}
		for _, size := range []int{16, 20, 24, 32, 48} {
			sized[size] = render(color, size)
		}
		write(filepath.Join(tray, st+".ico"), ico(sized, 16, 20, 24, 32, 48))
		write(filepath.Join(tray, st+"-template.png"), render(variant(src, st, true), 44))
	}
	log.Printf("icons written under %s", dir)
}

// render rasterizes an SVG at size×size pixels.
func render(svg string, size int) []byte {
	cmd := exec.Command("rsvg-convert", "--width", fmt.Sprint(size), "--height", fmt.Sprint(size), "--format", "png")
	cmd.Stdin = strings.NewReader(svg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		log.Fatalf("rsvg-convert: %v: %s", err, errb.String())
	}
	return out.Bytes()
}

// ico packs PNG images into a Windows icon: a directory of entries, each a
// whole PNG file (allowed since Windows Vista).
func ico(pngs map[int][]byte, sizes ...int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, [3]uint16{0, 1, uint16(len(sizes))})
	offset := 6 + 16*len(sizes)
	for _, s := range sizes {
		dim := byte(s)
		if s >= 256 {
			dim = 0 // 0 means 256
		}
		b.Write([]byte{dim, dim, 0, 0})
		binary.Write(&b, binary.LittleEndian, [2]uint16{1, 32})
		binary.Write(&b, binary.LittleEndian, [2]uint32{uint32(len(pngs[s])), uint32(offset)})
		offset += len(pngs[s])
	}
	for _, s := range sizes {
		b.Write(pngs[s])
	}
	return b.Bytes()
}

// icns packs PNG images into a macOS icon, with the PNG-based element
// types: icp4 16, icp5 32, ic07 128, ic08 256, ic09 512, ic10 1024, and
// the @2x ones.
func icns(pngs map[int][]byte) []byte {
	types := []struct {
		kind string
		size int
	}{{"icp4", 16}, {"icp5", 32}, {"ic11", 32}, {"icp6", 64}, {"ic12", 64}, {"ic07", 128}, {"ic08", 256}, {"ic13", 256}, {"ic09", 512}, {"ic14", 512}, {"ic10", 1024}}
	var body bytes.Buffer
	for _, t := range types {
		body.WriteString(t.kind)
		binary.Write(&body, binary.BigEndian, uint32(8+len(pngs[t.size])))
		body.Write(pngs[t.size])
	}
	var b bytes.Buffer
	b.WriteString("icns")
	binary.Write(&b, binary.BigEndian, uint32(8+body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

func write(path string, data []byte) {
	must(os.WriteFile(path, data, 0o644))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
