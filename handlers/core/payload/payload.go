// Package payload holds the JSON shapes of forge objects as Tapioca shows
// them in webhook payloads: users, repositories, issues, comments, labels,
// pull requests, reviews and hooks. The CodeBoba API answers with the same
// shapes, so a receiver and an API client see one representation. Field
// names and nulls follow the CodeBoba seed's examples exactly;
// Tapioca-only fields are additions, never renames.
package payload

import (
	"strings"
	"time"

	"tapioca/store"
)

// Time formats t as the API shows times: RFC 3339, UTC, seconds.
func Time(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// TimePtr is Time for an optional time.
func TimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := Time(*t)
	return &s
}

// UserBrief is a user or organization inside another object.
type UserBrief struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Kind     string `json:"kind"`
}

// UserOf is the brief form of u.
func UserOf(u *store.User) UserBrief {
	return UserBrief{ID: u.ID, Username: u.Username, Kind: u.Kind}
}

// Ref is the brief form of a user reference.
func Ref(u store.UserRef) UserBrief {
	return UserBrief{ID: u.ID, Username: u.Username, Kind: u.Kind}
}

// Refs is Ref over a list; never nil.
func Refs(us []store.UserRef) []UserBrief {
	out := make([]UserBrief, 0, len(us))
	for _, u := range us {
		out = append(out, Ref(u))
	}
	return out
}

// Profile is a user account as shown on its own.
type Profile struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	Email       *string `json:"email,omitempty"`
	Kind        string  `json:"kind"`
	DisplayName *string `json:"display_name"`
	Bio         *string `json:"bio"`
	URL         *string `json:"url"`
	VouchCount  int64   `json:"vouch_count"`
	Reputation  int64   `json:"reputation"`
	Alias       *string `json:"alias,omitempty"`
	SiteAdmin   *bool   `json:"site_admin,omitempty"`
	CreatedAt   string  `json:"created_at"`
}

// PublicProfile is what anyone sees: no email.
func PublicProfile(u *store.User) Profile {
	p := Profile{
		ID: u.ID, Username: u.Username, Kind: u.Kind, DisplayName: u.DisplayName, Bio: u.Bio, URL: u.URL,
		VouchCount: u.VouchCount, Reputation: u.Reputation, CreatedAt: Time(u.CreatedAt),
	}
	if u.Alias != "" {
		alias := u.Alias
		p.Alias = &alias
	}
	return p
}

// PrivateProfile is the account owner's view: with email.
func PrivateProfile(u *store.User) Profile {
	p := PublicProfile(u)
	email := u.Email
	p.Email = &email
	admin := u.IsAdmin
	p.SiteAdmin = &admin
	return p
}

// Site is what URLs in payloads are built from.
type Site struct {
	BaseURL string // external URL, no trailing slash needed
	SSHHost string // host in ssh_url
	SSHPort int    // 0 or 22: the scp-like form git@host:owner/repo.git
}

func (s Site) base() string { return strings.TrimRight(s.BaseURL, "/") }

// APIURL is the URL of an API path (relative to /api/v1/).
func (s Site) APIURL(path string) string {
	return s.base() + "/api/v1/" + strings.TrimPrefix(path, "/")
}

// CloneURL is the HTTP clone URL of a repository.
func (s Site) CloneURL(fullName string) string { return s.base() + "/" + fullName + ".git" }

