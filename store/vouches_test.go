package store

import (
	"context"
	"errors"
	"testing"
)

func TestReputationAdded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ rep, balance, want int64 }{
		{2340, 100, 47}, // the seed's first example
		{2340, 99, 46},  // and its second
		{2340, 500, 47}, // balance counts up to 100
		{0, 100, 1},     // never less than 1
		{10, 1, 1},
		{8500, 100, 170},
	} {
		if got := ReputationAdded(tc.rep, tc.balance); got != tc.want {
			t.Errorf("ReputationAdded(%d, %d) = %d, want %d", tc.rep, tc.balance, got, tc.want)
		}
	}
}

// The seed's two examples in sequence: the same voucher spends twice.
func TestCreateVouchSpendsBalance(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	voucher, err := s.CreateUser(ctx, NewUser{Username: "codebot-9000", Email: "bot@example.com", Kind: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := s.CreateUser(ctx, NewUser{Username: "alice", Email: "alice@example.com"})
	repo, _ := s.CreateRepo(ctx, NewRepo{OwnerID: alice.ID, Name: "great-project"})
	if _, err := s.w.ExecContext(ctx, `UPDATE users SET reputation = 2340 WHERE id = ?`, voucher.ID); err != nil {
		t.Fatal(err)
	}
	if b, err := s.GrantVouches(ctx, voucher.ID, 100, "test"); err != nil || b != 100 {
		t.Fatalf("grant: %d %v", b, err)
	}
	v, err := s.CreateVouch(ctx, NewVouch{VoucherID: voucher.ID, TargetType: VouchUser, TargetUserID: alice.ID, TargetName: "alice"})
	if err != nil || v.ReputationAdded != 47 || v.VoucherBalance != 99 {
		t.Fatalf("first vouch %+v %v", v, err)
	}
	v, err = s.CreateVouch(ctx, NewVouch{VoucherID: voucher.ID, TargetType: VouchRepo, TargetRepo: repo, TargetName: "alice/great-project"})
	if err != nil || v.ReputationAdded != 46 || v.VoucherBalance != 98 {
		t.Fatalf("second vouch %+v %v", v, err)
	}
	a, _ := s.UserByID(ctx, alice.ID)
	r, _ := s.RepoByID(ctx, repo.ID)
	if a.Reputation != 93 || a.VouchCount != 1 || r.VouchCount != 1 || r.Reputation != 46 {
		t.Errorf("alice rep %d count %d; repo count %d rep %d", a.Reputation, a.VouchCount, r.VouchCount, r.Reputation)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE users SET vouch_balance = 0 WHERE id = ?`, voucher.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateVouch(ctx, NewVouch{VoucherID: voucher.ID, TargetType: VouchUser, TargetUserID: alice.ID, TargetName: "alice"}); !errors.Is(err, ErrNoVouches) {
		t.Fatalf("empty balance: %v", err)
	}
}
