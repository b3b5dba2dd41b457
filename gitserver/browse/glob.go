package browse

import (
	"fmt"
	"path"
	"strings"
)

// Globs select files by name the way .gitignore patterns read: a pattern
// without a slash matches the file name at any depth ("*.go"); one with
// a slash matches the whole path from the root, "**" standing for any
// number of directories ("cmd/**/main.go", "docs/**"). Each segment is
// path.Match syntax: *, ?, [classes].

func checkGlob(g string) error {
	for _, seg := range strings.Split(strings.Trim(g, "/"), "/") {
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("glob %q: %v: %w", g, err, ErrInvalid)
		}
	}
	return nil
}

func matchGlob(g, p string) bool {
	if !strings.Contains(g, "/") {
		ok, _ := path.Match(g, path.Base(p))
		return ok
	}
	return matchSegments(strings.Split(strings.Trim(g, "/"), "/"), strings.Split(p, "/"))
}

func matchSegments(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				return len(segs) > 0 // "dir/**" is what is inside dir
			}
			for i := 0; i <= len(segs); i++ {
				if matchSegments(rest, segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}