// SSHURL is the SSH clone URL of a repository.
func (s Site) SSHURL(fullName string) string {
	host := s.SSHHost
	if host == "" {
		host = "localhost"
	}
	if s.SSHPort != 0 && s.SSHPort != 22 {
		return "ssh://git@" + host + ":" + itoa(s.SSHPort) + "/" + fullName + ".git"
	}
	return "git@" + host + ":" + fullName + ".git"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Repo is a repository.
type Repo struct {
	ID                    int64     `json:"id"`
	Name                  string    `json:"name"`
	FullName              string    `json:"full_name"`
	Description           *string   `json:"description"`
	Visibility            string    `json:"visibility"`
	DefaultBranch         string    `json:"default_branch"`
	CloneURL              string    `json:"clone_url"`
	SSHURL                string    `json:"ssh_url"`
	Owner                 UserBrief `json:"owner"`
	OpenIssuesCount       int       `json:"open_issues_count"`
	OpenPullRequestsCount int       `json:"open_pull_requests_count"`
	VouchCount            int64     `json:"vouch_count"`
	Reputation            int64     `json:"reputation"`
	PushedAt              *string   `json:"pushed_at"`
	CreatedAt             string    `json:"created_at"`
	UpdatedAt             string    `json:"updated_at"`
}

// RepoOf is the shape of r.
func (s Site) RepoOf(r *store.Repo) Repo {
	vis := "public"
	if r.Private {
		vis = "private"
	}
	return Repo{
		ID: r.ID, Name: r.Name, FullName: r.FullName(), Description: r.Description, Visibility: vis,
		DefaultBranch:   r.DefaultBranch,
		CloneURL:        s.CloneURL(r.FullName()),
		SSHURL:          s.SSHURL(r.FullName()),
		Owner:           UserBrief{ID: r.OwnerID, Username: r.OwnerName, Kind: r.OwnerKind},
		OpenIssuesCount: r.OpenIssues, OpenPullRequestsCount: r.OpenPulls,
		VouchCount: r.VouchCount, Reputation: r.Reputation,
		PushedAt:  TimePtr(r.PushedAt),
		CreatedAt: Time(r.CreatedAt), UpdatedAt: Time(r.UpdatedAt),
	}
}

// Repos is RepoOf over a list; never nil.
func (s Site) Repos(rs []*store.Repo) []Repo {
	out := make([]Repo, 0, len(rs))
	for _, r := range rs {
		out = append(out, s.RepoOf(r))
	}
	return out
}

// HookRepo is the repository inside payloads: the API's shape plus
// GitHub's private flag and the API URL.
type HookRepo struct {
	Repo
	Private bool   `json:"private"`
	URL     string `json:"url"`
}

// HookRepoOf is the payload shape of r.
func (s Site) HookRepoOf(r *store.Repo) HookRepo {
	return HookRepo{Repo: s.RepoOf(r), Private: r.Private, URL: s.base() + "/api/v1/repos/" + r.FullName()}
}

// LabelBrief is a label inside an issue.
type LabelBrief struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"`
}

// LabelsBrief is the brief form of a label list; never nil.
func LabelsBrief(ls []*store.Label) []LabelBrief {
	out := make([]LabelBrief, 0, len(ls))
	for _, l := range ls {
		out = append(out, LabelBrief{ID: l.ID, Name: l.Name, Color: l.Color})
	}
	return out
}

// Label is a label on its own.
type Label struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Color       string  `json:"color"`
	Description *string `json:"description"`
}

// LabelOf is the shape of l.
func LabelOf(l *store.Label) Label {
	return Label{ID: l.ID, Name: l.Name, Color: l.Color, Description: l.Description}
}

// Issue is an issue.
type Issue struct {
	ID            int64        `json:"id"`
	Number        int64        `json:"number"`
	Title         string       `json:"title"`
	Body          *string      `json:"body"`
	State         string       `json:"state"`
	Author        UserBrief    `json:"author"`
	Assignees     []UserBrief  `json:"assignees"`
	Labels        []LabelBrief `json:"labels"`
	CommentsCount int          `json:"comments_count"`
	CreatedAt     string       `json:"created_at"`
	UpdatedAt     string       `json:"updated_at"`
	ClosedAt      *string      `json:"closed_at"`
}

// IssueOf is the shape of i.
func IssueOf(i *store.Issue) Issue {
	return Issue{
		ID: i.ID, Number: i.Number, Title: i.Title, Body: i.Body, State: i.State,
		Author: Ref(i.Author), Assignees: Refs(i.Assignees), Labels: LabelsBrief(i.Labels),
		CommentsCount: i.CommentsCount, CreatedAt: Time(i.CreatedAt), UpdatedAt: Time(i.UpdatedAt),
		ClosedAt: TimePtr(i.ClosedAt),
	}
}

// Comment is an issue or pull request comment.
type Comment struct {
	ID          int64     `json:"id"`
	Body        string    `json:"body"`
	Author      UserBrief `json:"author"`
	IssueNumber int64     `json:"issue_number"`
	CreatedAt   string    `json:"created_at"`
	UpdatedAt   string    `json:"updated_at"`
}

// CommentOf is the shape of c.
func CommentOf(c *store.Comment) Comment {
	return Comment{ID: c.ID, Body: c.Body, Author: Ref(c.Author), IssueNumber: c.IssueNumber,
		CreatedAt: Time(c.CreatedAt), UpdatedAt: Time(c.UpdatedAt)}
}

// PullRef is one side of a pull request.
type PullRef struct {
	Ref string `json:"ref"`
	SHA string `json:"sha"`
}

