package gitserver

// CheckBranchName reports whether branch ("main" or "refs/heads/main") is
// a name git would accept for a branch, so a caller can refuse a bad name
// before it writes anything; ErrInvalidName if not.
func CheckBranchName(branch string) error {
	return checkRefName(branchRef(branch))
}
