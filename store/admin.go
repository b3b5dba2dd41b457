package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SiteCounts are the totals the dashboard's overview shows.
type SiteCounts struct {
	Users, Orgs, Repos, PrivateRepos int
	Issues, OpenIssues               int
	Pulls, OpenPulls                 int
	Sessions                         int
}

// Counts returns the site totals in one read; issues and pull requests
// come from issue_counts, a few rows per repository, not every issue.
func (s *Store) Counts(ctx context.Context) (SiteCounts, error) {
	var c SiteCounts
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM users WHERE type = 'user'),
		(SELECT COUNT(*) FROM users WHERE type = 'org'),
		(SELECT COUNT(*) FROM repos),
		(SELECT COUNT(*) FROM repos WHERE private = 1),
		(SELECT COALESCE(SUM(n), 0) FROM issue_counts WHERE is_pull = 0),
		(SELECT COALESCE(SUM(n), 0) FROM issue_counts WHERE is_pull = 0 AND state = 'open'),
		(SELECT COALESCE(SUM(n), 0) FROM issue_counts WHERE is_pull = 1),
		(SELECT COALESCE(SUM(n), 0) FROM issue_counts WHERE is_pull = 1 AND state = 'open'),
		(SELECT COUNT(*) FROM sessions WHERE expiry >= julianday('now'))`).
		Scan(&c.Users, &c.Orgs, &c.Repos, &c.PrivateRepos, &c.Issues, &c.OpenIssues, &c.Pulls, &c.OpenPulls, &c.Sessions)
	if err != nil {
		return c, fmt.Errorf("site counts: %w", err)
	}
	return c, nil
}

// Activity is one line of the overview's recent activity.
type Activity struct {
	At      time.Time
	Kind    string // user_registered, org_created, repo_created, repo_pushed, issue_opened, pull_opened, admin
	Actor   string
	Subject string
	// SubjectKind says what Subject names, for a link: user, org, repo,
	// issue (owner/name#n), or for admin entries what the action was done
	// to (see AuditOf); "" when there is nothing to link.
	SubjectKind string
	Detail      string // for admin entries: the action
}

// RecentActivity merges the newest sign-ups, repositories, pushes, issues,
// pull requests and dashboard actions, newest first. Each source is cut to
// limit before the merge so the query stays cheap on a large forge.
func (s *Store) RecentActivity(ctx context.Context, limit int) ([]Activity, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT at, kind, actor, subject, subject_kind, detail FROM (
		SELECT * FROM (SELECT u.created_at AS at, CASE u.type WHEN 'org' THEN 'org_created' ELSE 'user_registered' END AS kind,
			u.username AS actor, u.username AS subject, u.type AS subject_kind, '' AS detail
			FROM users u ORDER BY u.created_at DESC, u.id DESC LIMIT ?1)
		UNION ALL
		SELECT * FROM (SELECT r.created_at, 'repo_created', o.username, o.username || '/' || r.name, 'repo', ''
			FROM repos r JOIN users o ON o.id = r.owner_id ORDER BY r.created_at DESC, r.id DESC LIMIT ?1)
		UNION ALL
		SELECT * FROM (SELECT r.pushed_at, 'repo_pushed', o.username, o.username || '/' || r.name, 'repo', ''
			FROM repos r JOIN users o ON o.id = r.owner_id WHERE r.pushed_at > r.created_at ORDER BY r.pushed_at DESC LIMIT ?1)
		UNION ALL
		SELECT * FROM (SELECT i.created_at, CASE i.is_pull WHEN 1 THEN 'pull_opened' ELSE 'issue_opened' END,
			COALESCE(a.username, 'ghost'), o.username || '/' || r.name || '#' || i.number, 'issue', i.title
			FROM issues i JOIN repos r ON r.id = i.repo_id JOIN users o ON o.id = r.owner_id
			LEFT JOIN users a ON a.id = i.author_id ORDER BY i.id DESC LIMIT ?1)
		UNION ALL
		SELECT * FROM (SELECT created_at, 'admin', actor, target, target_kind, action FROM audit_log ORDER BY id DESC LIMIT ?1)
	) ORDER BY at DESC LIMIT ?1`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent activity: %w", err)
	}
	defer rows.Close()
	var out []Activity
	for rows.Next() {
		var a Activity
		var at any
		if err := rows.Scan(&at, &a.Kind, &a.Actor, &a.Subject, &a.SubjectKind, &a.Detail); err != nil {
			return nil, fmt.Errorf("scan activity: %w", err)
		}
		// A UNION loses the column's declared type, so the driver may hand
		// the time back as text.
		switch v := at.(type) {
		case time.Time:
			a.At = v.UTC()
		case string:
			a.At = parseStoredTime(v)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// parseStoredTime reads a time as the driver writes it (with
// _time_format=sqlite); a zero time if it cannot.
func parseStoredTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05-07:00",
		"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Audit records a dashboard action on something it does not name the
// kind of.
func (s *Store) Audit(ctx context.Context, actor, action, target string) error {
	return s.AuditOf(ctx, actor, action, "", target)
}

// Kinds of audit targets, which recent activity links to their pages.
const (
	TargetUser     = "user"
	TargetOrg      = "org"
	TargetRepo     = "repo"     // owner/name
	TargetDelivery = "delivery" // #id
	TargetHook     = "hook"     // #id
	TargetJob      = "job"
	TargetSettings = "settings"
)

// AuditOperator is the actor the audit log names for the command line's
// administration commands. No account can be called that (it has a
// space), so the dashboard never links it to one.
const AuditOperator = "command line"

// AuditOf records a dashboard action on a target of a kind (one of the
// Target constants, or "" for something that no longer exists).
func (s *Store) AuditOf(ctx context.Context, actor, action, kind, target string) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO audit_log(actor, action, target, target_kind, created_at) VALUES (?, ?, ?, ?, ?)`,
		actor, action, target, kind, Now()); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// SoleOwnerError is returned by DeleteUser for a user who is the only
// owner of organizations: deleting them would orphan those.
type SoleOwnerError struct{ Orgs []string }

func (e *SoleOwnerError) Error() string {
	return "the only owner of " + strings.Join(e.Orgs, ", ")
}

// ErrLastAdmin is returned when a change would leave the site without an
// enabled site administrator.
var ErrLastAdmin = errors.New("the site must keep at least one enabled site administrator")

// DeleteUser removes a user account and, by cascade, their repositories,
// tokens, keys and memberships; their issues and comments stay, authorless.
// It returns the ids of the deleted repositories so the caller can remove
// them from disk.
func (s *Store) DeleteUser(ctx context.Context, id int64) ([]int64, error) {
	var ids []int64
	err := s.Tx(ctx, func(tx *Store) error {
		orgs, err := tx.soleOwnedOrgs(ctx, id)
		if err != nil {
			return err
		}
		if len(orgs) > 0 {
			return &SoleOwnerError{Orgs: orgs}
		}
		if err := tx.keepsAnAdmin(ctx, id); err != nil {
			return err
		}
		if ids, err = tx.repoIDs(ctx, `WHERE owner_id = ?`, id); err != nil {
			return err
		}
		return tx.execOne(ctx, "delete user", `DELETE FROM users WHERE id = ? AND type = 'user'`, id)
	})
	return ids, err
}

// soleOwnedOrgs lists the organizations whose only owner is userID.
func (s *Store) soleOwnedOrgs(ctx context.Context, userID int64) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT o.username FROM org_members m JOIN users o ON o.id = m.org_id
		WHERE m.user_id = ? AND m.role = 'owner'
		AND (SELECT COUNT(*) FROM org_members x WHERE x.org_id = m.org_id AND x.role = 'owner') = 1
		ORDER BY lower(o.username)`, userID)
	if err != nil {
		return nil, fmt.Errorf("sole-owned organizations: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// keepsAnAdmin fails with ErrLastAdmin when userID is the last enabled
// site administrator.
func (s *Store) keepsAnAdmin(ctx context.Context, userID int64) error {
	var others int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE type = 'user' AND is_admin = 1 AND disabled = 0 AND id <> ?`,
		userID).Scan(&others)
	if err != nil {
		return fmt.Errorf("count administrators: %w", err)
	}
	if others == 0 {
		var isAdmin bool
		if err := s.r.QueryRowContext(ctx, `SELECT is_admin AND NOT disabled FROM users WHERE id = ?`, userID).Scan(&isAdmin); err != nil {
			return notFound(err, "user")
		}
		if isAdmin {
			return ErrLastAdmin
		}
	}
	return nil
}

// SetAdminChecked is SetAdmin that refuses to revoke the last enabled site
// administrator.
func (s *Store) SetAdminChecked(ctx context.Context, id int64, admin bool) error {
	return s.Tx(ctx, func(tx *Store) error {
		if !admin {
			if err := tx.keepsAnAdmin(ctx, id); err != nil {
				return err
			}
		}
		return tx.SetAdmin(ctx, id, admin)
	})
}

// SetDisabledChecked is SetDisabled that refuses to disable the last
// enabled site administrator.
func (s *Store) SetDisabledChecked(ctx context.Context, id int64, disabled bool) error {
	return s.Tx(ctx, func(tx *Store) error {
		if disabled {
			if err := tx.keepsAnAdmin(ctx, id); err != nil {
				return err
			}
		}
		return tx.SetDisabled(ctx, id, disabled)
	})
}

// OrgSummary is an organization with its member and repository counts.
type OrgSummary struct {
	Org     *User
	Members int
	Repos   int
}

// ListOrgSummaries lists organizations by name, optionally filtered by a
// substring of the name or display name, with the total before paging.
func (s *Store) ListOrgSummaries(ctx context.Context, query string, limit, offset int) ([]OrgSummary, int, error) {
	countQuery, pageQuery, args := accountListSQL(TypeOrg, query, "u.username", "u.display_name")
	return rowsPage(ctx, s, "organizations", countQuery, `SELECT `+userColumns+`,
			(SELECT COUNT(*) FROM org_members m WHERE m.org_id = u.id),
			(SELECT COUNT(*) FROM repos r WHERE r.owner_id = u.id)`+pageQuery, true, args, limit, offset,
		func(rows *sql.Rows) (OrgSummary, error) {
			var o OrgSummary
			u, err := scanUser(rows, &o.Members, &o.Repos)
			o.Org = u
			return o, err
		})
}

// AllRepoIDs lists every repository id, for jobs that visit each one.
func (s *Store) AllRepoIDs(ctx context.Context) ([]int64, error) { return s.repoIDs(ctx, ``) }

// repoIDs lists the ids of the repositories cond (a WHERE clause or "")
// selects, in id order.
func (s *Store) repoIDs(ctx context.Context, cond string, args ...any) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM repos `+cond+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list repository ids: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
