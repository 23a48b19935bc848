package icons

import (
	"bytes"
	"image/png"
	"testing"
)

func TestEveryIconIsThere(t *testing.T) {
	for _, st := range []string{StateOK, StateStarting, StateAttention, StateError} {
		if _, err := png.Decode(bytes.NewReader(TrayTemplate(st))); err != nil {
			t.Errorf("template %s: %v", st, err)
		}
		if len(Tray(st)) == 0 {
			t.Errorf("tray %s is empty", st)
		}
	}
	for _, size := range []int{16, 22, 24, 32, 48, 64, 128, 256, 512, 1024} {
		img, err := png.Decode(bytes.NewReader(App(size)))
		if err != nil {
			t.Fatalf("app %d: %v", size, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Errorf("app %d is %v", size, b)
		}
	}
}
