package payload

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"tapioca/gitserver/browse"
	"tapioca/gitserver/commitfiles"
	"tapioca/gitserver/gitdiff"
	"tapioca/store"
)

// The shapes of a repository's code as the API shows it: GitHub's where
// GitHub has one.

// GitSignature is who made a commit and when.
type GitSignature struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
}

// SHARef is a reference to an object by its SHA.
type SHARef struct {
	SHA string `json:"sha"`
}

// CommitData is a commit's git content.
type CommitData struct {
	Author    GitSignature `json:"author"`
	Committer GitSignature `json:"committer"`
	Message   string       `json:"message"`
	Tree      SHARef       `json:"tree"`
}

// Commit is a commit in a list.
type Commit struct {
	SHA     string     `json:"sha"`
	Commit  CommitData `json:"commit"`
	Parents []SHARef   `json:"parents"`
	URL     string     `json:"url"`
}

// Stats sums a diff's lines.
type Stats struct {
	Additions int `json:"additions"`
	Deletions int `json:"deletions"`
	Total     int `json:"total"`
}

// File is one changed file of a commit, comparison or pull request.
type File struct {
	SHA              string `json:"sha"`
	Filename         string `json:"filename"`
	Status           string `json:"status"`
	Additions        int    `json:"additions"`
	Deletions        int    `json:"deletions"`
	Changes          int    `json:"changes"`
	Patch            string `json:"patch,omitempty"`
	PreviousFilename string `json:"previous_filename,omitempty"`
	Binary           bool   `json:"binary"`
	// PatchOmitted is set when the file's patch was too large to include.
	PatchOmitted bool `json:"patch_omitted"`
}

// CommitDetail is one commit with what it changed.
type CommitDetail struct {
	Commit
	Stats Stats  `json:"stats"`
	Files []File `json:"files"`
}

// Comparison is base...head.
type Comparison struct {
	Status          string   `json:"status"`
	AheadBy         int      `json:"ahead_by"`
	BehindBy        int      `json:"behind_by"`
	TotalCommits    int      `json:"total_commits"`
	BaseCommit      SHARef   `json:"base_commit"`
	HeadCommit      SHARef   `json:"head_commit"`
	MergeBaseCommit SHARef   `json:"merge_base_commit"`
	Commits         []Commit `json:"commits"`
	Files           []File   `json:"files"`
	Stats           Stats    `json:"stats"`
}

// Content is a file, symlink or submodule at a path.
type Content struct {
	Type        string  `json:"type"`
	Name        string  `json:"name"`
	Path        string  `json:"path"`
	SHA         string  `json:"sha"`
	Size        int64   `json:"size"`
	Encoding    string  `json:"encoding"`
	Content     string  `json:"content"`
	Target      string  `json:"target,omitempty"`
	DownloadURL *string `json:"download_url"`
	URL         string  `json:"url"`
}

// ContentEntry is one entry of a directory's listing.
type ContentEntry struct {
	Type        string  `json:"type"`
	Name        string  `json:"name"`
	Path        string  `json:"path"`
	SHA         string  `json:"sha"`
	Size        int64   `json:"size"`
	DownloadURL *string `json:"download_url"`
	URL         string  `json:"url"`
}

// TreeEntry is one entry of a tree listing.
type TreeEntry struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
	Type string `json:"type"`
	SHA  string `json:"sha"`
	Size *int64 `json:"size,omitempty"`
}

// Tree is a tree listing.
type Tree struct {
	SHA       string      `json:"sha"`
	Tree      []TreeEntry `json:"tree"`
	Truncated bool        `json:"truncated"`
}

// GrepMatch is one matching line.
type GrepMatch struct {
	Path          string `json:"path"`
	Line          int    `json:"line"`
	Column        int    `json:"column"`
	Text          string `json:"text"`
	TextTruncated bool   `json:"text_truncated"`
}

// Grep is a search's result.
type Grep struct {
	Commit        string      `json:"commit"`
	Matches       []GrepMatch `json:"matches"`
	Truncated     bool        `json:"truncated"`
	StoppedBy     string      `json:"stopped_by,omitempty"`
	FilesSearched int         `json:"files_searched"`
	SkippedBinary int         `json:"skipped_binary"`
	SkippedLarge  int         `json:"skipped_large"`
	BytesSearched int64       `json:"bytes_searched"`
}

// Tag is a tag.
type Tag struct {
	Name      string        `json:"name"`
	SHA       string        `json:"sha"`
	Commit    *SHARef       `json:"commit"`
	Annotated bool          `json:"annotated"`
	Message   string        `json:"message,omitempty"`
	Tagger    *GitSignature `json:"tagger,omitempty"`
}

