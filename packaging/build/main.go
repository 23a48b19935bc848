// Command build makes mcptray's packages in dist/: for Linux (amd64 and
// arm64) a .deb, built with nFPM's library, and a .tar.gz of the same files;
// for Windows (amd64) mcptray.exe without a console window, with its icon,
// version information and manifest as resources (github.com/tc-hib/winres),
// in a .zip, signed with osslsigncode when a certificate is given; for macOS
// (on a Mac only: fyne.io/systray uses cgo there) a .app bundle, zipped. And
// SHA256SUMS over all of them. The version comes from git describe and is
// stamped into the binaries. Run it with `task package`, or
//
//	go run ./packaging/build [-out dist] [-targets linux,windows,darwin]
//
// Signing for Windows: MCPTRAY_SIGN_PKCS12 (a .p12 or .pfx file) and
// MCPTRAY_SIGN_PASSWORD, optionally MCPTRAY_SIGN_TIMESTAMP (a timestamp
// server URL).
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/tc-hib/winres"
	"github.com/tc-hib/winres/version"
)

// hicolorSizes are the PNG sizes installed in the hicolor icon theme.
var hicolorSizes = []int{16, 22, 24, 32, 48, 64, 128, 256, 512}

func main() {
	out := flag.String("out", "dist", "output folder")
	targets := flag.String("targets", defaultTargets(), "comma-separated: linux, windows, darwin")
	ver := flag.String("version", "", "version to stamp (default: git describe)")
	flag.Parse()
	log.SetFlags(0)
	root, err := repoRoot()
	if err != nil {
		log.Fatal(err)
	}
	v := *ver
	if v == "" {
		v = gitVersion(root)
	}
	b := &builder{root: root, out: *out, version: v}
	if err := b.run(strings.Split(*targets, ",")); err != nil {
		log.Fatal("package: ", err)
	}
}

func defaultTargets() string {
	if runtime.GOOS == "darwin" {
		return "linux,windows,darwin"
	}
	return "linux,windows"
}

type builder struct {
	root, out, version string
	made               []string // artifacts, for SHA256SUMS
}

func (b *builder) run(targets []string) error {
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return err
	}
	for _, t := range targets {
		var err error
		switch strings.TrimSpace(t) {
		case "linux":
			for _, arch := range []string{"amd64", "arm64"} {
				if err = b.linux(arch); err != nil {
					break
				}
			}
		case "windows":
			err = b.windows("amd64")
		case "darwin":
			err = b.darwin()
		case "":
		default:
			err = fmt.Errorf("unknown target %q (want linux, windows or darwin)", t)
		}
		if err != nil {
			return err
		}
	}
	return b.checksums()
}

// goBuild compiles the app for a platform with the version stamped in.
func (b *builder) goBuild(goos, arch, out string, cgo bool, extraLD string) error {
	ld := "-s -w -X main.version=" + b.version
	if extraLD != "" {
		ld += " " + extraLD
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ld, "-o", out, "./app")
	cmd.Dir = b.root
	cgoFlag := "0"
	if cgo {
		cgoFlag = "1"
	}
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+arch, "CGO_ENABLED="+cgoFlag)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s/%s: %w", goos, arch, err)
	}
	return nil
}

