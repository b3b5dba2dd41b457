package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// App is an app onboarded for watched repositories (Docora). Its token
// is only kept hashed; its secret is sealed.
type App struct {
	ID          int64
	Name        string
	URL         string // where deliveries are POSTed
	Secret      string // sealed
	TokenHint   string // the token's first characters, for lists
	Disabled    bool
	CreatedBy   *int64
	TokenUsedAt *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const appColumns = `a.id, a.name, a.url, a.secret, a.token_hint, a.disabled, a.created_by, a.token_used_at, a.created_at, a.updated_at`

func scanApp(row scanner, extra ...any) (*App, error) {
	a := &App{}
	var createdBy sql.NullInt64
	var used sql.NullTime
	dest := []any{&a.ID, &a.Name, &a.URL, &a.Secret, &a.TokenHint, &a.Disabled, &createdBy, &used, &a.CreatedAt, &a.UpdatedAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	if createdBy.Valid {
		a.CreatedBy = &createdBy.Int64
	}
	a.TokenUsedAt = timePtr(used)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, nil
}

// NewApp is what CreateApp needs.
type NewApp struct {
	Name, URL, Secret    string // Secret sealed
	TokenHash, TokenHint string
	CreatedBy            int64 // 0 = the command line
}

// CreateApp inserts an app; ErrDuplicate when the name is taken.
func (s *Store) CreateApp(ctx context.Context, na NewApp) (*App, error) {
	var by any
	if na.CreatedBy != 0 {
		by = na.CreatedBy
	}
	now := Now()
	res, err := s.w.ExecContext(ctx, `INSERT INTO apps(name, url, secret, token_hash, token_hint, created_by, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, na.Name, na.URL, na.Secret, na.TokenHash, na.TokenHint, by, now, now)
	if err != nil {
		if isUnique(err) {
			return nil, fmt.Errorf("create app: %w", ErrDuplicate)
		}
		return nil, fmt.Errorf("create app: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, fmt.Errorf("create app: %w", err)
	}
	return s.AppByID(ctx, id)
}

// AppByID loads an app.
func (s *Store) AppByID(ctx context.Context, id int64) (*App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps a WHERE a.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "app")
	}
	return a, nil
}

// AppByName loads an app by name (case-insensitive).
func (s *Store) AppByName(ctx context.Context, name string) (*App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps a WHERE a.name = ?`, name))
	if err != nil {
		return nil, notFound(err, "app")
	}
	return a, nil
}

// AppByTokenHash finds the app whose token hashes to hash.
func (s *Store) AppByTokenHash(ctx context.Context, hash string) (*App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps a WHERE a.token_hash = ?`, hash))
	if err != nil {
		return nil, notFound(err, "app")
	}
	return a, nil
}

// AppSummary is an app with its watched repositories and deliveries
// counted, for lists.
type AppSummary struct {
	*App
	Watched       int
	Delivered     int // deliveries that succeeded (still in the history)
	Pending       int // waiting, including those that failed and will be retried
	Failing       int // pending deliveries that failed at least once
	OpenBreakers  int
	LastError     string
	LastFailureAt *time.Time
}

// ListApps lists every app by name with its counts.
func (s *Store) ListApps(ctx context.Context) ([]*AppSummary, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+appColumns+`,
		(SELECT COUNT(*) FROM watched_repos w WHERE w.app_id = a.id),
		(SELECT COUNT(*) FROM app_deliveries d JOIN watched_repos w ON w.id = d.watch_id WHERE w.app_id = a.id AND d.status = 'succeeded'),
		(SELECT COUNT(*) FROM app_deliveries d JOIN watched_repos w ON w.id = d.watch_id WHERE w.app_id = a.id AND d.status = 'pending'),
		(SELECT COUNT(*) FROM app_deliveries d JOIN watched_repos w ON w.id = d.watch_id WHERE w.app_id = a.id AND d.status = 'pending' AND d.attempts > 0 AND d.last_error IS NOT NULL),
		(SELECT COUNT(*) FROM watched_repos w WHERE w.app_id = a.id AND w.breaker_open = 1),
		COALESCE((SELECT w.last_error FROM watched_repos w WHERE w.app_id = a.id AND w.last_failure_at IS NOT NULL ORDER BY w.last_failure_at DESC LIMIT 1), ''),
		(SELECT MAX(w.last_failure_at) FROM watched_repos w WHERE w.app_id = a.id)
		FROM apps a ORDER BY a.name`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	defer rows.Close()
	out := []*AppSummary{}
	for rows.Next() {
		sum := &AppSummary{}
		var lastFail sql.NullString
		app, err := scanApp(rows, &sum.Watched, &sum.Delivered, &sum.Pending, &sum.Failing, &sum.OpenBreakers, &sum.LastError, &lastFail)
		if err != nil {
			return nil, fmt.Errorf("scan app: %w", err)
		}
		sum.App = app
		if lastFail.Valid && lastFail.String != "" {
			t := parseStoredTime(lastFail.String)
			sum.LastFailureAt = &t
		}
		out = append(out, sum)
	}
	return out, rows.Err()
}

// SetAppToken replaces an app's token.
func (s *Store) SetAppToken(ctx context.Context, id int64, hash, hint string) error {
	return s.execOne(ctx, "set app token", `UPDATE apps SET token_hash = ?, token_hint = ?, token_used_at = NULL, updated_at = ? WHERE id = ?`,
		hash, hint, Now(), id)
}

// SetAppDisabled disables or enables an app.
func (s *Store) SetAppDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.execOne(ctx, "set app disabled", `UPDATE apps SET disabled = ?, updated_at = ? WHERE id = ?`, boolInt(disabled), Now(), id)
}

// TouchAppToken records use of an app's token.
func (s *Store) TouchAppToken(ctx context.Context, id int64, at time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE apps SET token_used_at = ? WHERE id = ?`, at.UTC().Truncate(time.Second), id)
	if err != nil {
		return fmt.Errorf("touch app token: %w", err)
	}
	return nil
}

