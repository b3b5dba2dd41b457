package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Webhook errors.
var (
	// ErrWebhookLimit is returned by CreateWebhook when the owner already
	// has the maximum number of hooks.
	ErrWebhookLimit = errors.New("webhook limit reached")
	// ErrLeaseLost is returned by FinishAttempt when the worker's lease was
	// released (it ran past its expiry) before the result was recorded;
	// the attempt is still logged.
	ErrLeaseLost = errors.New("delivery lease lost")
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // not attempted yet
	DeliveryRetrying  = "retrying"  // failed at least once; another attempt is scheduled
	DeliverySucceeded = "succeeded" // an attempt got a 2xx
	DeliveryFailed    = "failed"    // gave up after the last attempt
)

// Webhook is a user's or an organization's hook.
type Webhook struct {
	ID          int64
	OwnerID     int64
	URL         string
	Secret      string
	ContentType string // json or form
	Events      []string
	Active      bool
	// AllowLoopback lets this hook reach loopback and link-local
	// addresses; only a site administrator sets it.
	AllowLoopback bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Subscribed reports whether the hook wants event.
func (w *Webhook) Subscribed(event string) bool { return slices.Contains(w.Events, event) }

const webhookColumns = `id, owner_id, url, secret, content_type, events, active, allow_loopback, created_at, updated_at`

// scanWebhook reads webhookColumns, then any extra columns into extra.
func scanWebhook(row scanner, extra ...any) (*Webhook, error) {
	w := &Webhook{}
	var events string
	dest := []any{&w.ID, &w.OwnerID, &w.URL, &w.Secret, &w.ContentType, &events, &w.Active, &w.AllowLoopback, &w.CreatedAt, &w.UpdatedAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return nil, fmt.Errorf("webhook %d events: %w", w.ID, err)
	}
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	return w, nil
}

// NewWebhook is what CreateWebhook needs.
type NewWebhook struct {
	OwnerID       int64
	URL           string
	Secret        string
	ContentType   string
	Events        []string
	Active        bool
	AllowLoopback bool
}

// CreateWebhook inserts a hook unless the owner already has limit of them
// (ErrWebhookLimit); the count and the insert share one transaction so
// concurrent creations cannot overshoot.
func (s *Store) CreateWebhook(ctx context.Context, nw NewWebhook, limit int) (*Webhook, error) {
	events, err := json.Marshal(nw.Events)
	if err != nil {
		return nil, fmt.Errorf("encode webhook events: %w", err)
	}
	var id int64
	err = s.Tx(ctx, func(tx *Store) error {
		var n int
		if err := tx.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhooks WHERE owner_id = ?`, nw.OwnerID).Scan(&n); err != nil {
			return fmt.Errorf("count webhooks: %w", err)
		}
		if limit > 0 && n >= limit {
			return ErrWebhookLimit
		}
		now := Now()
		res, err := tx.w.ExecContext(ctx, `INSERT INTO webhooks(owner_id, url, secret, content_type, events, active, allow_loopback, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, nw.OwnerID, nw.URL, nw.Secret, nw.ContentType, string(events), boolInt(nw.Active), boolInt(nw.AllowLoopback), now, now)
		if err != nil {
			return fmt.Errorf("insert webhook: %w", err)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.WebhookByID(ctx, id)
}

// WebhookByID loads any hook; workers use it to send with the current URL
// and secret.
func (s *Store) WebhookByID(ctx context.Context, id int64) (*Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "webhook")
	}
	return w, nil
}

// OwnedWebhook loads a hook of ownerID; another owner's hook is
// ErrNotFound, so its existence does not leak.
func (s *Store) OwnedWebhook(ctx context.Context, ownerID, id int64) (*Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ? AND owner_id = ?`, id, ownerID))
	if err != nil {
		return nil, notFound(err, "webhook")
	}
	return w, nil
}

// ListWebhooks lists an owner's hooks, oldest first.
func (s *Store) ListWebhooks(ctx context.Context, ownerID int64) ([]*Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE owner_id = ? ORDER BY id`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	out := []*Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("scan webhook: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// WebhooksForEvent returns the owner's active hooks subscribed to event.
// Called inside the transaction that records the event.
func (s *Store) WebhooksForEvent(ctx context.Context, ownerID int64, event string) ([]*Webhook, error) {
	hooks, err := s.ListWebhooks(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(hooks, func(w *Webhook) bool { return !w.Active || !w.Subscribed(event) }), nil
}

// WebhookUpdate carries optional changes; nil fields stay.
type WebhookUpdate struct {
	URL           *string
	Secret        *string // "" removes the secret
	ContentType   *string
	Events        []string // nil = unchanged
	Active        *bool
	AllowLoopback *bool
}

// UpdateWebhook applies u to an owner's hook.
func (s *Store) UpdateWebhook(ctx context.Context, ownerID, id int64, u WebhookUpdate) (*Webhook, error) {
	sets := []string{"updated_at = ?"}
	args := []any{Now()}
	if u.URL != nil {
		sets, args = append(sets, "url = ?"), append(args, *u.URL)
	}
	if u.Secret != nil {
		sets, args = append(sets, "secret = ?"), append(args, *u.Secret)
	}
	if u.ContentType != nil {
		sets, args = append(sets, "content_type = ?"), append(args, *u.ContentType)
	}
	if u.Events != nil {
		events, err := json.Marshal(u.Events)
		if err != nil {
			return nil, fmt.Errorf("encode webhook events: %w", err)
		}
		sets, args = append(sets, "events = ?"), append(args, string(events))
	}
	if u.Active != nil {
		sets, args = append(sets, "active = ?"), append(args, boolInt(*u.Active))
	}
	if u.AllowLoopback != nil {
		sets, args = append(sets, "allow_loopback = ?"), append(args, boolInt(*u.AllowLoopback))
	}
	args = append(args, id, ownerID)
	if err := s.execOne(ctx, "update webhook", `UPDATE webhooks SET `+strings.Join(sets, ", ")+` WHERE id = ? AND owner_id = ?`, args...); err != nil {
		return nil, err
	}
	return s.OwnedWebhook(ctx, ownerID, id)
}

// DeleteWebhook removes an owner's hook with its deliveries and their log.
func (s *Store) DeleteWebhook(ctx context.Context, ownerID, id int64) error {
	return s.execOne(ctx, "delete webhook", `DELETE FROM webhooks WHERE id = ? AND owner_id = ?`, id, ownerID)
}

// Delivery is one event on its way to one hook: the outbox row.
type Delivery struct {
	ID            int64
	WebhookID     int64
	GUID          string // X-CodeBoba-Delivery
	Event         string
	Action        string
	RepoID        *int64
	ContentType   string
	Body          []byte // nil in lists; loaded by DeliveryByID and claims
	Status        string
	Manual        bool
	RedeliveryOf  *int64
	Attempts      int
	NextAttemptAt *time.Time
	StatusCode    *int
	DurationMS    *int64
	LastError     *string
	LastAttemptAt *time.Time
	DeliveredAt   *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time

	// The hook's URL and owner, for lists across hooks (the dashboard).
	HookURL   string
	HookOwner string
}

const deliveryColumns = `d.id, d.webhook_id, d.guid, d.event, d.action, d.repo_id, d.content_type, d.status, d.manual,
	d.redelivery_of, d.attempts, d.next_attempt_ms, d.status_code, d.duration_ms, d.last_error, d.last_attempt_at,
	d.delivered_at, d.created_at, d.updated_at, w.url, COALESCE(o.username, '')`

const deliveryFrom = ` FROM webhook_deliveries d` + deliveryJoins

// deliveryJoins bring in the hook and its owner for deliveryColumns.
const deliveryJoins = ` JOIN webhooks w ON w.id = d.webhook_id LEFT JOIN users o ON o.id = w.owner_id`

func scanDelivery(row scanner, extra ...any) (*Delivery, error) {
	d := &Delivery{}
	var repoID, redelivery, next, code, dur sql.NullInt64
	var lastErr sql.NullString
	var lastAttempt, delivered sql.NullTime
	dest := []any{&d.ID, &d.WebhookID, &d.GUID, &d.Event, &d.Action, &repoID, &d.ContentType, &d.Status, &d.Manual,
		&redelivery, &d.Attempts, &next, &code, &dur, &lastErr, &lastAttempt,
		&delivered, &d.CreatedAt, &d.UpdatedAt, &d.HookURL, &d.HookOwner}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	if repoID.Valid {
		d.RepoID = &repoID.Int64
	}
	if redelivery.Valid {
		d.RedeliveryOf = &redelivery.Int64
	}
	if next.Valid {
		t := time.UnixMilli(next.Int64).UTC()
		d.NextAttemptAt = &t
	}
	if code.Valid {
		c := int(code.Int64)
		d.StatusCode = &c
	}
	if dur.Valid {
		d.DurationMS = &dur.Int64
	}
	d.LastError = strPtr(lastErr)
	d.LastAttemptAt = timePtr(lastAttempt)
	d.DeliveredAt = timePtr(delivered)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, nil
}

func timePtr(nt sql.NullTime) *time.Time {
	if !nt.Valid {
		return nil
	}
	t := nt.Time.UTC()
	return &t
}

// NewGUID returns a random (version 4) UUID for X-CodeBoba-Delivery.
func NewGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// NewDelivery is what EnqueueDelivery needs.
type NewDelivery struct {
	WebhookID    int64
	Event        string
	Action       string
	RepoID       int64 // 0 = none (ping)
	ContentType  string
	Body         []byte
	Manual       bool
	RedeliveryOf int64 // 0 = none
}

// EnqueueDelivery adds a delivery due now and returns its id. Callers run
// it in the transaction of the change that caused the event, which has no
// use for the row, so it is not read back.
func (s *Store) EnqueueDelivery(ctx context.Context, nd NewDelivery) (int64, error) {
	now := time.Now()
	var repoID, redelivery any
	if nd.RepoID != 0 {
		repoID = nd.RepoID
	}
	if nd.RedeliveryOf != 0 {
		redelivery = nd.RedeliveryOf
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO webhook_deliveries(webhook_id, guid, event, action, repo_id, content_type, body,
		status, manual, redelivery_of, next_attempt_ms, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`,
		nd.WebhookID, NewGUID(), nd.Event, nd.Action, repoID, nd.ContentType, nd.Body,
		boolInt(nd.Manual), redelivery, now.UnixMilli(), Now(), Now())
	if err != nil {
		return 0, fmt.Errorf("enqueue delivery: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("enqueue delivery: %w", err)
	}
	return id, nil
}

// DeliveryByID loads a delivery with its body.
func (s *Store) DeliveryByID(ctx context.Context, id int64) (*Delivery, error) {
	var body []byte
	d, err := scanDelivery(s.r.QueryRowContext(ctx, `SELECT `+deliveryColumns+`, d.body`+deliveryFrom+` WHERE d.id = ?`, id), &body)
	if err != nil {
		return nil, notFound(err, "delivery")
	}
	d.Body = body
	return d, nil
}

// DeliveryFilter selects deliveries for ListDeliveries; zero fields do
// not filter.
type DeliveryFilter struct {
	WebhookID int64
	OwnerID   int64  // hooks of this user or organization
	RepoID    int64  // deliveries of events in this repository
	Status    string // pending, retrying, succeeded, failed
	Event     string
	// SkipRedelivered leaves out deliveries that a redelivery already
	// repeats.
	SkipRedelivered bool
	Limit           int // <= 0: all
	Offset          int
}

// sql is the filter's count query and page query (for window.order;
// columns come first, then FROM), newest first. A hook's deliveries by
// status, event or both each have their index; across hooks (the
// dashboard) a repository's have theirs, by status too, or the primary key.
func (f DeliveryFilter) sql() (count, page string, args []any) {
	var where []string
	index := ""
	if f.WebhookID != 0 {
		where, args = append(where, "d.webhook_id = ?"), append(args, f.WebhookID)
		index = "webhook_deliveries_hook"
	}
	if f.OwnerID != 0 {
		where, args = append(where, "w.owner_id = ?"), append(args, f.OwnerID)
	}
	if f.RepoID != 0 {
		where, args = append(where, "d.repo_id = ?"), append(args, f.RepoID)
		if index == "" {
			index = "webhook_deliveries_repo"
		}
	}
	if f.Status != "" {
		where, args = append(where, "d.status = ?"), append(args, f.Status)
		switch index {
		case "":
			index = "webhook_deliveries_status"
		case "webhook_deliveries_hook":
			index += "_status"
		}
	}
	if f.Event != "" {
		where, args = append(where, "d.event = ?"), append(args, f.Event)
		if strings.HasPrefix(index, "webhook_deliveries_hook") {
			index += "_event"
		}
	}
	if f.SkipRedelivered {
		where = append(where, "NOT EXISTS (SELECT 1 FROM webhook_deliveries r WHERE r.redelivery_of = d.id)")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	table := ` FROM webhook_deliveries d`
	if index != "" {
		table += ` INDEXED BY ` + index
	}
	countFrom := table
	if f.OwnerID != 0 {
		// Otherwise the joins add nothing to a count: every delivery has
		// its hook.
		countFrom += deliveryJoins
	}
	return `SELECT COUNT(*)` + countFrom + cond, table + deliveryJoins + cond + ` ORDER BY d.id{dir} LIMIT ? OFFSET ?`, args
}

// ListDeliveries returns deliveries newest first, without bodies, and the
// total matching. The API lists one hook's; the dashboard lists recent or
// failed ones across all hooks.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, int, error) {
	countQuery, pageQuery, args := f.sql()
	return rowsPage(ctx, s, "deliveries", countQuery, `SELECT `+deliveryColumns+pageQuery, false, args, f.Limit, f.Offset,
		func(rows *sql.Rows) (*Delivery, error) { return scanDelivery(rows) })
}

// RedeliverDelivery queues a new delivery (new GUID, same body) of
// delivery id. It is manual, so it goes out even if the hook is inactive.
// The caller should wake the delivery workers (App does); otherwise the
// workers' poll picks it up within seconds.
func (s *Store) RedeliverDelivery(ctx context.Context, id int64) (*Delivery, error) {
	var out *Delivery
	err := s.Tx(ctx, func(tx *Store) error {
		d, err := tx.DeliveryByID(ctx, id)
		if err != nil {
			return err
		}
		var repoID int64
		if d.RepoID != nil {
			repoID = *d.RepoID
		}
		nid, err := tx.EnqueueDelivery(ctx, NewDelivery{
			WebhookID: d.WebhookID, Event: d.Event, Action: d.Action, RepoID: repoID,
			ContentType: d.ContentType, Body: d.Body, Manual: true, RedeliveryOf: d.ID,
		})
		if err != nil {
			return err
		}
		out, err = tx.DeliveryByID(ctx, nid)
		return err
	})
	return out, err
}

// RedeliverFailed queues a redelivery (as RedeliverDelivery does) of each
// failed delivery f selects (its Status is ignored) that no redelivery
// repeats yet, oldest first, at most limit of them in one transaction. It
// returns the new deliveries' count and whether more failures are left:
// those are the next call's, since the ones done now have a redelivery.
func (s *Store) RedeliverFailed(ctx context.Context, f DeliveryFilter, limit int) (n int, more bool, err error) {
	f.Status, f.SkipRedelivered = DeliveryFailed, true
	_, page, args := f.sql()
	query := window{}.order(`SELECT d.id`+page, true)
	err = s.Tx(ctx, func(tx *Store) error {
		ids, err := tx.ids(ctx, window{limit: limit + 1}, query, args...)
		if err != nil {
			return fmt.Errorf("failed deliveries: %w", err)
		}
		if more = len(ids) > limit; more {
			ids = ids[:limit]
		}
		now := time.Now()
		for _, id := range ids {
			if _, err := tx.w.ExecContext(ctx, `INSERT INTO webhook_deliveries(webhook_id, guid, event, action, repo_id, content_type, body,
				status, manual, redelivery_of, next_attempt_ms, created_at, updated_at)
				SELECT webhook_id, ?, event, action, repo_id, content_type, body, 'pending', 1, id, ?, ?, ?
				FROM webhook_deliveries WHERE id = ?`, NewGUID(), now.UnixMilli(), Now(), Now(), id); err != nil {
				return fmt.Errorf("redeliver %d: %w", id, err)
			}
		}
		n = len(ids)
		return nil
	})
	return n, more, err
}

// Redeliveries lists the ids of the deliveries that repeat delivery id.
func (s *Store) Redeliveries(ctx context.Context, id int64) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM webhook_deliveries INDEXED BY webhook_deliveries_redelivery
		WHERE redelivery_of = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("redeliveries of %d: %w", id, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// HookSummary is a hook with its owner and the outcome of its newest
// delivery, for the dashboard's list of hooks.
type HookSummary struct {
	Hook      *Webhook
	OwnerName string
	OwnerType string
	// The newest delivery: its status ("" when the hook has none), the
	// response code of its last attempt and when it was last tried (or
	// queued).
	LastStatus string
	LastCode   *int
	LastAt     *time.Time
	Failed     int // failed deliveries in the log
}

// HookList selects hooks for ListHookSummaries.
type HookList struct {
	OwnerID int64 // 0 = every owner's
	Limit   int   // <= 0: all
	Offset  int
}

// ListHookSummaries lists hooks, newest first, with the total before
// paging. Each hook's newest delivery and failure count are one index
// lookup each.
func (s *Store) ListHookSummaries(ctx context.Context, f HookList) ([]HookSummary, int, error) {
	cond, args := "", []any{}
	if f.OwnerID != 0 {
		cond, args = ` WHERE w.owner_id = ?`, append(args, f.OwnerID)
	}
	cols := "w." + strings.ReplaceAll(webhookColumns, ", ", ", w.")
	pageQuery := `SELECT ` + cols + `, o.username, o.type,
			COALESCE(d.status, ''), d.status_code, d.last_attempt_at, d.created_at,
			(SELECT COUNT(*) FROM webhook_deliveries f INDEXED BY webhook_deliveries_hook_status
				WHERE f.webhook_id = w.id AND f.status = 'failed')
			FROM webhooks w JOIN users o ON o.id = w.owner_id
			LEFT JOIN webhook_deliveries d ON d.id = (SELECT MAX(x.id) FROM webhook_deliveries x INDEXED BY webhook_deliveries_hook
				WHERE x.webhook_id = w.id)` + cond + ` ORDER BY w.id{dir} LIMIT ? OFFSET ?`
	return rowsPage(ctx, s, "webhooks", `SELECT COUNT(*) FROM webhooks w`+cond, pageQuery, false, args, f.Limit, f.Offset,
		func(rows *sql.Rows) (HookSummary, error) {
			var h HookSummary
			var code sql.NullInt64
			var tried, queued sql.NullTime
			w, err := scanWebhook(rows, &h.OwnerName, &h.OwnerType, &h.LastStatus, &code, &tried, &queued, &h.Failed)
			if err != nil {
				return h, err
			}
			h.Hook = w
			if code.Valid {
				c := int(code.Int64)
				h.LastCode = &c
			}
			h.LastAt = timePtr(tried)
			if h.LastAt == nil {
				h.LastAt = timePtr(queued)
			}
			return h, nil
		})
}

// ClaimedDelivery is a delivery a worker holds a lease on.
type ClaimedDelivery struct {
	*Delivery
	LeaseToken string
}

// ClaimDeliveries leases up to limit due deliveries for lease and counts
// the attempt. Hooks take turns (each hook's oldest due delivery first,
// then each one's second...), and no hook gets more than perHook leased at
// once (0 = no cap), so one slow or flooded receiver cannot hold every
// worker. Deliveries of inactive hooks wait (pings and redeliveries
// excepted). A worker that dies holding a lease leaves it to
// ReleaseExpiredLeases, so the delivery is retried, never lost.
//
// The choice is read inside the write transaction: the caller may have
// been woken by a transaction that has not committed yet, and waiting for
// the writer connection is what makes its deliveries visible here. The
// read is one indexed lookup per hook, not a scan of the backlog.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit, perHook int) ([]*ClaimedDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	if perHook <= 0 {
		perHook = math.MaxInt32
	}
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	var ids []int64
	err := s.Tx(ctx, func(tx *Store) error {
		// INDEXED BY: counting only the few leased rows, not grouping the
		// whole table by hook.
		rows, err := tx.r.QueryContext(ctx, `WITH leased AS (
				SELECT webhook_id, COUNT(*) AS n FROM webhook_deliveries INDEXED BY webhook_deliveries_leased
				WHERE lease_token IS NOT NULL GROUP BY webhook_id
			)
			SELECT w.id, COALESCE(l.n, 0), (
				SELECT json_group_array(json_array(id, next_attempt_ms)) FROM (
					SELECT d.id, d.next_attempt_ms FROM webhook_deliveries d
					WHERE d.webhook_id = w.id AND d.status IN ('pending', 'retrying') AND d.lease_token IS NULL
					  AND d.next_attempt_ms <= ? AND (w.active = 1 OR d.manual = 1)
					ORDER BY d.next_attempt_ms, d.id LIMIT ?))
			FROM webhooks w LEFT JOIN leased l ON l.webhook_id = w.id
			WHERE COALESCE(l.n, 0) < ?`, now.UnixMilli(), min(limit, perHook), perHook)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		defer rows.Close()
		type due struct{ id, at int64 }
		var queues [][]due
		for rows.Next() {
			var hookID int64
			var leased int
			var list string
			if err := rows.Scan(&hookID, &leased, &list); err != nil {
				return fmt.Errorf("claim deliveries: %w", err)
			}
			var pairs [][2]int64
			if err := json.Unmarshal([]byte(list), &pairs); err != nil {
				return fmt.Errorf("claim deliveries: %w", err)
			}
			q := make([]due, 0, len(pairs))
			for _, p := range pairs {
				q = append(q, due{p[0], p[1]})
			}
			slices.SortFunc(q, func(a, b due) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.id, b.id)) })
			if n := perHook - leased; len(q) > n {
				q = q[:n]
			}
			if len(q) > 0 {
				queues = append(queues, q)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		// Turns: the hooks whose oldest delivery is oldest go first.
		slices.SortFunc(queues, func(a, b []due) int { return cmp.Or(cmp.Compare(a[0].at, b[0].at), cmp.Compare(a[0].id, b[0].id)) })
		var chosen []any
		for round := 0; len(chosen) < limit; round++ {
			took := false
			for _, q := range queues {
				if round < len(q) && len(chosen) < limit {
					chosen, took = append(chosen, q[round].id), true
				}
			}
			if !took {
				break
			}
		}
		if len(chosen) == 0 {
			return nil
		}
		args := append([]any{token, now.Add(lease).UnixMilli(), Now()}, chosen...)
		upd, err := tx.w.QueryContext(ctx, `UPDATE webhook_deliveries
			SET attempts = attempts + 1, lease_token = ?, lease_expires_ms = ?, updated_at = ?
			WHERE id IN (?`+strings.Repeat(", ?", len(chosen)-1)+`) AND lease_token IS NULL AND status IN ('pending', 'retrying')
			RETURNING id`, args...)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		defer upd.Close()
		for upd.Next() {
			var id int64
			if err := upd.Scan(&id); err != nil {
				return fmt.Errorf("claim deliveries: %w", err)
			}
			ids = append(ids, id)
		}
		return upd.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]*ClaimedDelivery, 0, len(ids))
	for _, id := range ids {
		d, err := s.DeliveryByID(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // its hook was deleted in the meantime
		}
		if err != nil {
			return out, err
		}
		out = append(out, &ClaimedDelivery{Delivery: d, LeaseToken: token})
	}
	return out, nil
}

// NextDeliveryDue is when the earliest delivery not yet due at `after`
// becomes due (ok is false when none waits), so workers sleep exactly
// until then. Deliveries already due but held back by the per-hook cap
// are not its business: a finishing worker wakes the dispatcher.
func (s *Store) NextDeliveryDue(ctx context.Context, after time.Time) (due time.Time, ok bool, err error) {
	var ms sql.NullInt64
	// A range seek on the due index: the backlog already due is never read.
	err = s.r.QueryRowContext(ctx, `SELECT d.next_attempt_ms FROM webhook_deliveries d INDEXED BY webhook_deliveries_due
		JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_ms > ? AND d.lease_token IS NULL
		  AND (w.active = 1 OR d.manual = 1)
		ORDER BY d.next_attempt_ms LIMIT 1`, after.UnixMilli()).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next delivery due: %w", err)
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ms.Int64), true, nil
}

// AttemptResult is the outcome of one delivery attempt.
type AttemptResult struct {
	DeliveryID      int64
	LeaseToken      string
	Attempt         int
	URL             string
	RequestHeaders  map[string]string
	StatusCode      int // 0: no response
	ResponseHeaders map[string]string
	ResponseBody    []byte
	Duration        time.Duration
	Error           string
	StartedAt       time.Time
	Succeeded       bool
	RetryAt         time.Time // when another attempt is due; zero with !Succeeded: give up
}

// FinishAttempt logs an attempt and moves the delivery to succeeded,
// retrying or failed, releasing the lease. If the lease was lost the
// attempt is logged and ErrLeaseLost returned.
func (s *Store) FinishAttempt(ctx context.Context, res AttemptResult) error {
	lost := false
	err := s.Tx(ctx, func(tx *Store) error {
		reqHeaders, err := json.Marshal(res.RequestHeaders)
		if err != nil {
			return fmt.Errorf("encode request headers: %w", err)
		}
		var code, respHeaders, errText any
		if res.StatusCode != 0 {
			code = res.StatusCode
			h, err := json.Marshal(res.ResponseHeaders)
			if err != nil {
				return fmt.Errorf("encode response headers: %w", err)
			}
			respHeaders = string(h)
		}
		if res.Error != "" {
			errText = res.Error
		}
		ms := res.Duration.Milliseconds()
		started := res.StartedAt.UTC().Truncate(time.Second)
		if _, err := tx.w.ExecContext(ctx, `INSERT INTO webhook_attempts(delivery_id, attempt, url, request_headers, status_code,
			response_headers, response_body, duration_ms, error, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			res.DeliveryID, res.Attempt, res.URL, string(reqHeaders), code, respHeaders, res.ResponseBody, ms, errText, started); err != nil {
			return fmt.Errorf("log delivery attempt: %w", err)
		}
		status, next := DeliveryFailed, any(nil)
		var delivered any
		switch {
		case res.Succeeded:
			status, delivered = DeliverySucceeded, Now()
		case !res.RetryAt.IsZero():
			status, next = DeliveryRetrying, res.RetryAt.UnixMilli()
		}
		r, err := tx.w.ExecContext(ctx, `UPDATE webhook_deliveries SET status = ?, next_attempt_ms = ?, lease_token = NULL,
			lease_expires_ms = NULL, status_code = ?, duration_ms = ?, last_error = ?, last_attempt_at = ?,
			delivered_at = COALESCE(?, delivered_at), updated_at = ? WHERE id = ? AND lease_token = ?`,
			status, next, code, ms, errText, started, delivered, Now(), res.DeliveryID, res.LeaseToken)
		if err != nil {
			return fmt.Errorf("finish delivery: %w", err)
		}
		n, err := r.RowsAffected()
		lost = n == 0
		return err
	})
	if err == nil && lost {
		err = fmt.Errorf("delivery %d: %w", res.DeliveryID, ErrLeaseLost)
	}
	return err
}

// ReleaseLease gives a claimed delivery back without counting the attempt:
// the worker stopped (shutdown) before it finished.
func (s *Store) ReleaseLease(ctx context.Context, id int64, token string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = MAX(attempts - 1, 0), lease_token = NULL,
		lease_expires_ms = NULL, updated_at = ? WHERE id = ? AND lease_token = ?`, Now(), id, token)
	if err != nil {
		return fmt.Errorf("release delivery lease: %w", err)
	}
	return nil
}

// ReleaseExpiredLeases frees deliveries whose lease expired before
// `before` (a worker crashed or hung mid-attempt), logging the interrupted
// attempt with reason, and makes them due at once. At start-up the caller
// passes a time far in the future: no worker of a previous process is
// alive. It returns how many were released.
func (s *Store) ReleaseExpiredLeases(ctx context.Context, before time.Time, reason string) (int, error) {
	var n int
	err := s.Tx(ctx, func(tx *Store) error {
		now := Now()
		if _, err := tx.w.ExecContext(ctx, `INSERT INTO webhook_attempts(delivery_id, attempt, url, request_headers, duration_ms, error, started_at)
			SELECT d.id, d.attempts, w.url, '{}', 0, ?, ? FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.lease_token IS NOT NULL AND d.lease_expires_ms < ?`, reason, now, before.UnixMilli()); err != nil {
			return fmt.Errorf("log interrupted attempts: %w", err)
		}
		res, err := tx.w.ExecContext(ctx, `UPDATE webhook_deliveries SET lease_token = NULL, lease_expires_ms = NULL,
			last_error = ?, updated_at = ?, next_attempt_ms = MIN(COALESCE(next_attempt_ms, ?), ?)
			WHERE lease_token IS NOT NULL AND lease_expires_ms < ?`,
			reason, now, time.Now().UnixMilli(), time.Now().UnixMilli(), before.UnixMilli())
		if err != nil {
			return fmt.Errorf("release expired leases: %w", err)
		}
		m, err := res.RowsAffected()
		n = int(m)
		return err
	})
	return n, err
}

// DeliveryAttempt is one logged attempt.
type DeliveryAttempt struct {
	ID              int64
	DeliveryID      int64
	Attempt         int
	URL             string
	RequestHeaders  map[string]string
	StatusCode      *int
	ResponseHeaders map[string]string
	ResponseBody    []byte
	DurationMS      int64
	Error           *string
	StartedAt       time.Time
}

// DeliveryAttempts lists a delivery's attempts in order.
func (s *Store) DeliveryAttempts(ctx context.Context, deliveryID int64) ([]*DeliveryAttempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, delivery_id, attempt, url, request_headers, status_code, response_headers,
		response_body, duration_ms, error, started_at FROM webhook_attempts WHERE delivery_id = ? ORDER BY id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("list delivery attempts: %w", err)
	}
	defer rows.Close()
	out := []*DeliveryAttempt{}
	for rows.Next() {
		a := &DeliveryAttempt{}
		var reqH string
		var code sql.NullInt64
		var respH, errText sql.NullString
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.Attempt, &a.URL, &reqH, &code, &respH, &a.ResponseBody,
			&a.DurationMS, &errText, &a.StartedAt); err != nil {
			return nil, fmt.Errorf("scan delivery attempt: %w", err)
		}
		if err := json.Unmarshal([]byte(reqH), &a.RequestHeaders); err != nil {
			return nil, fmt.Errorf("attempt %d request headers: %w", a.ID, err)
		}
		if respH.Valid {
			if err := json.Unmarshal([]byte(respH.String), &a.ResponseHeaders); err != nil {
				return nil, fmt.Errorf("attempt %d response headers: %w", a.ID, err)
			}
		}
		if code.Valid {
			c := int(code.Int64)
			a.StatusCode = &c
		}
		a.Error = strPtr(errText)
		a.StartedAt = a.StartedAt.UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// PruneDeliveries deletes finished (succeeded or failed) deliveries
// created before `before`, with their attempts; waiting ones are kept
// whatever their age.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE status IN ('succeeded', 'failed') AND created_at < ?`,
		before.UTC().Truncate(time.Second))
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// UnsealedWebhookSecrets returns the hooks whose secret is set and not
// sealed (sealed reports which stored values are), by hook id.
func (s *Store) UnsealedWebhookSecrets(ctx context.Context, sealed func(string) bool) (map[int64]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, secret FROM webhooks WHERE secret <> ''`)
	if err != nil {
		return nil, fmt.Errorf("read webhook secrets: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var secret string
		if err := rows.Scan(&id, &secret); err != nil {
			return nil, fmt.Errorf("scan webhook secret: %w", err)
		}
		if !sealed(secret) {
			out[id] = secret
		}
	}
	return out, rows.Err()
}

// SetWebhookSecret replaces a hook's stored secret.
func (s *Store) SetWebhookSecret(ctx context.Context, id int64, secret string) error {
	return s.execOne(ctx, "set webhook secret", `UPDATE webhooks SET secret = ? WHERE id = ?`, secret, id)
}
