package handlers_test

import (
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// download fetches an archive to a file and returns the response.
func download(t *testing.T, c *client, path, out string) *response {
	t.Helper()
	r := c.do("GET", path, nil)
	if r.Status == http.StatusOK {
		if err := os.WriteFile(out, r.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// treeOf lists every file under dir with its content and mode bits.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		var content string
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			content = "link:" + target
		} else {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			content = string(b)
		}
		out[filepath.ToSlash(rel)] = info.Mode().String() + " " + content
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestArchive(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, true)
	f.git("checkout", "-q", "-b", "feature/zip", "master")
	f.commit("content", map[string]string{"src/main.go": "package main\n", "docs/a b.md": "spaces\n", "bin/tool": "#!/bin/sh\necho hi\n"})
	f.git("update-index", "--chmod=+x", "bin/tool")
	if err := os.Symlink("src/main.go", filepath.Join(f.work, "link")); err != nil {
		t.Fatal(err)
	}
	f.git("add", "link")
	f.git("commit", "-q", "-m", "exec and link")
	f.git("tag", "-a", "v1.0", "-m", "release")
	f.git("push", "-q", "origin", "feature/zip", "v1.0")
	sha := f.tip("feature/zip")

	for _, tc := range []struct{ ref, folder string }{
		{"feature/zip", "proj-feature-zip"},
		{"feature/zip.zip", "proj-feature-zip"},
		{"v1.0", "proj-v1.0"},
		{sha, "proj-" + sha},
		{sha[:8], "proj-" + sha[:8]},
		{"master", "proj-master"},
	} {
		dir := t.TempDir()
		zip := filepath.Join(dir, "a.zip")
		r := download(t, f.c, f.api+"/archive/"+tc.ref, zip)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: status %d %s", tc.ref, r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/zip" {
			t.Errorf("%s: Content-Type %q", tc.ref, ct)
		}
		if cd := r.Header.Get("Content-Disposition"); cd != "attachment; filename="+tc.folder+".zip" {
			t.Errorf("%s: Content-Disposition %q", tc.ref, cd)
		}
		if out, err := exec.Command("unzip", "-q", zip, "-d", filepath.Join(dir, "zip")).CombinedOutput(); err != nil {
			t.Fatalf("%s: unzip: %v\n%s", tc.ref, err, out)
		}
		ents, _ := os.ReadDir(filepath.Join(dir, "zip"))
		if len(ents) != 1 || ents[0].Name() != tc.folder {
			t.Fatalf("%s: top level %v, want only %s/", tc.ref, ents, tc.folder)
		}
		// git archive of the same ref, unpacked the same way.
		ref := strings.TrimSuffix(tc.ref, ".zip")
		if ref == "feature/zip" || ref == "master" {
			ref = "origin/" + ref
		}
		gitZip := filepath.Join(dir, "git.zip")
		f.git("archive", "--format=zip", "--prefix="+tc.folder+"/", "-o", gitZip, ref)
		if out, err := exec.Command("unzip", "-q", gitZip, "-d", filepath.Join(dir, "git")).CombinedOutput(); err != nil {
			t.Fatalf("unzip git archive: %v\n%s", err, out)
		}
		got, want := treeOf(t, filepath.Join(dir, "zip")), treeOf(t, filepath.Join(dir, "git"))
		if strings.Join(keys(got), "\n") != strings.Join(keys(want), "\n") {
			t.Fatalf("%s: files\n%v\nwant\n%v", tc.ref, keys(got), keys(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, git archive has %q", tc.ref, k, got[k], v)
			}
		}
	}

	// Private: outsiders and anonymous callers see nothing.
	outsider := shared.register(t, "outsider")
	for _, c := range []*client{shared.as(t, outsider.Token), shared.as(t, "")} {
		if r := c.do("GET", f.api+"/archive/master", nil); r.Status != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("private archive for outsider: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
	}
	for _, ref := range []string{"nope", "nope.zip", strings.Repeat("f", 40), "feature"} {
		r := f.c.do("GET", f.api+"/archive/"+ref, nil)
		if r.Status != http.StatusNotFound {
			t.Errorf("unknown ref %s: %d", ref, r.Status)
		}
	}

	// Public repositories need no authentication.
	pub := newPRRepo(t, false)
	if r := shared.as(t, "").do("GET", pub.api+"/archive/master", nil); r.Status != http.StatusOK {
		t.Errorf("public archive anonymously: %d", r.Status)
	}
}