// DeleteApp deletes an app with its watched repositories and their
// deliveries, and returns the mirrors those followed.
func (s *Store) DeleteApp(ctx context.Context, id int64) ([]int64, error) {
	var mirrors []int64
	err := s.Tx(ctx, func(tx *Store) error {
		rows, err := tx.r.QueryContext(ctx, `SELECT mirror_id FROM watched_repos WHERE app_id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete app: %w", err)
		}
		for rows.Next() {
			var m int64
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return fmt.Errorf("delete app: %w", err)
			}
			mirrors = append(mirrors, m)
		}
		rows.Close()
		return tx.execOne(ctx, "delete app", `DELETE FROM apps WHERE id = ?`, id)
	})
	return mirrors, err
}

// Watch is a repository an app watches.
type Watch struct {
	ID              int64
	PublicID        string // repo_ + 24 hex
	AppID           int64
	MirrorID        int64
	GitHubURL       string
	Owner, Name     string
	IsPrivate       bool
	Token           string // sealed; "" = none
	DeliveredCommit string
	ScanRequested   bool
	Plan            WatchPlan
	NextSeq         int64
	Failures        int
	BreakerOpen     bool
	BreakerOpenedAt *time.Time
	LastError       string
	LastFailureAt   *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time

	// From the app and the mirror, for lists and the planner.
	AppName      string
	AppDisabled  bool
	MirrorURL    string
	MirrorStatus string
	MirrorError  string
	HeadCommit   string
	Pending      int // deliveries waiting
}

// WatchPlan is the change a watch is queuing deliveries for: from From
// ("" with Scan: every file) to To, the files up to After done. Gen
// changes when a rescan discards it.
type WatchPlan struct {
	To, From, After string
	Scan            bool
	Gen             int64
}

const watchColumns = `w.id, w.public_id, w.app_id, w.mirror_id, w.github_url, w.owner, w.name, w.is_private, w.token,
	w.delivered_commit, w.scan_requested, w.plan_to, w.plan_from, w.plan_after, w.plan_scan, w.plan_gen, w.next_seq,
	w.failures, w.breaker_open, w.breaker_opened_at, w.last_error, w.last_failure_at, w.created_at, w.updated_at,
	a.name, a.disabled, m.url, m.status, m.last_error, m.head_commit,
	(SELECT COUNT(*) FROM app_deliveries d WHERE d.watch_id = w.id AND d.status = 'pending')`

const watchFrom = ` FROM watched_repos w JOIN apps a ON a.id = w.app_id JOIN mirrors m ON m.id = w.mirror_id`

func scanWatch(row scanner) (*Watch, error) {
	w := &Watch{}
	var opened, failed sql.NullTime
	if err := row.Scan(&w.ID, &w.PublicID, &w.AppID, &w.MirrorID, &w.GitHubURL, &w.Owner, &w.Name, &w.IsPrivate, &w.Token,
		&w.DeliveredCommit, &w.ScanRequested, &w.Plan.To, &w.Plan.From, &w.Plan.After, &w.Plan.Scan, &w.Plan.Gen, &w.NextSeq,
		&w.Failures, &w.BreakerOpen, &opened, &w.LastError, &failed, &w.CreatedAt, &w.UpdatedAt,
		&w.AppName, &w.AppDisabled, &w.MirrorURL, &w.MirrorStatus, &w.MirrorError, &w.HeadCommit, &w.Pending); err != nil {
		return nil, err
	}
	w.BreakerOpenedAt, w.LastFailureAt = timePtr(opened), timePtr(failed)
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	return w, nil
}

// NewWatchID returns a fresh "repo_" + 24 lowercase hex id.
func NewWatchID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "repo_" + hex.EncodeToString(b[:])
}

// NewWatch is what CreateWatch needs.
type NewWatch struct {
	AppID, MirrorID int64
	GitHubURL       string
	Owner, Name     string
	IsPrivate       bool
	Token           string // sealed
}

// CreateWatch inserts a watched repository, a full scan requested;
// ErrDuplicate when the app already watches that mirror.
func (s *Store) CreateWatch(ctx context.Context, nw NewWatch) (*Watch, error) {
	now := Now()
	res, err := s.w.ExecContext(ctx, `INSERT INTO watched_repos(public_id, app_id, mirror_id, github_url, owner, name, is_private,
		token, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		NewWatchID(), nw.AppID, nw.MirrorID, nw.GitHubURL, nw.Owner, nw.Name, boolInt(nw.IsPrivate), nw.Token, now, now)
	if err != nil {
		if isUnique(err) {
			return nil, fmt.Errorf("create watched repository: %w", ErrDuplicate)
		}
		if isForeignKey(err) {
			// The app or the mirror went away since the caller loaded it.
			return nil, fmt.Errorf("create watched repository: %w", ErrNotFound)
		}
		return nil, fmt.Errorf("create watched repository: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, fmt.Errorf("create watched repository: %w", err)
	}
	return s.WatchByID(ctx, id)
}

// WatchByID loads a watched repository.
func (s *Store) WatchByID(ctx context.Context, id int64) (*Watch, error) {
	w, err := scanWatch(s.r.QueryRowContext(ctx, `SELECT `+watchColumns+watchFrom+` WHERE w.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "watched repository")
	}
	return w, nil
}

// AppWatch loads a watched repository of app by its public id; another
// app's is ErrNotFound.
func (s *Store) AppWatch(ctx context.Context, appID int64, publicID string) (*Watch, error) {
	w, err := scanWatch(s.r.QueryRowContext(ctx, `SELECT `+watchColumns+watchFrom+` WHERE w.public_id = ? AND w.app_id = ?`, publicID, appID))
	if err != nil {
		return nil, notFound(err, "watched repository")
	}
	return w, nil
}

// WatchFilter selects watched repositories; zero fields do not filter.
type WatchFilter struct {
	AppID    int64
	MirrorID int64
	// ToPlan keeps those with deliveries to queue: a scan requested, a
	// plan under way, or a mirror tip past the last commit queued.
	ToPlan bool
}

// ListWatches lists watched repositories, oldest first.
func (s *Store) ListWatches(ctx context.Context, f WatchFilter) ([]*Watch, error) {
	var where []string
	var args []any
	if f.AppID != 0 {
		where, args = append(where, "w.app_id = ?"), append(args, f.AppID)
	}
	if f.MirrorID != 0 {
		where, args = append(where, "w.mirror_id = ?"), append(args, f.MirrorID)
	}
	if f.ToPlan {
		where = append(where, `(w.plan_to <> '' OR (m.status = 'synced' AND (w.scan_requested = 1 OR m.head_commit <> w.delivered_commit)))`)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+watchColumns+watchFrom+cond+` ORDER BY w.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list watched repositories: %w", err)
	}
	defer rows.Close()
	out := []*Watch{}
	for rows.Next() {
		w, err := scanWatch(rows)
		if err != nil {
			return nil, fmt.Errorf("scan watched repository: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWatch deletes a watched repository with its delivery history.
func (s *Store) DeleteWatch(ctx context.Context, id int64) error {
	return s.execOne(ctx, "delete watched repository", `DELETE FROM watched_repos WHERE id = ?`, id)
}

// RescanWatch starts a watch afresh: deliveries not yet made are
// dropped (a full scan replaces them), the plan under way is abandoned,
// the circuit breaker closes and a scan is requested. A token, when not
// nil, replaces the stored one.
func (s *Store) RescanWatch(ctx context.Context, id int64, token *string) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.w.ExecContext(ctx, `DELETE FROM app_deliveries WHERE watch_id = ? AND status = 'pending'`, id); err != nil {
			return fmt.Errorf("rescan: %w", err)
		}
		sets := `scan_requested = 1, plan_to = '', plan_from = '', plan_after = '', plan_scan = 0, plan_gen = plan_gen + 1,
			failures = 0, breaker_open = 0, breaker_opened_at = NULL, last_error = '', updated_at = ?`
		args := []any{Now()}
		if token != nil {
			sets += ", token = ?"
			args = append(args, *token)
		}
		return tx.execOne(ctx, "rescan", `UPDATE watched_repos SET `+sets+` WHERE id = ?`, append(args, id)...)
	})
}

// ResetBreaker closes a watch's circuit breaker: its waiting deliveries
// are due at once.
func (s *Store) ResetBreaker(ctx context.Context, id int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.execOne(ctx, "reset breaker", `UPDATE watched_repos SET failures = 0, breaker_open = 0, breaker_opened_at = NULL,
			updated_at = ? WHERE id = ?`, Now(), id); err != nil {
			return err
		}
		_, err := tx.w.ExecContext(ctx, `UPDATE app_deliveries SET next_attempt_ms = MIN(next_attempt_ms, ?)
			WHERE watch_id = ? AND status = 'pending'`, time.Now().UnixMilli(), id)
		return err
	})
}

// NewAppDelivery is one delivery a plan batch queues.
type NewAppDelivery struct {
	GUID   string
	Seq    int64
	Event  string // created, updated, deleted
	Path   string
	Commit string
	Body   []byte
}

// ErrPlanStale is returned by CommitPlan when the watch changed since the
// batch was planned (a rescan, or another planner).
var ErrPlanStale = errors.New("watch plan changed")

// CommitPlan queues a batch of deliveries and records the plan's new
// state in one transaction, provided the watch is still at the plan
// generation and sequence number the batch was built from. ds carry
// sequence numbers from nextSeq on. done finishes the plan: the watch
// has then queued everything up to plan.To.
func (s *Store) CommitPlan(ctx context.Context, watchID int64, gen, nextSeq int64, ds []NewAppDelivery, plan WatchPlan, done bool) error {
	return s.Tx(ctx, func(tx *Store) error {
		now := Now()
		due := time.Now().UnixMilli()
		for _, d := range ds {
			if _, err := tx.w.ExecContext(ctx, `INSERT INTO app_deliveries(watch_id, guid, seq, event, path, commit_sha, body,
				next_attempt_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				watchID, d.GUID, d.Seq, d.Event, d.Path, d.Commit, d.Body, due, now); err != nil {
				return fmt.Errorf("queue delivery: %w", err)
			}
		}
		var res sql.Result
		var err error
		if done {
			res, err = tx.w.ExecContext(ctx, `UPDATE watched_repos SET delivered_commit = ?, scan_requested = 0, plan_to = '',
				plan_from = '', plan_after = '', plan_scan = 0, next_seq = ?, updated_at = ?
				WHERE id = ? AND plan_gen = ? AND next_seq = ?`,
				plan.To, nextSeq+int64(len(ds)), now, watchID, gen, nextSeq)
		} else {
			res, err = tx.w.ExecContext(ctx, `UPDATE watched_repos SET scan_requested = 0, plan_to = ?, plan_from = ?,
				plan_after = ?, plan_scan = ?, next_seq = ?, updated_at = ? WHERE id = ? AND plan_gen = ? AND next_seq = ?`,
				plan.To, plan.From, plan.After, boolInt(plan.Scan), nextSeq+int64(len(ds)), now, watchID, gen, nextSeq)
		}
		if err != nil {
			return fmt.Errorf("advance plan: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return ErrPlanStale
		}
		return nil
	})
}

// AppDelivery is one file delivery to an app.
type AppDelivery struct {
	ID            int64
	WatchID       int64
	GUID          string
	Seq           int64
	Event         string
	Path          string
	Commit        string
	Body          []byte // loaded by claims only
	Status        string // pending or succeeded
	Attempts      int
	NextAttemptAt time.Time
	StatusCode    *int
	LastError     *string
	LastAttemptAt *time.Time
	DeliveredAt   *time.Time
	CreatedAt     time.Time
}

const appDeliveryColumns = `d.id, d.watch_id, d.guid, d.seq, d.event, d.path, d.commit_sha, d.status, d.attempts, d.next_attempt_ms,
	d.status_code, d.last_error, d.last_attempt_at, d.delivered_at, d.created_at`

func scanAppDelivery(row scanner, extra ...any) (*AppDelivery, error) {
	d := &AppDelivery{}
	var next int64
	var code sql.NullInt64
	var lastErr sql.NullString
	var attempted, delivered sql.NullTime
	dest := []any{&d.ID, &d.WatchID, &d.GUID, &d.Seq, &d.Event, &d.Path, &d.Commit, &d.Status, &d.Attempts, &next,
		&code, &lastErr, &attempted, &delivered, &d.CreatedAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	d.NextAttemptAt = time.UnixMilli(next).UTC()
	if code.Valid {
		c := int(code.Int64)
		d.StatusCode = &c
	}
	d.LastError = strPtr(lastErr)
	d.LastAttemptAt, d.DeliveredAt = timePtr(attempted), timePtr(delivered)
	d.CreatedAt = d.CreatedAt.UTC()
	return d, nil
}

// ListAppDeliveries lists a watch's deliveries, newest first.
func (s *Store) ListAppDeliveries(ctx context.Context, watchID int64, limit int) ([]*AppDelivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+appDeliveryColumns+` FROM app_deliveries d WHERE d.watch_id = ?
		ORDER BY d.id DESC LIMIT ?`, watchID, limit)
	if err != nil {
		return nil, fmt.Errorf("list app deliveries: %w", err)
	}
	defer rows.Close()
	out := []*AppDelivery{}
	for rows.Next() {
		d, err := scanAppDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("scan app delivery: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimedAppDelivery is a delivery a worker holds a lease on, with what
// sending it needs.
type ClaimedAppDelivery struct {
	*AppDelivery
	LeaseToken string
}

// ClaimAppDeliveries leases up to limit due deliveries, at most one per
// watch and always that watch's oldest waiting one, so each watch's
// deliveries go out one at a time in order. Watches whose breaker is
// open, and disabled apps, wait. watchID, when not 0, claims only that
// watch's next delivery (a worker going on with the watch it served).
func (s *Store) ClaimAppDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int, watchID int64) ([]*ClaimedAppDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	var out []*ClaimedAppDelivery
	err := s.Tx(ctx, func(tx *Store) error {
		cond, args := "", []any{now.UnixMilli()}
		if watchID != 0 {
			cond, args = " AND w.id = ?", append(args, watchID)
		}
		rows, err := tx.r.QueryContext(ctx, `SELECT d.id FROM watched_repos w JOIN apps a ON a.id = w.app_id
			JOIN app_deliveries d ON d.id = (SELECT x.id FROM app_deliveries x WHERE x.watch_id = w.id AND x.status = 'pending'
				ORDER BY x.id LIMIT 1)
			WHERE w.breaker_open = 0 AND a.disabled = 0 AND d.lease_token IS NULL AND d.next_attempt_ms <= ?`+cond+`
			ORDER BY d.next_attempt_ms, d.id LIMIT ?`, append(args, limit)...)
		if err != nil {
			return fmt.Errorf("claim app deliveries: %w", err)
		}
		var ids []any
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("claim app deliveries: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim app deliveries: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		args = append([]any{token, now.Add(lease).UnixMilli()}, ids...)
		if _, err := tx.w.ExecContext(ctx, `UPDATE app_deliveries SET attempts = attempts + 1, lease_token = ?, lease_expires_ms = ?
			WHERE id IN `+inList(len(ids)), args...); err != nil {
			return fmt.Errorf("claim app deliveries: %w", err)
		}
		for _, id := range ids {
			var body []byte
			d, err := scanAppDelivery(tx.r.QueryRowContext(ctx, `SELECT `+appDeliveryColumns+`, d.body FROM app_deliveries d WHERE d.id = ?`, id), &body)
			if err != nil {
				return fmt.Errorf("claim app deliveries: %w", err)
			}
			d.Body = body
			out = append(out, &ClaimedAppDelivery{AppDelivery: d, LeaseToken: token})
		}
		return nil
	})
	return out, err
}

// AppAttemptResult is the outcome of one delivery attempt.
type AppAttemptResult struct {
	DeliveryID int64
	WatchID    int64
	LeaseToken string
	StatusCode int // 0: no response
	Error      string
	Succeeded  bool
	RetryAt    time.Time // when a failed delivery is due again
	// BreakerAfter is how many consecutive failures open the watch's
	// circuit breaker.
	BreakerAfter int
}

// FinishAppAttempt records an attempt: a success drops the body and
// resets the watch's failure count; a failure schedules the retry and
// counts against the watch, opening its breaker at BreakerAfter. It
// reports whether this attempt opened the breaker. A lost lease (the
// watch was rescanned or deleted meanwhile) changes nothing.
func (s *Store) FinishAppAttempt(ctx context.Context, res AppAttemptResult) (opened bool, err error) {
	err = s.Tx(ctx, func(tx *Store) error {
		now := Now()
		var code, errText any
		if res.StatusCode != 0 {
			code = res.StatusCode
		}
		if res.Error != "" {
			errText = res.Error
		}
		var r sql.Result
		var err error
		if res.Succeeded {
			r, err = tx.w.ExecContext(ctx, `UPDATE app_deliveries SET status = 'succeeded', body = NULL, lease_token = NULL,
				lease_expires_ms = NULL, status_code = ?, last_error = NULL, last_attempt_at = ?, delivered_at = ?
				WHERE id = ? AND lease_token = ?`, code, now, now, res.DeliveryID, res.LeaseToken)
		} else {
			r, err = tx.w.ExecContext(ctx, `UPDATE app_deliveries SET lease_token = NULL, lease_expires_ms = NULL,
				next_attempt_ms = ?, status_code = ?, last_error = ?, last_attempt_at = ? WHERE id = ? AND lease_token = ?`,
				res.RetryAt.UnixMilli(), code, errText, now, res.DeliveryID, res.LeaseToken)
		}
		if err != nil {
			return fmt.Errorf("finish app delivery: %w", err)
		}
		if n, err := r.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if res.Succeeded {
			_, err = tx.w.ExecContext(ctx, `UPDATE watched_repos SET failures = 0 WHERE id = ? AND failures <> 0`, res.WatchID)
			return err
		}
		msg := res.Error
		if msg == "" {
			msg = fmt.Sprintf("the app answered %d", res.StatusCode)
		}
		if _, err := tx.w.ExecContext(ctx, `UPDATE watched_repos SET failures = failures + 1, last_error = ?, last_failure_at = ?,
			updated_at = ? WHERE id = ?`, msg, now, now, res.WatchID); err != nil {
			return fmt.Errorf("count delivery failure: %w", err)
		}
		r, err = tx.w.ExecContext(ctx, `UPDATE watched_repos SET breaker_open = 1, breaker_opened_at = ?
			WHERE id = ? AND breaker_open = 0 AND failures >= ?`, now, res.WatchID, res.BreakerAfter)
		if err != nil {
			return fmt.Errorf("open breaker: %w", err)
		}
		n, err := r.RowsAffected()
		opened = n == 1
		return err
	})
	return opened, err
}

// ReleaseAppLease gives a claimed delivery back without counting the
// attempt (the worker is stopping).
func (s *Store) ReleaseAppLease(ctx context.Context, id int64, token string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE app_deliveries SET attempts = MAX(attempts - 1, 0), lease_token = NULL,
		lease_expires_ms = NULL WHERE id = ? AND lease_token = ?`, id, token)
	if err != nil {
		return fmt.Errorf("release app delivery lease: %w", err)
	}
	return nil
}

// ReleaseExpiredAppLeases frees deliveries whose lease expired before
// `before` (a worker hung, or the process died: at start-up the caller
// passes a time far ahead), due at once and noted as interrupted.
func (s *Store) ReleaseExpiredAppLeases(ctx context.Context, before time.Time, reason string) (int, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE app_deliveries SET lease_token = NULL, lease_expires_ms = NULL, last_error = ?,
		next_attempt_ms = MIN(next_attempt_ms, ?) WHERE lease_token IS NOT NULL AND lease_expires_ms < ?`,
		reason, time.Now().UnixMilli(), before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("release app delivery leases: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// NextAppDeliveryDue is when the earliest waiting delivery not yet due
// at `after` becomes due; ok is false when none waits.
func (s *Store) NextAppDeliveryDue(ctx context.Context, after time.Time) (due time.Time, ok bool, err error) {
	var ms sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT MIN(d.next_attempt_ms) FROM watched_repos w JOIN apps a ON a.id = w.app_id
		JOIN app_deliveries d ON d.id = (SELECT x.id FROM app_deliveries x WHERE x.watch_id = w.id AND x.status = 'pending'
			ORDER BY x.id LIMIT 1)
		WHERE w.breaker_open = 0 AND a.disabled = 0 AND d.lease_token IS NULL AND d.next_attempt_ms > ?`, after.UnixMilli()).Scan(&ms)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next app delivery due: %w", err)
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ms.Int64), true, nil
}

// PruneAppDeliveries deletes succeeded deliveries older than before
// (the history the dashboard counts); waiting ones are kept.
func (s *Store) PruneAppDeliveries(ctx context.Context, before time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM app_deliveries WHERE status = 'succeeded' AND created_at < ?`,
		before.UTC().Truncate(time.Second))
	if err != nil {
		return 0, fmt.Errorf("prune app deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
