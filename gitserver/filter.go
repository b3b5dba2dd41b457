package gitserver

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// objectFilter is a partial-clone filter (the `filter` line of a fetch,
// git's --filter=<spec>) reduced to the two limits the supported specs
// set: blob:none, blob:limit=<n>[kmg], tree:<depth> and combine: of
// those. An object is sent only if every limit lets it through, which is
// what combine: means, so combining keeps the tightest of each limit.
// Filters never leave out commits or tags, nor an object the client
// names in a want.
type objectFilter struct {
	spec string // as the client sent it, for logs and errors
	// blobLimit: blobs of this many bytes or more are left out; 0 leaves
	// out every blob; -1 filters no blob by size.
	blobLimit int64
	// treeDepth: trees and blobs this deep or deeper are left out, the
	// root tree of a commit being at depth 0 (so tree:0 sends commits
	// only and tree:1 root trees only); -1 filters nothing by depth.
	treeDepth int
}

var errUnsupportedFilter = errors.New("not supported")

// maxFilterSpec bounds a combine: chain; git itself sends one or two.
const maxFilterSpec = 1024

// parseFilter parses a filter spec as `git rev-list --filter` accepts it.
// Specs Tapioca cannot honour (sparse:, object:type=) are refused with an
// error wrapping errUnsupportedFilter, as upload-pack refuses filters it
// is configured not to allow, instead of silently sending everything.
func parseFilter(spec string) (*objectFilter, error) {
	if len(spec) > maxFilterSpec {
		return nil, fmt.Errorf("filter spec too long (%d bytes)", len(spec))
	}
	f := &objectFilter{spec: spec, blobLimit: -1, treeDepth: -1}
	if err := f.add(spec, 0); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *objectFilter) add(spec string, nesting int) error {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "blob:none":
		f.limitBlobs(0)
	case kind == "blob" && strings.HasPrefix(arg, "limit="):
		n, err := parseScaled(strings.TrimPrefix(arg, "limit="))
		if err != nil {
			return fmt.Errorf("invalid filter-spec '%s': %w", spec, err)
		}
		f.limitBlobs(n)
	case kind == "tree":
		d, err := strconv.ParseUint(arg, 10, 31)
		if err != nil {
			return fmt.Errorf("invalid filter-spec '%s': expected tree:<depth>", spec)
		}
		if f.treeDepth < 0 || int(d) < f.treeDepth {
			f.treeDepth = int(d)
		}
	case kind == "combine" && nesting == 0:
		if arg == "" {
			return fmt.Errorf("invalid filter-spec '%s': expected something after combine:", spec)
		}
		for _, sub := range strings.Split(arg, "+") {
			dec, err := url.PathUnescape(sub)
			if err != nil || sub == "" {
				return fmt.Errorf("invalid filter-spec '%s': bad combine element %q", spec, sub)
			}
			if err := f.add(dec, nesting+1); err != nil {
				return err
			}
		}
	case kind == "combine":
		return fmt.Errorf("invalid filter-spec '%s': nested combine filters are not allowed", spec)
	case kind == "sparse" || kind == "object":
		return fmt.Errorf("filter '%s' %w", kind, errUnsupportedFilter)
	default:
		return fmt.Errorf("invalid filter-spec '%s'", spec)
	}
	return nil
}

func (f *objectFilter) limitBlobs(n int64) {
	if f.blobLimit < 0 || n < f.blobLimit {
		f.blobLimit = n
	}
}

// parseScaled reads a byte count with an optional k, m or g suffix
// (binary units), as git's git_parse_ulong does.
func parseScaled(s string) (int64, error) {
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, errors.New("expected a byte count")
	}
	if v > (1<<62)/mult {
		return 0, errors.New("byte count out of range")
	}
	return v * mult, nil
}

// includesAt reports whether an object at depth (root tree 0) passes the
// depth limit. Objects a want names directly are at depth -1: their
// children at 0.
func (f *objectFilter) includesAt(depth int) bool {
	return f == nil || f.treeDepth < 0 || depth < f.treeDepth
}