// linux makes the .deb and the .tar.gz of one architecture.
func (b *builder) linux(arch string) error {
	work, err := os.MkdirTemp("", "mcptray-linux")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "mcptray")
	if err := b.goBuild("linux", arch, bin, false, ""); err != nil {
		return err
	}
	info, err := b.debInfo(arch, bin)
	if err != nil {
		return err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	debPath := filepath.Join(b.out, pkg.ConventionalFileName(info))
	f, err := os.Create(debPath)
	if err != nil {
		return err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		return fmt.Errorf("deb: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	b.made = append(b.made, debPath)

	// The tarball: the same files, at the same places.
	tgz := filepath.Join(b.out, fmt.Sprintf("mcptray_%s_linux_%s.tar.gz", b.version, arch))
	if err := writeTarGz(tgz, info.Contents, info.MTime); err != nil {
		return err
	}
	b.made = append(b.made, tgz)
	log.Printf("built %s and %s", debPath, tgz)
	return nil
}

// debInfo reads packaging/linux/nfpm.yaml and adds the hicolor icons.
func (b *builder) debInfo(arch, bin string) (*nfpm.Info, error) {
	env := map[string]string{"VERSION": debVersion(b.version), "ARCH": arch, "BIN": bin, "ROOT": b.root}
	cfg, err := nfpm.ParseFileWithEnvMapping(filepath.Join(b.root, "packaging", "linux", "nfpm.yaml"), func(k string) string { return env[k] })
	if err != nil {
		return nil, fmt.Errorf("nfpm.yaml: %w", err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return nil, err
	}
	for _, size := range hicolorSizes {
		info.Contents = append(info.Contents, &files.Content{
			Source:      filepath.Join(b.root, "icons", "app", fmt.Sprintf("mcptray-%d.png", size)),
			Destination: fmt.Sprintf("/usr/share/icons/hicolor/%dx%d/apps/mcptray.png", size, size),
			FileInfo:    &files.ContentFileInfo{Mode: 0o644},
		})
	}
	info.MTime = commitTime(b.root)
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return nil, err
	}
	return info, nfpm.Validate(info)
}

// writeTarGz writes the package's files into a tarball rooted at /.
func writeTarGz(path string, contents files.Contents, mtime time.Time) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	for _, c := range contents {
		if c.Type == files.TypeDir || c.Type == files.TypeImplicitDir {
			continue
		}
		dst := strings.TrimPrefix(c.Destination, "/")
		for d := filepath.Dir(dst); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
		data, err := os.ReadFile(c.Source)
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if c.FileInfo != nil && c.FileInfo.Mode != 0 {
			mode = int64(c.FileInfo.Mode.Perm())
		}
		if err := tw.WriteHeader(&tar.Header{Name: dst, Mode: mode, Size: int64(len(data)), ModTime: mtime, Uname: "root", Gname: "root", Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	// Folders first would be tidier; tar does not need them, and GNU tar
	// makes them as it extracts.
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// windows makes mcptray.exe, a GUI program (no console window) with its
// icon, version information and manifest, and zips it.
func (b *builder) windows(arch string) error {
	syso := filepath.Join(b.root, "app", "rsrc_windows_"+arch+".syso")
	if err := b.writeResources(syso, arch); err != nil {
		return err
	}
	defer os.Remove(syso)
	work, err := os.MkdirTemp("", "mcptray-windows")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	exe := filepath.Join(work, "mcptray.exe")
	if err := b.goBuild("windows", arch, exe, false, "-H windowsgui"); err != nil {
		return err
	}
	if err := sign(exe); err != nil {
		return err
	}
	zipPath := filepath.Join(b.out, fmt.Sprintf("mcptray_%s_windows_%s.zip", b.version, arch))
	if err := writeZip(zipPath, map[string]string{"mcptray/mcptray.exe": exe, "mcptray/README.md": filepath.Join(b.root, "README.md")}, commitTime(b.root)); err != nil {
		return err
	}
	b.made = append(b.made, zipPath)
	log.Printf("built %s", zipPath)
	return nil
}

// writeResources writes the .syso the Go linker puts into the .exe.
func (b *builder) writeResources(path, arch string) error {
	rs := winres.ResourceSet{}
	icoFile, err := os.Open(filepath.Join(b.root, "icons", "app", "mcptray.ico"))
	if err != nil {
		return err
	}
	icon, err := winres.LoadICO(icoFile)
	icoFile.Close()
	if err != nil {
		return fmt.Errorf("icon: %w", err)
	}
	if err := rs.SetIcon(winres.ID(1), icon); err != nil {
		return err
	}
	vi := version.Info{}
	nums := numericVersion(b.version)
	vi.SetFileVersion(nums)
	vi.SetProductVersion(nums)
	for k, v := range map[string]string{
		version.ProductName: "mcptray", version.FileDescription: "mcptray: one local endpoint for all your MCP servers",
		version.ProductVersion: b.version, version.FileVersion: b.version, version.CompanyName: "mcptray",
		version.OriginalFilename: "mcptray.exe", version.InternalName: "mcptray",
	} {
		if err := vi.Set(0x0409, k, v); err != nil {
			return err
		}
	}
	rs.SetVersionInfo(vi)
	rs.SetManifest(winres.AppManifest{
		Identity:            winres.AssemblyIdentity{Name: "mcptray", Version: [4]uint16{}},
		Description:         "mcptray",
		Compatibility:       winres.Win10AndAbove,
		ExecutionLevel:      winres.AsInvoker,
		DPIAwareness:        winres.DPIPerMonitorV2,
		UseCommonControlsV6: true,
	})
	var a winres.Arch
	switch arch {
	case "amd64":
		a = winres.ArchAMD64
	case "arm64":
		a = winres.ArchARM64
	default:
		return fmt.Errorf("windows/%s is not built", arch)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rs.WriteObject(f, a); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sign signs the .exe with osslsigncode when a certificate is given.
func sign(exe string) error {
	p12, pass := os.Getenv("MCPTRAY_SIGN_PKCS12"), os.Getenv("MCPTRAY_SIGN_PASSWORD")
	if p12 == "" {
		log.Print("not signing mcptray.exe: MCPTRAY_SIGN_PKCS12 is not set")
		return nil
	}
	signed := exe + ".signed"
	args := []string{"sign", "-pkcs12", p12, "-pass", pass, "-n", "mcptray", "-i", "https://github.com/mcptray/mcptray", "-h", "sha256", "-in", exe, "-out", signed}
	if ts := os.Getenv("MCPTRAY_SIGN_TIMESTAMP"); ts != "" {
		args = append(args, "-ts", ts)
	}
	cmd := exec.Command("osslsigncode", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("osslsigncode: %w: %s", err, stderr.String())
	}
	return os.Rename(signed, exe)
}

// darwin makes mcptray.app for both architectures, zipped. fyne.io/systray
// needs cgo (and the macOS SDK) there, so it runs on a Mac only.
func (b *builder) darwin() error {
	if runtime.GOOS != "darwin" {
		return errors.New("macOS packages need a Mac: fyne.io/systray uses cgo and the macOS SDK there; run task package on macOS with Xcode's command line tools")
	}
	for _, arch := range []string{"arm64", "amd64"} {
		work, err := os.MkdirTemp("", "mcptray-darwin")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		app := filepath.Join(work, "mcptray.app", "Contents")
		for _, d := range []string{"MacOS", "Resources"} {
			if err := os.MkdirAll(filepath.Join(app, d), 0o755); err != nil {
				return err
			}
		}
		if err := b.goBuild("darwin", arch, filepath.Join(app, "MacOS", "mcptray"), true, ""); err != nil {
			return err
		}
		plist, err := template.ParseFiles(filepath.Join(b.root, "packaging", "darwin", "Info.plist"))
		if err != nil {
			return err
		}
		var pb bytes.Buffer
		if err := plist.Execute(&pb, map[string]string{"Version": b.version, "Short": shortVersion(b.version)}); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(app, "Info.plist"), pb.Bytes(), 0o644); err != nil {
			return err
		}
		icns, err := os.ReadFile(filepath.Join(b.root, "icons", "app", "mcptray.icns"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(app, "Resources", "mcptray.icns"), icns, 0o644); err != nil {
			return err
		}
		zipPath := filepath.Join(b.out, fmt.Sprintf("mcptray_%s_macos_%s.zip", b.version, arch))
		// ditto keeps what a .app needs (modes, extended attributes).
		cmd := exec.Command("ditto", "-c", "-k", "--keepParent", filepath.Join(work, "mcptray.app"), zipPath)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("ditto: %w", err)
		}
		b.made = append(b.made, zipPath)
		log.Printf("built %s", zipPath)
	}
	return nil
}

// writeZip writes files (name in the zip → path on disk) into a zip.
func writeZip(path string, entries map[string]string, mtime time.Time) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		data, err := os.ReadFile(entries[name])
		if err != nil {
			return err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mtime})
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// checksums writes SHA256SUMS over the artifacts, in sha256sum's format.
func (b *builder) checksums() error {
	var sb strings.Builder
	slices.Sort(b.made)
	for _, p := range b.made {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&sb, "%s  %s\n", hex.EncodeToString(sum[:]), filepath.Base(p))
	}
	path := filepath.Join(b.out, "SHA256SUMS")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s", path)
	return nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		// The repository's root holds the app's module; packaging/ is a
		// module of its own, so that the app's go.mod lists only what the
		// app uses.
		if _, err := os.Stat(filepath.Join(dir, "app", "main.go")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run inside the mcptray repository")
		}
		dir = parent
	}
}

// gitVersion is the version of the checkout: after a tag, git describe's
// tag, commits since and commit (1.2.0, 1.2.0-3-gabc1234); without one,
// 0.0.0~git<commit time>.<commit>, which sorts below every release and by
// time among untagged builds (a bare commit hash, as git describe --always
// gives, does not sort at all).
func gitVersion(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--tags", "--match", "v[0-9]*", "--match", "[0-9]*", "--dirty").Output()
	if err == nil {
		return strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	}
	out, err = exec.Command("git", "-C", root, "log", "-1", "--format=%h").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return "0.0.0~dev"
	}
	v := "0.0.0~git" + commitTime(root).Format("20060102150405") + "." + strings.TrimSpace(string(out))
	if exec.Command("git", "-C", root, "diff", "--quiet", "HEAD").Run() != nil {
		v += ".dirty"
	}
	return v
}

// commitTime is the time of the last commit, for reproducible archives.
func commitTime(root string) time.Time {
	out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%ct").Output()
	if err == nil {
		var sec int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &sec); err == nil {
			return time.Unix(sec, 0).UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}

var semverRe = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)(.*)$`)

// debVersion makes a Debian version of gitVersion's, one that dpkg sorts
// in the order the builds were made: 1.2.0; 1.2.0+3.gabc1234 for 3 commits
// after it (above 1.2.0, below 1.2.1); 1.2.0~rc1 for a pre-release (below
// 1.2.0); 0.0.0~git20261120090000.abc1234 as it is without a tag.
func debVersion(v string) string {
	m := semverRe.FindStringSubmatch(v)
	if m == nil {
		return "0.0.0~git." + strings.NewReplacer("-", ".").Replace(v)
	}
	base, rest := m[1]+"."+m[2]+"."+m[3], m[4]
	if rest == "" || strings.HasPrefix(rest, "~") {
		return base + rest
	}
	rest = strings.TrimPrefix(rest, "-")
	if m := describeRe.FindStringSubmatch(rest); m != nil {
		// git describe's N-gHASH after the tag, and the tag's own
		// pre-release part before it: 1.3.0-rc1-2-gabc.
		pre, after := m[1], m[2]+"."+m[3]+m[4]
		if pre != "" {
			return base + "~" + strings.NewReplacer("-", ".").Replace(pre) + "+" + strings.ReplaceAll(after, "-", ".")
		}
		return base + "+" + strings.ReplaceAll(after, "-", ".")
	}
	if rest == "dirty" {
		return base + "+dirty"
	}
	// A pre-release tag (1.2.0-rc1) sorts below its release.
	return base + "~" + strings.NewReplacer("-", ".").Replace(rest)
}

// describeRe splits what git describe puts after a tag's x.y.z: the tag's
// own pre-release part, commits since, the commit, and -dirty.
var describeRe = regexp.MustCompile(`^(?:(.*)-)?(\d+)-(g[0-9a-f]+)(-dirty)?$`)

// shortVersion is the x.y.z of a version, for CFBundleShortVersionString.
func shortVersion(v string) string {
	if m := semverRe.FindStringSubmatch(v); m != nil {
		return m[1] + "." + m[2] + "." + m[3]
	}
	return "0.0.0"
}

// numericVersion is a version as Windows' four numbers.
func numericVersion(v string) string {
	return shortVersion(v) + ".0"
}
