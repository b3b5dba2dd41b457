package store

import (
	"regexp"
	"strings"
)

var (
	namespaceRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$`)
	repoNameRe  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// reservedNames are taken by Tapioca's own routes (SPEC §3) or would be
// confusing as an owner in a URL.
var reservedNames = map[string]bool{
	"api": true, "admin": true, "assets": true, "login": true, "logout": true,
	"v1": true, "settings": true, "user": true, "users": true, "orgs": true,
	"org": true, "repos": true, "explore": true, "static": true, "health": true,
	"new": true, "tokens": true, "vouches": true, "help": true, "about": true,
	"favicon.ico": true, "robots.txt": true, "git": true, "info": true,
	"signup": true, "register": true, "tapioca": true, "root": true, "system": true,
	"ghost": true, "dashboard": true, "search": true, "notifications": true,
	"projects": true, "repositories": true, "ssh": true, "raw": true, "archive": true,
	"mcp": true,
}

// ValidNamespaceName reports whether s may name a user, organization or
// alias: letters, digits and hyphens, 1-39 characters, not starting or ending
// with a hyphen.
func ValidNamespaceName(s string) bool {
	return namespaceRe.MatchString(s)
}

// ReservedName reports whether s is kept for Tapioca's own routes.
func ReservedName(s string) bool { return reservedNames[strings.ToLower(s)] }

// ValidRepoName reports whether s may name a repository: letters, digits,
// '-', '_' and '.', 1-100 characters, not "." or "..", not ending in ".git".
func ValidRepoName(s string) bool {
	if !repoNameRe.MatchString(s) || s == "." || s == ".." {
		return false
	}
	return !strings.HasSuffix(strings.ToLower(s), ".git")
}

// ValidBranchName follows git check-ref-format for a branch name.
func ValidBranchName(s string) bool {
	if s == "" || len(s) > 255 || s == "@" || s == "HEAD" {
		return false
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") ||
		strings.HasSuffix(s, ".") || strings.HasSuffix(s, ".lock") ||
		strings.Contains(s, "..") || strings.Contains(s, "//") || strings.Contains(s, "@{") {
		return false
	}
	for _, part := range strings.Split(s, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return false
		}
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return false
		}
	}
	return true
}