// WrittenFile is a file a commit made through the API wrote.
type WrittenFile struct {
	Path string `json:"path"`
	SHA  string `json:"sha"`
	Mode string `json:"mode"`
	Size int64  `json:"size"`
}

// FileCommit is the answer of a single-file write (GitHub's contents
// PUT and DELETE): the file as it now is (null after a delete) and the
// commit.
type FileCommit struct {
	Content *WrittenFile `json:"content"`
	Commit  Commit       `json:"commit"`
}

// CommitWrite is the answer of a multi-file commit.
type CommitWrite struct {
	Branch  string        `json:"branch"`
	Created bool          `json:"created"`
	Commit  Commit        `json:"commit"`
	Files   []WrittenFile `json:"files"`
}

// Status is a commit status.
type Status struct {
	ID          int64     `json:"id"`
	State       string    `json:"state"`
	Context     string    `json:"context"`
	Description *string   `json:"description"`
	TargetURL   *string   `json:"target_url"`
	Creator     UserBrief `json:"creator"`
	CreatedAt   string    `json:"created_at"`
	UpdatedAt   string    `json:"updated_at"`
}

// CombinedStatus is a commit's current state.
type CombinedStatus struct {
	State      string   `json:"state"`
	SHA        string   `json:"sha"`
	TotalCount int      `json:"total_count"`
	Statuses   []Status `json:"statuses"`
}

// Mode is a file mode as git prints it (100644).
func Mode(m filemode.FileMode) string { return fmt.Sprintf("%06o", uint32(m)) }

func signatureOf(s browse.Signature) GitSignature {
	return GitSignature{Name: s.Name, Email: s.Email, Date: Time(s.When)}
}

func (s Site) repoAPI(repo *store.Repo, rest string) string {
	return s.APIURL("repos/" + repo.FullName() + "/" + rest)
}

// escapePath escapes each segment of a repository path for a URL.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		parts[i] = url.PathEscape(part)
	}
	return strings.Join(parts, "/")
}

// CommitOf is the list shape of c.
func (s Site) CommitOf(repo *store.Repo, c browse.Commit) Commit {
	out := Commit{SHA: c.SHA.String(), Commit: CommitData{Author: signatureOf(c.Author), Committer: signatureOf(c.Committer),
		Message: c.Message, Tree: SHARef{SHA: c.Tree.String()}}, Parents: []SHARef{}, URL: s.repoAPI(repo, "commits/"+c.SHA.String())}
	for _, p := range c.Parents {
		out.Parents = append(out.Parents, SHARef{SHA: p.String()})
	}
	return out
}

// Commits is CommitOf over a list; never nil.
func (s Site) Commits(repo *store.Repo, cs []browse.Commit) []Commit {
	out := make([]Commit, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.CommitOf(repo, c))
	}
	return out
}

// FileOf is the shape of a changed file.
func FileOf(f gitdiff.File) File {
	sha := f.NewHash
	if sha.IsZero() {
		sha = f.OldHash
	}
	return File{SHA: sha.String(), Filename: f.Path, Status: string(f.Status), Additions: f.Additions, Deletions: f.Deletions,
		Changes: f.Additions + f.Deletions, Patch: f.Patch, PreviousFilename: f.PreviousPath, Binary: f.Binary, PatchOmitted: f.PatchOmitted}
}

// Files is FileOf over a list; never nil.
func Files(fs []gitdiff.File) []File {
	out := make([]File, 0, len(fs))
	for _, f := range fs {
		out = append(out, FileOf(f))
	}
	return out
}

func statsOf(st browse.Stats) Stats {
	return Stats{Additions: st.Additions, Deletions: st.Deletions, Total: st.Total}
}

// CommitDetailOf is the shape of one commit with its files.
func (s Site) CommitDetailOf(repo *store.Repo, d *browse.CommitDetail) CommitDetail {
	return CommitDetail{Commit: s.CommitOf(repo, d.Commit), Stats: statsOf(d.Stats), Files: Files(d.Files)}
}

// ComparisonOf is the shape of a comparison.
func (s Site) ComparisonOf(repo *store.Repo, c *browse.Comparison) Comparison {
	return Comparison{Status: c.Status, AheadBy: c.AheadBy, BehindBy: c.BehindBy, TotalCommits: c.AheadBy,
		BaseCommit: SHARef{c.Base.String()}, HeadCommit: SHARef{c.Head.String()}, MergeBaseCommit: SHARef{c.MergeBase.String()},
		Commits: s.Commits(repo, c.Commits), Files: Files(c.Files), Stats: statsOf(c.Stats)}
}

// RawURL is where a file's bytes are served at commit.
func (s Site) RawURL(repo *store.Repo, commit plumbing.Hash, path string) string {
	return s.repoAPI(repo, "raw/"+commit.String()+"/"+escapePath(path))
}

