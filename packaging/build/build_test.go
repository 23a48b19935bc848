//go:build linux

package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"debug/pe"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tc-hib/winres"
	"github.com/tc-hib/winres/version"
)

const testVersion = "1.2.3-test"

// testDebVersion is testVersion as dpkg has it: a pre-release, below 1.2.3.
const testDebVersion = "1.2.3~test"

// TestPackages builds the Linux and Windows packages as `task package`
// does, signed with a throwaway certificate, and checks them with the
// tools a user's system would use: dpkg-deb, dpkg -x, desktop-file-validate,
// sha256sum; and the .exe's PE headers and resources.
func TestPackages(t *testing.T) {
	for _, tool := range []string{"dpkg-deb", "desktop-file-validate", "osslsigncode", "openssl", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: scripts/test installs it", tool)
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "dist")
	p12 := throwawayCertificate(t, dir)
	t.Setenv("MCPTRAY_SIGN_PKCS12", p12)
	t.Setenv("MCPTRAY_SIGN_PASSWORD", "throwaway")
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b := &builder{root: root, out: out, version: testVersion}
	if err := b.run([]string{"linux", "windows"}); err != nil {
		t.Fatal(err)
	}
	if err := b.darwin(); err == nil || !strings.Contains(err.Error(), "need a Mac") {
		t.Errorf("macOS on Linux: %v, want a clear refusal", err)
	}

	deb := filepath.Join(out, "mcptray_"+testDebVersion+"_amd64.deb")
	info := run(t, "dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: mcptray", "Version: " + testDebVersion, "Architecture: amd64", "Recommends: xdg-utils"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	if info := run(t, "dpkg-deb", "--info", filepath.Join(out, "mcptray_"+testDebVersion+"_arm64.deb")); !strings.Contains(info, "Architecture: arm64") {
		t.Errorf("arm64 package:\n%s", info)
	}
	contents := run(t, "dpkg-deb", "--contents", deb)
	want := map[string]string{
		"./usr/bin/mcptray":                                   "-rwxr-xr-x root/root",
		"./usr/share/applications/mcptray.desktop":            "-rw-r--r-- root/root",
		"./etc/xdg/autostart/mcptray.desktop":                 "-rw-r--r-- root/root",
		"./usr/share/icons/hicolor/scalable/apps/mcptray.svg": "-rw-r--r-- root/root",
	}
	for _, s := range hicolorSizes {
		want["./usr/share/icons/hicolor/"+strconv.Itoa(s)+"x"+strconv.Itoa(s)+"/apps/mcptray.png"] = "-rw-r--r-- root/root"
	}
	var debFiles []string
	for _, line := range strings.Split(strings.TrimSpace(contents), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || strings.HasSuffix(f[5], "/") {
			continue
		}
		debFiles = append(debFiles, strings.TrimPrefix(f[5], "."))
		if perm, ok := want[f[5]]; ok && f[0]+" "+f[1] != perm {
			t.Errorf("%s is %s %s, want %s", f[5], f[0], f[1], perm)
		}
	}
	for path := range want {
		if !slices.Contains(debFiles, strings.TrimPrefix(path, ".")) {
			t.Errorf("the .deb lacks %s", path)
		}
	}

	// Installed into a temporary root, it runs and says its version.
	inst := filepath.Join(dir, "root")
	run(t, "dpkg", "-x", deb, inst)
	if got := strings.TrimSpace(run(t, filepath.Join(inst, "usr", "bin", "mcptray"), "--version")); got != "mcptray "+testVersion {
		t.Errorf("--version: %q", got)
	}
	run(t, "desktop-file-validate", filepath.Join(inst, "usr/share/applications/mcptray.desktop"), filepath.Join(inst, "etc/xdg/autostart/mcptray.desktop"))
	// After apt remove, the autostart entry (a conffile, which stays) and
	// the launcher are skipped for the missing binary: TryExec.
	for _, entry := range []string{"usr/share/applications/mcptray.desktop", "etc/xdg/autostart/mcptray.desktop"} {
		if b, _ := os.ReadFile(filepath.Join(inst, entry)); !strings.Contains(string(b), "\nTryExec=mcptray\n") {
			t.Errorf("%s has no TryExec:\n%s", entry, b)
		}
	}

	// The tarball holds the same files.
	tarFiles := tarList(t, filepath.Join(out, "mcptray_"+testVersion+"_linux_amd64.tar.gz"))
	slices.Sort(debFiles)
	slices.Sort(tarFiles)
	if !slices.Equal(debFiles, tarFiles) {
		t.Errorf("tarball %v\n.deb %v", tarFiles, debFiles)
	}

	// The Windows program: a GUI executable with its resources, signed.
	exe := unzip(t, filepath.Join(out, "mcptray_"+testVersion+"_windows_amd64.zip"), "mcptray/mcptray.exe")
	f, err := pe.NewFile(bytes.NewReader(exe))
	if err != nil {
		t.Fatal(err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok || oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_GUI || f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		t.Errorf("mcptray.exe: machine %#x, subsystem %v; want an amd64 GUI program", f.Machine, oh.Subsystem)
	}
	rs, err := winres.LoadFromEXE(bytes.NewReader(exe))
	if err != nil {
		t.Fatal(err)
	}
	if icon, err := rs.GetIcon(winres.ID(1)); err != nil || icon == nil {
		t.Errorf("no icon resource: %v", err)
	}
	checkManifest(t, rs)
	vi, err := version.FromBytes(rs.Get(winres.RT_VERSION, winres.ID(1), 0x0409))
	if err != nil {
		t.Fatalf("no version resource: %v", err)
	}
	// The version resource, as JSON, holds the stamped version.
	if j, _ := vi.MarshalJSON(); !bytes.Contains(j, []byte(`"ProductVersion":"`+testVersion+`"`)) {
		t.Errorf("version resource %s lacks ProductVersion %s", j, testVersion)
	}
	if signed, err := winres.IsSignedEXE(bytes.NewReader(exe)); err != nil || !signed {
		t.Errorf("mcptray.exe is not signed: %v", err)
	}

	// SHA256SUMS covers every artifact and checks out.
	sums := run(t, "sh", "-c", "cd "+out+" && sha256sum -c SHA256SUMS")
	if n := strings.Count(sums, ": OK"); n != 5 {
		t.Errorf("%d artifacts check out, want 5:\n%s", n, sums)
	}
}

// checkManifest checks the application manifest writeResources sets: run
// as the user (no UAC prompt), per-monitor DPI aware, themed common
// controls, Windows 10 and later. Without it Windows runs mcptray
// virtualized and blurry on scaled displays.
func checkManifest(t *testing.T, rs *winres.ResourceSet) {
	t.Helper()
	raw := rs.Get(winres.RT_MANIFEST, winres.ID(1), winres.LCIDDefault)
	if raw == nil {
		t.Error("mcptray.exe has no manifest resource")
		return
	}
	got, err := winres.AppManifestFromXML(raw)
	if err != nil {
		t.Errorf("the manifest resource does not parse: %v\n%s", err, raw)
		return
	}
	want := winres.AppManifest{
		Identity:            winres.AssemblyIdentity{Name: "mcptray"},
		Description:         "mcptray",
		Compatibility:       winres.Win10AndAbove,
		ExecutionLevel:      winres.AsInvoker,
		DPIAwareness:        winres.DPIPerMonitorV2,
		UseCommonControlsV6: true,
	}
	if got != want {
		t.Errorf("manifest %+v, want %+v\n%s", got, want, raw)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// throwawayCertificate makes a self-signed code-signing certificate.
func throwawayCertificate(t *testing.T, dir string) string {
	key, crt, p12 := filepath.Join(dir, "key.pem"), filepath.Join(dir, "crt.pem"), filepath.Join(dir, "sign.p12")
	run(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=mcptray test signing")
	run(t, "openssl", "pkcs12", "-export", "-inkey", key, "-in", crt, "-out", p12, "-passout", "pass:throwaway")
	return p12
}

func tarList(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, "/"+h.Name)
		}
	}
}

func unzip(t *testing.T, path, name string) []byte {
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == name {
			rc, _ := f.Open()
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			return b
		}
	}
	t.Fatalf("%s lacks %s", path, name)
	return nil
}
