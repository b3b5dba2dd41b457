package core_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tapioca/handlers/core"
)

func TestSecretBox(t *testing.T) {
	dir := t.TempDir()
	b, err := core.LoadSecretBox(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, core.KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Fatalf("key file %v %v", st, err)
	}
	sealed := b.Seal("hunter2")
	if strings.Contains(sealed, "hunter2") || !core.Sealed(sealed) || sealed == b.Seal("hunter2") {
		t.Fatalf("sealed %q", sealed)
	}
	// The same key opens it after a restart; plain legacy values pass.
	again, err := core.LoadSecretBox(dir)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{sealed: "hunter2", "legacy": "legacy", "": ""} {
		if got, err := again.Open(in); err != nil || got != want {
			t.Errorf("Open(%q) = %q %v", in, got, err)
		}
	}
	other, _ := core.LoadSecretBox(t.TempDir())
	if _, err := other.Open(sealed); err == nil {
		t.Error("another data directory's key opened the secret")
	}
}
