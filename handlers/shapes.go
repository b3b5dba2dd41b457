package handlers

import (
	"net/url"
	"strings"

	"tapioca/store"
)

// The JSON shapes of the CodeBoba API. Field names and nulls follow the
// seed's examples exactly; Tapioca-only fields are additions, never renames.

type userBriefJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Kind     string `json:"kind"`
}

func userBrief(u *store.User) userBriefJSON {
	return userBriefJSON{ID: u.ID, Username: u.Username, Kind: u.Kind}
}

type profileJSON struct {
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

// publicProfile is what anyone sees: no email.
func publicProfile(u *store.User) profileJSON {
	p := profileJSON{
		ID: u.ID, Username: u.Username, Kind: u.Kind, DisplayName: u.DisplayName, Bio: u.Bio, URL: u.URL,
		VouchCount: u.VouchCount, Reputation: u.Reputation, CreatedAt: timeJSON(u.CreatedAt),
	}
	if u.Alias != "" {
		alias := u.Alias
		p.Alias = &alias
	}
	return p
}

// privateProfile is the account owner's view: with email.
func privateProfile(u *store.User) profileJSON {
	p := publicProfile(u)
	email := u.Email
	p.Email = &email
	admin := u.IsAdmin
	p.SiteAdmin = &admin
	return p
}

type repoJSON struct {
	ID                    int64         `json:"id"`
	Name                  string        `json:"name"`
	FullName              string        `json:"full_name"`
	Description           *string       `json:"description"`
	Visibility            string        `json:"visibility"`
	DefaultBranch         string        `json:"default_branch"`
	CloneURL              string        `json:"clone_url"`
	SSHURL                string        `json:"ssh_url"`
	Owner                 userBriefJSON `json:"owner"`
	OpenIssuesCount       int           `json:"open_issues_count"`
	OpenPullRequestsCount int           `json:"open_pull_requests_count"`
	VouchCount            int64         `json:"vouch_count"`
	Reputation            int64         `json:"reputation"`
	PushedAt              *string       `json:"pushed_at"`
	CreatedAt             string        `json:"created_at"`
	UpdatedAt             string        `json:"updated_at"`
}

func (a *App) repoJSON(r *store.Repo) repoJSON {
	vis := "public"
	if r.Private {
		vis = "private"
	}
	base := strings.TrimRight(a.baseURL(), "/")
	host := "localhost"
	if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return repoJSON{
		ID: r.ID, Name: r.Name, FullName: r.FullName(), Description: r.Description, Visibility: vis,
		DefaultBranch:   r.DefaultBranch,
		CloneURL:        base + "/" + r.FullName() + ".git",
		SSHURL:          "git@" + host + ":" + r.FullName() + ".git",
		Owner:           userBriefJSON{ID: r.OwnerID, Username: r.OwnerName, Kind: r.OwnerKind},
		OpenIssuesCount: r.OpenIssues, OpenPullRequestsCount: r.OpenPulls,
		VouchCount: r.VouchCount, Reputation: r.Reputation,
		PushedAt:  timePtrJSON(r.PushedAt),
		CreatedAt: timeJSON(r.CreatedAt), UpdatedAt: timeJSON(r.UpdatedAt),
	}
}

func (a *App) reposJSON(rs []*store.Repo) []repoJSON {
	out := make([]repoJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, a.repoJSON(r))
	}
	return out
}
