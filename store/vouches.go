package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrNoVouches is returned when the voucher's balance is empty.
var ErrNoVouches = errors.New("no vouches remaining")

// Vouch target types, as the API names them.
const (
	VouchUser = "User"
	VouchOrg  = "Organization"
	VouchRepo = "Repository"
)

// Vouch is one endorsement paid from a voucher's balance.
type Vouch struct {
	ID              int64
	Voucher         UserRef
	VoucherRep      int64
	VoucherBalance  int64 // remaining after this vouch (only on creation)
	TargetType      string
	TargetName      string
	ReputationAdded int64
	CreatedAt       time.Time
}

// ReputationAdded is SPEC §4's formula: max(1, round(R × min(B, 100) /
// 5000)) for a voucher with reputation R and balance B before spending.
func ReputationAdded(rep, balance int64) int64 {
	b := min(balance, 100)
	return max(1, int64(math.Round(float64(rep)*float64(b)/5000)))
}

// NewVouch names the target: TargetUserID for users and orgs, or
// TargetRepo for repositories.
type NewVouch struct {
	VoucherID    int64
	TargetType   string
	TargetUserID int64
	TargetRepo   *Repo
	TargetName   string
}

// CreateVouch spends one unit of the voucher's balance and credits the
// target in one transaction: the target's reputation and vouch_count grow;
// for a repository its vouch_count and reputation grow and the reputation
// also goes to its owner.
func (s *Store) CreateVouch(ctx context.Context, nv NewVouch) (*Vouch, error) {
	var v *Vouch
	err := s.Tx(ctx, func(tx *Store) error {
		voucher, err := tx.UserByID(ctx, nv.VoucherID)
		if err != nil {
			return err
		}
		if voucher.VouchBalance < 1 {
			return ErrNoVouches
		}
		added := ReputationAdded(voucher.Reputation, voucher.VouchBalance)
		now := Now()
		if _, err := tx.w.ExecContext(ctx, `UPDATE users SET vouch_balance = vouch_balance - 1 WHERE id = ?`, voucher.ID); err != nil {
			return fmt.Errorf("spend vouch: %w", err)
		}
		var targetUser, targetRepo any
		switch nv.TargetType {
		case VouchRepo:
			targetRepo = nv.TargetRepo.ID
			if _, err := tx.w.ExecContext(ctx, `UPDATE repos SET vouch_count = vouch_count + 1, reputation = reputation + ? WHERE id = ?`, added, nv.TargetRepo.ID); err != nil {
				return fmt.Errorf("credit repository: %w", err)
			}
			if _, err := tx.w.ExecContext(ctx, `UPDATE users SET reputation = reputation + ? WHERE id = ?`, added, nv.TargetRepo.OwnerID); err != nil {
				return fmt.Errorf("credit repository owner: %w", err)
			}
		default:
			targetUser = nv.TargetUserID
			if _, err := tx.w.ExecContext(ctx, `UPDATE users SET vouch_count = vouch_count + 1, reputation = reputation + ? WHERE id = ?`, added, nv.TargetUserID); err != nil {
				return fmt.Errorf("credit account: %w", err)
			}
		}
		res, err := tx.w.ExecContext(ctx, `INSERT INTO vouches(voucher_id, target_type, target_user_id, target_repo_id, target_name, reputation_added, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, voucher.ID, nv.TargetType, targetUser, targetRepo, nv.TargetName, added, now)
		if err != nil {
			return fmt.Errorf("record vouch: %w", err)
		}
		id, _ := res.LastInsertId()
		v = &Vouch{
			ID: id, Voucher: UserRef{ID: voucher.ID, Username: voucher.Username, Kind: voucher.Kind, DisplayName: voucher.DisplayName},
			VoucherRep: voucher.Reputation, VoucherBalance: voucher.VouchBalance - 1,
			TargetType: nv.TargetType, TargetName: nv.TargetName, ReputationAdded: added, CreatedAt: now,
		}
		return nil
	})
	return v, err
}

// vouchListSQL is the page query of vouches received by one account,
// newest first, for window.order.
const vouchListSQL = `SELECT v.id, ` + refColumns + `, a.reputation,
	v.target_type, t.username, v.reputation_added, v.created_at
	FROM vouches v INDEXED BY vouches_target_user JOIN users a ON a.id = v.voucher_id JOIN users t ON t.id = v.target_user_id
	WHERE v.target_user_id = ? ORDER BY v.id{dir} LIMIT ? OFFSET ?`

// ListVouchesFor lists vouches received by a user or organization, newest
// first, with the total.
func (s *Store) ListVouchesFor(ctx context.Context, userID int64, limit, offset int) ([]*Vouch, int, error) {
	countQuery := `SELECT COUNT(*) FROM vouches v INDEXED BY vouches_target_user WHERE v.target_user_id = ?`
	return rowsPage(ctx, s, "vouches", countQuery, vouchListSQL, false, []any{userID}, limit, offset,
		func(rows *sql.Rows) (*Vouch, error) {
			v := &Vouch{}
			var voucher refRow
			if err := rows.Scan(&v.ID, &voucher.id, &voucher.username, &voucher.kind, &voucher.display, &v.VoucherRep,
				&v.TargetType, &v.TargetName, &v.ReputationAdded, &v.CreatedAt); err != nil {
				return nil, err
			}
			v.Voucher = voucher.ref()
			v.CreatedAt = v.CreatedAt.UTC()
			return v, nil
		})
}

// GrantVouches adds count units to a user's balance (site admins only;
// there is no payment in a self-hosted forge) and returns the new balance.
func (s *Store) GrantVouches(ctx context.Context, userID int64, count int64, grantedBy string) (int64, error) {
	var balance int64
	err := s.Tx(ctx, func(tx *Store) error {
		if err := tx.execOne(ctx, "grant vouches", `UPDATE users SET vouch_balance = vouch_balance + ? WHERE id = ? AND type = 'user'`, count, userID); err != nil {
			return err
		}
		if _, err := tx.w.ExecContext(ctx, `INSERT INTO vouch_grants(user_id, count, granted_by, created_at) VALUES (?, ?, ?, ?)`,
			userID, count, grantedBy, Now()); err != nil {
			return fmt.Errorf("record grant: %w", err)
		}
		return tx.r.QueryRowContext(ctx, `SELECT vouch_balance FROM users WHERE id = ?`, userID).Scan(&balance)
	})
	return balance, err
}

// Endorsement is local reputation granted within a repository or org.
type Endorsement struct {
	ID        int64
	User      *User
	Grantor   *User
	Score     float64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Endorsement scopes.
const (
	ScopeRepoRep = "repo"
	ScopeOrgRep  = "org"
)

// SetEndorsement creates or updates grantor's endorsement of user.
func (s *Store) SetEndorsement(ctx context.Context, scope string, scopeID, userID, grantorID int64, score float64) (*Endorsement, error) {
	now := Now()
	_, err := s.w.ExecContext(ctx, `INSERT INTO endorsements(scope, scope_id, user_id, grantor_id, score, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(scope, scope_id, user_id, grantor_id) DO UPDATE SET score = excluded.score, updated_at = excluded.updated_at`,
		scope, scopeID, userID, grantorID, score, now, now)
	if err != nil {
		return nil, fmt.Errorf("set endorsement: %w", err)
	}
	list, err := s.endorsements(ctx, `e.scope = ? AND e.scope_id = ? AND e.user_id = ? AND e.grantor_id = ?`, scope, scopeID, userID, grantorID)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("endorsement: %w", ErrNotFound)
	}
	return list[0], nil
}

// ListEndorsements lists every endorsement in a scope, grouped by user
// (ordered by user, then oldest first).
func (s *Store) ListEndorsements(ctx context.Context, scope string, scopeID int64) ([]*Endorsement, error) {
	return s.endorsements(ctx, `e.scope = ? AND e.scope_id = ?`, scope, scopeID)
}

func (s *Store) endorsements(ctx context.Context, where string, args ...any) ([]*Endorsement, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT e.id, e.user_id, e.grantor_id, e.score, e.created_at, e.updated_at
		FROM endorsements e JOIN users u ON u.id = e.user_id WHERE `+where+` ORDER BY lower(u.username), e.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list endorsements: %w", err)
	}
	type row struct {
		e             Endorsement
		user, grantor int64
	}
	var raw []row
	var ids []int64
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.e.ID, &r.user, &r.grantor, &r.e.Score, &r.e.CreatedAt, &r.e.UpdatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan endorsement: %w", err)
		}
		raw = append(raw, r)
		ids = append(ids, r.user, r.grantor)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	users, err := s.usersByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*Endorsement, 0, len(raw))
	for _, r := range raw {
		e := r.e
		e.User, e.Grantor = users[r.user], users[r.grantor]
		if e.User == nil || e.Grantor == nil {
			return nil, fmt.Errorf("user: %w", ErrNotFound)
		}
		e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
		out = append(out, &e)
	}
	return out, nil
}

// DeleteEndorsements removes endorsements of user in a scope: the one by
// grantorID, or all of them when grantorID is 0. It reports how many went.
func (s *Store) DeleteEndorsements(ctx context.Context, scope string, scopeID, userID, grantorID int64) (int64, error) {
	q := `DELETE FROM endorsements WHERE scope = ? AND scope_id = ? AND user_id = ?`
	args := []any{scope, scopeID, userID}
	if grantorID != 0 {
		q += ` AND grantor_id = ?`
		args = append(args, grantorID)
	}
	res, err := s.w.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("delete endorsements: %w", err)
	}
	return res.RowsAffected()
}
