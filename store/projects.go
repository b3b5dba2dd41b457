package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// Project is a deployable thing in a namespace (the oCore dialect).
type Project struct {
	ID                 int64
	PublicID           string // UUID
	OwnerID            int64
	OwnerName          string
	Name, Slug         string
	Description        string
	Archived           bool
	TestSuiteEnabled   bool
	TestGateStaging    string
	TestGateProduction string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

const projectColumns = `p.id, p.public_id, p.owner_id, u.username, p.name, p.slug, p.description, p.archived,
	p.test_suite_enabled, p.test_gate_staging, p.test_gate_production, p.created_at, p.updated_at`

const projectFrom = ` FROM projects p JOIN users u ON u.id = p.owner_id`

func scanProject(row scanner) (*Project, error) {
	p := &Project{}
	if err := row.Scan(&p.ID, &p.PublicID, &p.OwnerID, &p.OwnerName, &p.Name, &p.Slug, &p.Description, &p.Archived,
		&p.TestSuiteEnabled, &p.TestGateStaging, &p.TestGateProduction, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

// CreateProject inserts p (its ids and times are set); ErrDuplicate when
// the slug is taken in the namespace.
func (s *Store) CreateProject(ctx context.Context, p *Project) (*Project, error) {
	now := Now()
	res, err := s.w.ExecContext(ctx, `INSERT INTO projects(public_id, owner_id, name, slug, description, archived,
		test_suite_enabled, test_gate_staging, test_gate_production, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, NewGUID(), p.OwnerID, p.Name, p.Slug, p.Description, boolInt(p.Archived),
		boolInt(p.TestSuiteEnabled), p.TestGateStaging, p.TestGateProduction, now, now)
	if err != nil {
		if isUnique(err) {
			return nil, fmt.Errorf("project slug %q: %w", p.Slug, ErrDuplicate)
		}
		return nil, fmt.Errorf("create project: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	return s.ProjectByID(ctx, id)
}

// ProjectByID loads a project.
func (s *Store) ProjectByID(ctx context.Context, id int64) (*Project, error) {
	p, err := scanProject(s.r.QueryRowContext(ctx, `SELECT `+projectColumns+projectFrom+` WHERE p.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "project")
	}
	return p, nil
}

// ProjectByPublicID loads a project by its UUID.
func (s *Store) ProjectByPublicID(ctx context.Context, publicID string) (*Project, error) {
	p, err := scanProject(s.r.QueryRowContext(ctx, `SELECT `+projectColumns+projectFrom+` WHERE p.public_id = ?`, publicID))
	if err != nil {
		return nil, notFound(err, "project")
	}
	return p, nil
}

// ProjectSlugTaken reports whether a namespace has a project called slug.
func (s *Store) ProjectSlugTaken(ctx context.Context, ownerID int64, slug string) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE owner_id = ? AND slug = ?`, ownerID, slug).Scan(&n); err != nil {
		return false, fmt.Errorf("project slug: %w", err)
	}
	return n > 0, nil
}

// ListProjects lists the projects of the given namespaces, oldest first.
func (s *Store) ListProjects(ctx context.Context, ownerIDs []int64, includeArchived bool) ([]*Project, error) {
	out := []*Project{}
	if len(ownerIDs) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(ownerIDs))
	for _, id := range ownerIDs {
		args = append(args, id)
	}
	cond := ""
	if !includeArchived {
		cond = " AND p.archived = 0"
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+projectColumns+projectFrom+` WHERE p.owner_id IN `+inList(len(args))+cond+
		` ORDER BY p.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("scan project: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdateProject writes a project's editable fields.
func (s *Store) UpdateProject(ctx context.Context, p *Project) (*Project, error) {
	if _, err := s.w.ExecContext(ctx, `UPDATE projects SET name = ?, description = ?, test_suite_enabled = ?,
		test_gate_staging = ?, test_gate_production = ?, updated_at = ? WHERE id = ?`, p.Name, p.Description,
		boolInt(p.TestSuiteEnabled), p.TestGateStaging, p.TestGateProduction, Now(), p.ID); err != nil {
		return nil, fmt.Errorf("update project: %w", err)
	}
	return s.ProjectByID(ctx, p.ID)
}

// SetProjectArchived archives or restores a project.
func (s *Store) SetProjectArchived(ctx context.Context, id int64, archived bool) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE projects SET archived = ?, updated_at = ? WHERE id = ?`, boolInt(archived), Now(), id); err != nil {
		return fmt.Errorf("archive project: %w", err)
	}
	return nil
}

// DeleteProject deletes a project with its connection, links, mappings
// and deliveries.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	return nil
}

// ProjectRepo is a project's connected repository.
type ProjectRepo struct {
	ProjectID           int64
	PublicID            string
	Provider            string
	RepoID              int64 // a Tapioca repository; 0 for an upstream
	MirrorID            int64 // an upstream's mirror; 0 for a Tapioca repository
	RepoURL             string
	RepoOwner, RepoName string
	DefaultBranch       string
	AuthType            string
	AccessToken         string // sealed
	DeployPublicKey     string
	DeployPrivateKey    string // sealed
	DeployKeyID         int64
	WebhookSecret       string // sealed
	WebhookToken        string
	PollingEnabled      bool
	SyncStatus          string
	SyncError           string
	SyncStatusChangedAt *time.Time
	LastSyncedAt        *time.Time
	LastPolledAt        *time.Time
	Tips                string // JSON {"branch": "sha"}
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

const projectRepoColumns = `r.project_id, r.public_id, r.provider, r.repo_id, r.mirror_id, r.repo_url, r.repo_owner, r.repo_name,
	r.default_branch, r.auth_type, r.access_token, r.deploy_public_key, r.deploy_private_key, r.deploy_key_id,
	r.webhook_secret, r.webhook_token, r.polling_enabled, r.sync_status, r.sync_error, r.sync_status_changed_at,
	r.last_synced_at, r.last_polled_at, r.tips, r.created_at, r.updated_at`

func scanProjectRepo(row scanner) (*ProjectRepo, error) {
	r := &ProjectRepo{}
	var repoID, mirrorID, keyID sql.NullInt64
	var changed, synced, polled sql.NullTime
	if err := row.Scan(&r.ProjectID, &r.PublicID, &r.Provider, &repoID, &mirrorID, &r.RepoURL, &r.RepoOwner, &r.RepoName,
		&r.DefaultBranch, &r.AuthType, &r.AccessToken, &r.DeployPublicKey, &r.DeployPrivateKey, &keyID,
		&r.WebhookSecret, &r.WebhookToken, &r.PollingEnabled, &r.SyncStatus, &r.SyncError, &changed,
		&synced, &polled, &r.Tips, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.RepoID, r.MirrorID, r.DeployKeyID = repoID.Int64, mirrorID.Int64, keyID.Int64
	r.SyncStatusChangedAt, r.LastSyncedAt, r.LastPolledAt = timePtr(changed), timePtr(synced), timePtr(polled)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// ProjectRepoOf loads a project's connection; ErrNotFound when none.
func (s *Store) ProjectRepoOf(ctx context.Context, projectID int64) (*ProjectRepo, error) {
	r, err := scanProjectRepo(s.r.QueryRowContext(ctx, `SELECT `+projectRepoColumns+` FROM project_repos r WHERE r.project_id = ?`, projectID))
	if err != nil {
		return nil, notFound(err, "project repository")
	}
	return r, nil
}

// SaveProjectRepo writes a project's connection, creating it (with a new
// public id) the first time.
func (s *Store) SaveProjectRepo(ctx context.Context, r *ProjectRepo) (*ProjectRepo, error) {
	now := Now()
	if _, err := s.w.ExecContext(ctx, `INSERT INTO project_repos(project_id, public_id, provider, repo_id, mirror_id, repo_url,
		repo_owner, repo_name, default_branch, auth_type, access_token, deploy_public_key, deploy_private_key, deploy_key_id,
		webhook_secret, webhook_token, polling_enabled, sync_status, sync_error, sync_status_changed_at, tips, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(project_id) DO UPDATE SET provider = excluded.provider, repo_id = excluded.repo_id,
		mirror_id = excluded.mirror_id, repo_url = excluded.repo_url, repo_owner = excluded.repo_owner,
		repo_name = excluded.repo_name, default_branch = excluded.default_branch, auth_type = excluded.auth_type,
		access_token = excluded.access_token, deploy_public_key = excluded.deploy_public_key,
		deploy_private_key = excluded.deploy_private_key, deploy_key_id = excluded.deploy_key_id,
		webhook_secret = excluded.webhook_secret, webhook_token = excluded.webhook_token,
		polling_enabled = excluded.polling_enabled, tips = excluded.tips, updated_at = excluded.updated_at`,
		r.ProjectID, NewGUID(), r.Provider, nullID(r.RepoID), nullID(r.MirrorID), r.RepoURL, r.RepoOwner, r.RepoName,
		r.DefaultBranch, r.AuthType, r.AccessToken, r.DeployPublicKey, r.DeployPrivateKey, nullID(r.DeployKeyID),
		r.WebhookSecret, r.WebhookToken, boolInt(r.PollingEnabled), MirrorPending, "", now, r.Tips, now, now); err != nil {
		return nil, fmt.Errorf("save project repository: %w", err)
	}
	return s.ProjectRepoOf(ctx, r.ProjectID)
}

// DeleteProjectRepo disconnects a project's repository.
func (s *Store) DeleteProjectRepo(ctx context.Context, projectID int64) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM project_repos WHERE project_id = ?`, projectID); err != nil {
		return fmt.Errorf("disconnect project repository: %w", err)
	}
	return nil
}

// ProjectSync is the outcome of a connection's sync.
type ProjectSync struct {
	Status string // MirrorSynced or MirrorError
	Error  string
	// Repo, when set, refreshes the followed repository's metadata.
	RepoOwner, RepoName, RepoURL, DefaultBranch *string
}

// RecordProjectSync records a sync of a project's connection: its status
// (the time it changed, when it did), the attempt, and on success the
// sync time and refreshed metadata.
func (s *Store) RecordProjectSync(ctx context.Context, projectID int64, o ProjectSync) error {
	now := Now()
	var synced any
	if o.Status == MirrorSynced {
		synced = now
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE project_repos SET
		sync_status_changed_at = CASE WHEN sync_status = ? AND sync_error = ? THEN sync_status_changed_at ELSE ? END,
		sync_status = ?, sync_error = ?, last_polled_at = ?, last_synced_at = COALESCE(?, last_synced_at),
		repo_owner = COALESCE(?, repo_owner), repo_name = COALESCE(?, repo_name), repo_url = COALESCE(?, repo_url),
		default_branch = COALESCE(?, default_branch), updated_at = ? WHERE project_id = ?`,
		o.Status, o.Error, now, o.Status, o.Error, now, synced, nullString(o.RepoOwner), nullString(o.RepoName),
		nullString(o.RepoURL), nullString(o.DefaultBranch), now, projectID); err != nil {
		return fmt.Errorf("record project sync: %w", err)
	}
	return nil
}

// SetProjectTips records the upstream branch tips a project was told about.
func (s *Store) SetProjectTips(ctx context.Context, projectID int64, tips string) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE project_repos SET tips = ? WHERE project_id = ?`, tips, projectID); err != nil {
		return fmt.Errorf("record project tips: %w", err)
	}
	return nil
}

func (s *Store) projectRepos(ctx context.Context, where string, arg any) ([]*ProjectRepo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+projectRepoColumns+` FROM project_repos r WHERE `+where+` ORDER BY r.project_id`, arg)
	if err != nil {
		return nil, fmt.Errorf("project repositories: %w", err)
	}
	defer rows.Close()
	var out []*ProjectRepo
	for rows.Next() {
		r, err := scanProjectRepo(rows)
		if err != nil {
			return nil, fmt.Errorf("scan project repository: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ProjectReposFollowing lists the connections following a Tapioca
// repository.
func (s *Store) ProjectReposFollowing(ctx context.Context, repoID int64) ([]*ProjectRepo, error) {
	return s.projectRepos(ctx, `r.repo_id = ?`, repoID)
}

// ProjectReposOfMirror lists the connections following a mirror.
func (s *Store) ProjectReposOfMirror(ctx context.Context, mirrorID int64) ([]*ProjectRepo, error) {
	return s.projectRepos(ctx, `r.mirror_id = ?`, mirrorID)
}

// ProjectRepoByWebhookToken finds the connection an inbound webhook URL
// names.
func (s *Store) ProjectRepoByWebhookToken(ctx context.Context, token string) (*ProjectRepo, error) {
	rs, err := s.projectRepos(ctx, `r.webhook_token = ? AND r.webhook_token != ''`, token)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("project webhook: %w", ErrNotFound)
	}
	return rs[0], nil
}

// Instance is a deploy target owned by a namespace.
type Instance struct {
	ID        int64
	PublicID  string
	OwnerID   int64
	Name      string
	Slug      string
	HookURL   string
	Secret    string // sealed
	CreatedAt time.Time
}

const instanceColumns = `i.id, i.public_id, i.owner_id, i.name, i.slug, i.hook_url, i.secret, i.created_at`

func scanInstance(row scanner) (*Instance, error) {
	i := &Instance{}
	if err := row.Scan(&i.ID, &i.PublicID, &i.OwnerID, &i.Name, &i.Slug, &i.HookURL, &i.Secret, &i.CreatedAt); err != nil {
		return nil, err
	}
	i.CreatedAt = i.CreatedAt.UTC()
	return i, nil
}

// CreateInstance inserts a deploy target; ErrDuplicate when the slug is
// taken in the namespace.
func (s *Store) CreateInstance(ctx context.Context, in *Instance) (*Instance, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO project_instances(public_id, owner_id, name, slug, hook_url, secret, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, NewGUID(), in.OwnerID, in.Name, in.Slug, in.HookURL, in.Secret, Now())
	if err != nil {
		if isUnique(err) {
			return nil, fmt.Errorf("instance slug %q: %w", in.Slug, ErrDuplicate)
		}
		return nil, fmt.Errorf("create instance: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, fmt.Errorf("create instance: %w", err)
	}
	return scanInstanceErr(s.r.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM project_instances i WHERE i.id = ?`, id))
}

func scanInstanceErr(row scanner) (*Instance, error) {
	i, err := scanInstance(row)
	if err != nil {
		return nil, notFound(err, "instance")
	}
	return i, nil
}

// InstanceByID loads a deploy target.
func (s *Store) InstanceByID(ctx context.Context, id int64) (*Instance, error) {
	return scanInstanceErr(s.r.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM project_instances i WHERE i.id = ?`, id))
}

// InstanceByPublicID loads a namespace's deploy target by its UUID.
func (s *Store) InstanceByPublicID(ctx context.Context, ownerID int64, publicID string) (*Instance, error) {
	return scanInstanceErr(s.r.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM project_instances i
		WHERE i.owner_id = ? AND i.public_id = ?`, ownerID, publicID))
}

// LinkInstance links a deploy target to a project; linking twice is a
// no-op.
func (s *Store) LinkInstance(ctx context.Context, projectID, instanceID int64) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO project_instance_links(project_id, instance_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, projectID, instanceID, Now()); err != nil {
		return fmt.Errorf("link instance: %w", err)
	}
	return nil
}

// UnlinkInstance removes a link and the project's mappings to the
// instance; the instance itself goes when no project links it any more.
// ErrNotFound when it was not linked.
func (s *Store) UnlinkInstance(ctx context.Context, projectID, instanceID int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		res, err := tx.w.ExecContext(ctx, `DELETE FROM project_instance_links WHERE project_id = ? AND instance_id = ?`, projectID, instanceID)
		if err != nil {
			return fmt.Errorf("unlink instance: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("instance link: %w", ErrNotFound)
		}
		if _, err := tx.w.ExecContext(ctx, `DELETE FROM branch_mappings WHERE project_id = ? AND instance_id = ?`, projectID, instanceID); err != nil {
			return fmt.Errorf("unlink instance: %w", err)
		}
		if _, err := tx.w.ExecContext(ctx, `DELETE FROM project_instances WHERE id = ?
			AND NOT EXISTS (SELECT 1 FROM project_instance_links WHERE instance_id = ?)
			AND NOT EXISTS (SELECT 1 FROM branch_mappings WHERE instance_id = ?)`, instanceID, instanceID, instanceID); err != nil {
			return fmt.Errorf("unlink instance: %w", err)
		}
		return nil
	})
}

// LinkedInstances lists the deploy targets linked to a project, in link
// order.
func (s *Store) LinkedInstances(ctx context.Context, projectID int64) ([]*Instance, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+instanceColumns+` FROM project_instances i
		JOIN project_instance_links l ON l.instance_id = i.id WHERE l.project_id = ? ORDER BY l.created_at, i.id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("linked instances: %w", err)
	}
	defer rows.Close()
	out := []*Instance{}
	for rows.Next() {
		i, err := scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("scan instance: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// BranchMapping routes a branch pattern to a deploy target.
type BranchMapping struct {
	ID               int64
	PublicID         string
	ProjectID        int64
	Pattern          string
	InstanceID       int64
	InstancePublicID string
	Priority         int
	CreatedAt        time.Time
}

// BranchMappings lists a project's mappings in the order they were set.
func (s *Store) BranchMappings(ctx context.Context, projectID int64) ([]*BranchMapping, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT m.id, m.public_id, m.project_id, m.branch_pattern, m.instance_id, i.public_id,
		m.priority, m.created_at FROM branch_mappings m JOIN project_instances i ON i.id = m.instance_id
		WHERE m.project_id = ? ORDER BY m.id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("branch mappings: %w", err)
	}
	defer rows.Close()
	out := []*BranchMapping{}
	for rows.Next() {
		m := &BranchMapping{}
		if err := rows.Scan(&m.ID, &m.PublicID, &m.ProjectID, &m.Pattern, &m.InstanceID, &m.InstancePublicID,
			&m.Priority, &m.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan branch mapping: %w", err)
		}
		m.CreatedAt = m.CreatedAt.UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// ReplaceBranchMappings replaces a project's mappings with ms (Pattern,
// InstanceID and Priority used).
func (s *Store) ReplaceBranchMappings(ctx context.Context, projectID int64, ms []BranchMapping) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.w.ExecContext(ctx, `DELETE FROM branch_mappings WHERE project_id = ?`, projectID); err != nil {
			return fmt.Errorf("replace branch mappings: %w", err)
		}
		now := Now()
		for _, m := range ms {
			if _, err := tx.w.ExecContext(ctx, `INSERT INTO branch_mappings(public_id, project_id, branch_pattern, instance_id,
				priority, created_at) VALUES (?, ?, ?, ?, ?, ?)`, NewGUID(), projectID, m.Pattern, m.InstanceID, m.Priority, now); err != nil {
				return fmt.Errorf("replace branch mappings: %w", err)
			}
		}
		return nil
	})
}

// ProjectDelivery is one notification of an instance about a branch move.
type ProjectDelivery struct {
	ID            int64
	GUID          string
	ProjectID     int64
	ProjectName   string
	OwnerName     string
	InstanceID    int64
	InstanceName  string
	Branch        string
	OldSHA        string
	NewSHA        string
	Status        string
	Attempts      int
	StatusCode    int
	LastError     string
	LastAttemptAt *time.Time
	DeliveredAt   *time.Time
	CreatedAt     time.Time
	Body          []byte // filled by claims
	LeaseToken    string // filled by claims
}

// NewProjectDelivery is what EnqueueProjectDelivery needs.
type NewProjectDelivery struct {
	ProjectID, InstanceID int64
	Branch, Old, New      string
	Body                  []byte
}

// EnqueueProjectDelivery queues a notification, due now; false when this
// move of this branch was queued before.
func (s *Store) EnqueueProjectDelivery(ctx context.Context, d NewProjectDelivery) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO project_deliveries(guid, project_id, instance_id, branch, old_sha, new_sha,
		body, next_attempt_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(project_id, branch, old_sha, new_sha) DO NOTHING`, NewGUID(), d.ProjectID, d.InstanceID, d.Branch,
		d.Old, d.New, d.Body, time.Now().UnixMilli(), Now())
	if err != nil {
		return false, fmt.Errorf("queue project delivery: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

const projectDeliveryColumns = `d.id, d.guid, d.project_id, p.name, u.username, d.instance_id, i.name, d.branch, d.old_sha,
	d.new_sha, d.status, d.attempts, COALESCE(d.status_code, 0), COALESCE(d.last_error, ''), d.last_attempt_at,
	d.delivered_at, d.created_at`

const projectDeliveryFrom = ` FROM project_deliveries d JOIN projects p ON p.id = d.project_id
	JOIN users u ON u.id = p.owner_id JOIN project_instances i ON i.id = d.instance_id`

func scanProjectDelivery(row scanner, extra ...any) (*ProjectDelivery, error) {
	d := &ProjectDelivery{}
	var attempted, delivered sql.NullTime
	dest := []any{&d.ID, &d.GUID, &d.ProjectID, &d.ProjectName, &d.OwnerName, &d.InstanceID, &d.InstanceName, &d.Branch,
		&d.OldSHA, &d.NewSHA, &d.Status, &d.Attempts, &d.StatusCode, &d.LastError, &attempted, &delivered, &d.CreatedAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	d.LastAttemptAt, d.DeliveredAt = timePtr(attempted), timePtr(delivered)
	d.CreatedAt = d.CreatedAt.UTC()
	return d, nil
}

// ListProjectDeliveries lists the newest notifications, for the
// dashboard and tests.
func (s *Store) ListProjectDeliveries(ctx context.Context, limit int) ([]*ProjectDelivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+projectDeliveryColumns+projectDeliveryFrom+` ORDER BY d.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list project deliveries: %w", err)
	}
	defer rows.Close()
	out := []*ProjectDelivery{}
	for rows.Next() {
		d, err := scanProjectDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("scan project delivery: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimProjectDeliveries leases up to limit due notifications; each
// claim counts as an attempt.
func (s *Store) ClaimProjectDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*ProjectDelivery, error) {
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	var out []*ProjectDelivery
	err := s.Tx(ctx, func(tx *Store) error {
		rows, err := tx.r.QueryContext(ctx, `SELECT id FROM project_deliveries WHERE status IN ('pending', 'retrying')
			AND lease_token IS NULL AND next_attempt_ms <= ? ORDER BY next_attempt_ms, id LIMIT ?`, now.UnixMilli(), limit)
		if err != nil {
			return fmt.Errorf("claim project deliveries: %w", err)
		}
		var claimed []any
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("claim project deliveries: %w", err)
			}
			claimed = append(claimed, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(claimed) == 0 {
			return err
		}
		if _, err := tx.w.ExecContext(ctx, `UPDATE project_deliveries SET attempts = attempts + 1, lease_token = ?,
			lease_expires_ms = ? WHERE id IN `+inList(len(claimed)), append([]any{token, now.Add(lease).UnixMilli()}, claimed...)...); err != nil {
			return fmt.Errorf("claim project deliveries: %w", err)
		}
		for _, id := range claimed {
			var body []byte
			d, err := scanProjectDelivery(tx.r.QueryRowContext(ctx, `SELECT `+projectDeliveryColumns+`, d.body`+projectDeliveryFrom+
				` WHERE d.id = ?`, id), &body)
			if err != nil {
				return fmt.Errorf("claim project deliveries: %w", err)
			}
			d.Body, d.LeaseToken = body, token
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// ProjectAttempt is the outcome of one notification attempt.
type ProjectAttempt struct {
	DeliveryID int64
	LeaseToken string
	StatusCode int
	Error      string
	Succeeded  bool
	RetryAt    *time.Time // nil after a failure: no more attempts
}

// FinishProjectAttempt records an attempt under its lease.
func (s *Store) FinishProjectAttempt(ctx context.Context, a ProjectAttempt) error {
	status, delivered := "failed", any(nil)
	var next any
	switch {
	case a.Succeeded:
		status, delivered = "succeeded", Now()
	case a.RetryAt != nil:
		status, next = "retrying", a.RetryAt.UnixMilli()
	}
	var code any
	if a.StatusCode != 0 {
		code = a.StatusCode
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE project_deliveries SET status = ?, next_attempt_ms = ?, lease_token = NULL,
		lease_expires_ms = NULL, status_code = ?, last_error = ?, last_attempt_at = ?, delivered_at = ?
		WHERE id = ? AND lease_token = ?`, status, next, code, a.Error, Now(), delivered, a.DeliveryID, a.LeaseToken); err != nil {
		return fmt.Errorf("record project delivery attempt: %w", err)
	}
	return nil
}

// ReleaseProjectLeases gives back leases that expired before now without
// counting the attempt (a stop or crash interrupted it); it returns how
// many.
func (s *Store) ReleaseProjectLeases(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE project_deliveries SET lease_token = NULL, lease_expires_ms = NULL,
		attempts = MAX(attempts - 1, 0), last_error = 'interrupted: the server stopped during this attempt'
		WHERE lease_token IS NOT NULL AND lease_expires_ms <= ?`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("release project delivery leases: %w", err)
	}
	return res.RowsAffected()
}

// NextProjectDeliveryDue is when the next unleased notification is due.
func (s *Store) NextProjectDeliveryDue(ctx context.Context) (time.Time, bool, error) {
	var ms sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(next_attempt_ms) FROM project_deliveries
		WHERE status IN ('pending', 'retrying') AND lease_token IS NULL`).Scan(&ms); err != nil {
		return time.Time{}, false, fmt.Errorf("next project delivery: %w", err)
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ms.Int64), true, nil
}

// ReleaseProjectLease gives back one lease without counting the attempt
// (the server is stopping).
func (s *Store) ReleaseProjectLease(ctx context.Context, id int64, token string) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE project_deliveries SET lease_token = NULL, lease_expires_ms = NULL,
		attempts = MAX(attempts - 1, 0) WHERE id = ? AND lease_token = ?`, id, token); err != nil {
		return fmt.Errorf("release project delivery lease: %w", err)
	}
	return nil
}