func (s Site) contentsURL(repo *store.Repo, path string, commit plumbing.Hash) string {
	return s.repoAPI(repo, "contents/"+escapePath(path)) + "?ref=" + commit.String()
}

// ContentOf is the shape of a file, symlink or submodule. A file larger
// than what the answer carries has encoding "none" and no content.
func (s Site) ContentOf(repo *store.Repo, c *browse.Content) Content {
	out := Content{Type: c.Type, Name: c.Name, Path: c.Path, SHA: c.SHA.String(), Size: c.Size, Target: c.Target,
		URL: s.contentsURL(repo, c.Path, c.Commit)}
	switch {
	case c.Type == "submodule":
		out.Encoding = "none"
	case c.TooLarge:
		out.Encoding = "none"
	default:
		out.Encoding, out.Content = "base64", base64.StdEncoding.EncodeToString(c.Content)
	}
	if c.Type == "file" || c.Type == "symlink" {
		u := s.RawURL(repo, c.Commit, c.Path)
		out.DownloadURL = &u
	}
	return out
}

// EntriesOf is the shape of a directory listing; never nil.
func (s Site) EntriesOf(repo *store.Repo, c *browse.Content) []ContentEntry {
	out := make([]ContentEntry, 0, len(c.Entries))
	for _, e := range c.Entries {
		ce := ContentEntry{Type: e.Type, Name: e.Name, Path: e.Path, SHA: e.SHA.String(), Size: e.Size,
			URL: s.contentsURL(repo, e.Path, c.Commit)}
		if e.Mode.IsFile() {
			u := s.RawURL(repo, c.Commit, e.Path)
			ce.DownloadURL = &u
		}
		out = append(out, ce)
	}
	return out
}

// TreeOf is the shape of a tree listing.
func TreeOf(t *browse.Tree) Tree {
	out := Tree{SHA: t.SHA.String(), Tree: make([]TreeEntry, 0, len(t.Entries)), Truncated: t.Truncated}
	for _, e := range t.Entries {
		te := TreeEntry{Path: e.Path, Mode: Mode(e.Mode), Type: e.Type, SHA: e.SHA.String()}
		if e.Type == "blob" {
			size := e.Size
			te.Size = &size
		}
		out.Tree = append(out.Tree, te)
	}
	return out
}

// GrepOf is the shape of a search's result.
func GrepOf(g *browse.GrepResult) Grep {
	out := Grep{Commit: g.Commit.String(), Matches: make([]GrepMatch, 0, len(g.Matches)), Truncated: g.Truncated, StoppedBy: g.StoppedBy,
		FilesSearched: g.FilesSearched, SkippedBinary: g.SkippedBinary, SkippedLarge: g.SkippedLarge, BytesSearched: g.BytesSearched}
	for _, m := range g.Matches {
		out.Matches = append(out.Matches, GrepMatch{Path: m.Path, Line: m.Line, Column: m.Column, Text: m.Text, TextTruncated: m.TextTruncated})
	}
	return out
}

// TagOf is the shape of a tag.
func TagOf(t browse.Tag) Tag {
	out := Tag{Name: t.Name, SHA: t.SHA.String(), Annotated: t.Annotated}
	if !t.Commit.IsZero() {
		out.Commit = &SHARef{SHA: t.Commit.String()}
	}
	if t.Annotated {
		out.Message = t.Message
		sig := signatureOf(t.Tagger)
		out.Tagger = &sig
	}
	return out
}

// WrittenFileOf is the shape of a file a commit wrote.
func WrittenFileOf(f commitfiles.File) WrittenFile {
	return WrittenFile{Path: f.Path, SHA: f.SHA.String(), Mode: Mode(f.Mode), Size: f.Size}
}

// WrittenFiles is WrittenFileOf over a list; never nil.
func WrittenFiles(fs []commitfiles.File) []WrittenFile {
	out := make([]WrittenFile, 0, len(fs))
	for _, f := range fs {
		out = append(out, WrittenFileOf(f))
	}
	return out
}

// StatusOf is the shape of a commit status.
func StatusOf(st *store.CommitStatus) Status {
	return Status{ID: st.ID, State: st.State, Context: st.Context, Description: st.Description, TargetURL: st.TargetURL,
		Creator: Ref(st.Creator), CreatedAt: Time(st.CreatedAt), UpdatedAt: Time(st.CreatedAt)}
}

// Statuses is StatusOf over a list; never nil.
func Statuses(sts []*store.CommitStatus) []Status {
	out := make([]Status, 0, len(sts))
	for _, st := range sts {
		out = append(out, StatusOf(st))
	}
	return out
}
