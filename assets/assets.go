// Package assets holds the admin dashboard's static files (stylesheet,
// script, icon), embedded in the binary and served at /assets/.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

//go:embed admin.css admin.js logo.svg
var FS embed.FS

// Version is a short hash of every embedded file. Pages link assets with
// ?v=Version, so browsers may cache them for long and still pick up a new
// binary's files at once.
func Version() string {
	h := sha256.New()
	_ = fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := FS.ReadFile(path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}
