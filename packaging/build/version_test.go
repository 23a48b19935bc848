//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDebVersions: each kind of version becomes a Debian version, and dpkg
// sorts them in the order they were built.
func TestDebVersions(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.0":                             "1.2.0",
		"1.2.0-3-gabc1234":                  "1.2.0+3.gabc1234",
		"1.2.0-3-gabc1234-dirty":            "1.2.0+3.gabc1234.dirty",
		"1.2.0-dirty":                       "1.2.0+dirty",
		"1.3.0-rc1":                         "1.3.0~rc1",
		"1.3.0-rc1-2-gabc1234":              "1.3.0~rc1+2.gabc1234",
		"0.0.0~git20261120090000.abc1234":   "0.0.0~git20261120090000.abc1234",
		"0.0.0~git20261120090000.abc.dirty": "0.0.0~git20261120090000.abc.dirty",
	} {
		if got := debVersion(in); got != want {
			t.Errorf("debVersion(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Fatal("dpkg is not installed: scripts/test installs it")
	}
	inOrder := []string{
		"0.0.0~git20261120090000.fff0000",
		"0.0.0~git20261121080000.aaa0000", // a day later, a smaller hash
		"1.2.0",
		"1.2.0-3-gfff1234",
		"1.2.0-12-gaaa1234",
		"1.3.0-rc1",
		"1.3.0-rc1-2-gabc1234",
		"1.3.0",
	}
	for i := 1; i < len(inOrder); i++ {
		a, b := debVersion(inOrder[i-1]), debVersion(inOrder[i])
		if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg does not sort %s below %s", a, b)
		}
	}
}

// TestGitVersion: the version of a checkout without a tag, after commits,
// with a tag, and after it, each above the one before as dpkg sorts.
func TestGitVersion(t *testing.T) {
	repo := t.TempDir()
	git := func(date string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	commit := func(date string) {
		os.WriteFile(filepath.Join(repo, "f"), []byte(date), 0o600)
		git(date, "add", "f")
		git(date, "commit", "-q", "-m", date)
	}
	git("", "init", "-q")
	commit("2026-11-20T09:00:00Z")
	v1 := gitVersion(repo)
	if want := "0.0.0~git20261120090000." + git("", "log", "-1", "--format=%h"); v1 != want {
		t.Errorf("untagged: %q, want %q", v1, want)
	}
	commit("2026-11-21T09:00:00Z")
	v2 := gitVersion(repo)
	os.WriteFile(filepath.Join(repo, "f"), []byte("changed"), 0o600)
	if v := gitVersion(repo); v != v2+".dirty" {
		t.Errorf("dirty: %q", v)
	}
	git("", "checkout", "-q", "f")
	git("2026-11-21T09:00:00Z", "tag", "v1.0.0")
	v3 := gitVersion(repo)
	if v3 != "1.0.0" {
		t.Errorf("tagged: %q", v3)
	}
	commit("2026-11-22T09:00:00Z")
	v4 := gitVersion(repo)
	if !strings.HasPrefix(v4, "1.0.0-1-g") {
		t.Errorf("after the tag: %q", v4)
	}
	all := []string{v1, v2, v3, v4}
	for i := 1; i < len(all); i++ {
		a, b := debVersion(all[i-1]), debVersion(all[i])
		if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg does not sort %s below %s", a, b)
		}
	}
}