// Pull is a pull request.
type Pull struct {
	ID                  int64        `json:"id"`
	Number              int64        `json:"number"`
	Title               string       `json:"title"`
	Body                *string      `json:"body"`
	State               string       `json:"state"`
	Merged              bool         `json:"merged"`
	Draft               bool         `json:"draft"`
	Head                PullRef      `json:"head"`
	Base                PullRef      `json:"base"`
	Author              UserBrief    `json:"author"`
	Assignees           []UserBrief  `json:"assignees"`
	Labels              []LabelBrief `json:"labels"`
	RequestedReviewers  []UserBrief  `json:"requested_reviewers"`
	CommentsCount       int          `json:"comments_count"`
	ReviewCommentsCount int          `json:"review_comments_count"`
	CommitsCount        int          `json:"commits_count"`
	Additions           int          `json:"additions"`
	Deletions           int          `json:"deletions"`
	ChangedFiles        int          `json:"changed_files"`
	CreatedAt           string       `json:"created_at"`
	UpdatedAt           string       `json:"updated_at"`
	ClosedAt            *string      `json:"closed_at"`
	MergedAt            *string      `json:"merged_at"`
	Mergeable           bool         `json:"mergeable"`
	MergedBy            *UserBrief   `json:"merged_by"`
	MergeCommitSHA      *string      `json:"merge_commit_sha"`
	// MergeableState and MergeBlockers are in single pull request
	// answers (as GitHub's mergeable_state): what stands in the way of a
	// merge, and why when it is blocked.
	MergeableState string   `json:"mergeable_state,omitempty" doc:"clean, blocked, dirty, behind, unstable, draft or unknown (single pull request answers only)"`
	MergeBlockers  []string `json:"merge_blockers,omitempty" doc:"Why the pull request is blocked"`
}

// PullOf is the shape of p.
func PullOf(p *store.Pull) Pull {
	out := Pull{
		ID: p.ID, Number: p.Number, Title: p.Title, Body: p.Body, State: p.State, Merged: p.Merged(), Draft: p.Draft,
		Head:   PullRef{Ref: p.HeadRef, SHA: p.Git.HeadSHA},
		Base:   PullRef{Ref: p.BaseRef, SHA: p.Git.BaseSHA},
		Author: Ref(p.Author), Assignees: Refs(p.Assignees), Labels: LabelsBrief(p.Labels),
		RequestedReviewers: Refs(p.RequestedReviewers),
		CommentsCount:      p.CommentsCount, ReviewCommentsCount: p.ReviewCommentsCount,
		CommitsCount: p.Git.Commits, Additions: p.Git.Additions, Deletions: p.Git.Deletions, ChangedFiles: p.Git.ChangedFiles,
		CreatedAt: Time(p.CreatedAt), UpdatedAt: Time(p.UpdatedAt), ClosedAt: TimePtr(p.ClosedAt),
		MergedAt: TimePtr(p.MergedAt),
		// A merged pull request cannot be merged again.
		Mergeable:      p.Git.Mergeable && !p.Merged(),
		MergeCommitSHA: p.MergeCommitSHA,
	}
	if p.MergedBy != nil {
		b := Ref(*p.MergedBy)
		out.MergedBy = &b
	}
	return out
}

// ReviewComment is an inline comment of a review.
type ReviewComment struct {
	ID        int64     `json:"id"`
	Path      string    `json:"path"`
	Line      int       `json:"line"`
	Body      string    `json:"body"`
	Author    UserBrief `json:"author"`
	CreatedAt string    `json:"created_at"`
}

// Review is a pull request review.
type Review struct {
	ID          int64           `json:"id"`
	Body        *string         `json:"body"`
	State       string          `json:"state"`
	Author      UserBrief       `json:"author"`
	CommitID    string          `json:"commit_id"`
	Comments    []ReviewComment `json:"comments"`
	SubmittedAt string          `json:"submitted_at"`
}

// ReviewOf is the shape of rv.
func ReviewOf(rv *store.Review) Review {
	out := Review{ID: rv.ID, Body: rv.Body, State: rv.State, Author: Ref(rv.Author), CommitID: rv.CommitSHA,
		Comments: make([]ReviewComment, 0, len(rv.Comments)), SubmittedAt: Time(rv.SubmittedAt)}
	for _, c := range rv.Comments {
		out.Comments = append(out.Comments, ReviewComment{ID: c.ID, Path: c.Path, Line: c.Line, Body: c.Body,
			Author: Ref(c.Author), CreatedAt: Time(c.CreatedAt)})
	}
	return out
}

// Webhook is a hook's configuration; the secret is write-only and never
// shown.
type Webhook struct {
	ID          int64    `json:"id"`
	URL         string   `json:"url"`
	ContentType string   `json:"content_type"`
	Events      []string `json:"events"`
	Active      bool     `json:"active"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

// WebhookOf is the shape of h.
func WebhookOf(h *store.Webhook) Webhook {
	return Webhook{ID: h.ID, URL: h.URL, ContentType: h.ContentType, Events: h.Events, Active: h.Active,
		CreatedAt: Time(h.CreatedAt), UpdatedAt: Time(h.UpdatedAt)}
}

// PushCommit is a commit in a push payload.
type PushCommit struct {
	ID          string `json:"id"`
	TreeID      string `json:"tree_id"`
	Message     string `json:"message"`
	Author      string `json:"author"` // the account whose email the commit has, else the git author name
	AuthorName  string `json:"author_name"`
	AuthorEmail string `json:"author_email"`
	Timestamp   string `json:"timestamp"`
}
