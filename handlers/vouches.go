package handlers

import (
	"errors"
	"math"
	"net/http"
	"strings"

	"tapioca/store"
)

func (a *App) routesVouches() {
	a.api("POST /api/v1/vouches", areaGeneral, a.createVouch)
	a.api("GET /api/v1/users/{username}/vouches", areaGeneral, a.listVouches)
	a.api("GET /api/v1/repos/{owner}/{repo}/reputations", areaRepo, a.listRepoReputations)
	a.api("PUT /api/v1/repos/{owner}/{repo}/reputations/{username}", areaRepo, a.setRepoReputation)
	a.api("DELETE /api/v1/repos/{owner}/{repo}/reputations/{username}", areaRepo, a.deleteRepoReputation)
	a.api("GET /api/v1/orgs/{org}/reputations", areaGeneral, a.listOrgReputations)
	a.api("PUT /api/v1/orgs/{org}/reputations/{username}", areaGeneral, a.setOrgReputation)
	a.api("DELETE /api/v1/orgs/{org}/reputations/{username}", areaGeneral, a.deleteOrgReputation)
}

// The seed's exact message for an empty balance (SPEC §4).
const noVouchesMessage = "No vouches remaining. Purchase more at https://codeboba.com/vouches."

type voucherJSON struct {
	ID               int64  `json:"id"`
	Username         string `json:"username"`
	Kind             string `json:"kind"`
	Reputation       int64  `json:"reputation"`
	RemainingVouches *int64 `json:"remaining_vouches,omitempty"`
}

type vouchJSON struct {
	ID              int64       `json:"id"`
	Voucher         voucherJSON `json:"voucher"`
	TargetType      string      `json:"target_type"`
	Target          string      `json:"target"`
	ReputationAdded *int64      `json:"reputation_added,omitempty"`
	CreatedAt       string      `json:"created_at"`
}

// createVouch spends one unit of the caller's balance on a user, an
// organization or a repository. Nobody vouches for themselves or for what
// they own.
func (a *App) createVouch(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	var req struct {
		TargetType opt[string] `json:"target_type"`
		Target     opt[string] `json:"target"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	tt, target := req.TargetType.V, strings.TrimSpace(req.Target.V)
	switch tt {
	case store.VouchUser, store.VouchOrg, store.VouchRepo:
	case "":
		v.add("target_type", "can't be blank")
	default:
		v.add("target_type", `is not included in the list ("User", "Organization", "Repository")`)
	}
	if target == "" {
		v.add("target", "can't be blank")
	}
	if err := v.err(); err != nil {
		return err
	}
	nv := store.NewVouch{VoucherID: u.ID, TargetType: tt}
	// The account that owns the target: the target itself, or the
	// repository's owner.
	var ownerID int64
	var ownerIsOrg bool
	switch tt {
	case store.VouchRepo:
		owner, name, ok := strings.Cut(target, "/")
		if !ok {
			return invalid("target", `must be "owner/repo"`)
		}
		repo, err := a.store.RepoByName(r.Context(), owner, name)
		if err != nil && !isNotFound(err) {
			return err
		}
		if repo != nil {
			perm, err := a.store.RepoPerm(r.Context(), u, repo)
			if err != nil {
				return err
			}
			if perm < store.PermRead {
				repo = nil // a private repository the voucher cannot see does not exist for them
			}
		}
		if repo == nil {
			return invalid("target", "repository not found")
		}
		ownerID, ownerIsOrg = repo.OwnerID, repo.OwnerType == store.TypeOrg
		nv.TargetRepo, nv.TargetName = repo, repo.FullName()
	default:
		t, err := a.store.UserByName(r.Context(), target)
		if err != nil && !isNotFound(err) {
			return err
		}
		if t == nil || (tt == store.VouchOrg) != t.IsOrg() {
			return invalid("target", strings.ToLower(tt)+" not found")
		}
		ownerID, ownerIsOrg = t.ID, t.IsOrg()
		nv.TargetUserID, nv.TargetName = t.ID, t.Username
	}
	ownErr := invalid("target", "cannot be yourself or something you own")
	if ownerID == u.ID {
		return ownErr
	}
	if ownerIsOrg {
		role, err := a.store.OrgRole(r.Context(), ownerID, u.ID)
		if err != nil {
			return err
		}
		if role == store.RoleOwner {
			return ownErr
		}
	}
	vouch, err := a.store.CreateVouch(r.Context(), nv)
	if errors.Is(err, store.ErrNoVouches) {
		return errStatus(http.StatusUnprocessableEntity, noVouchesMessage)
	}
	if err != nil {
		return err
	}
	remaining, added := vouch.VoucherBalance, vouch.ReputationAdded
	writeJSON(w, http.StatusCreated, vouchJSON{
		ID: vouch.ID,
		Voucher: voucherJSON{ID: vouch.Voucher.ID, Username: vouch.Voucher.Username, Kind: vouch.Voucher.Kind,
			Reputation: vouch.VoucherRep, RemainingVouches: &remaining},
		TargetType: vouch.TargetType, Target: vouch.TargetName, ReputationAdded: &added, CreatedAt: timeJSON(vouch.CreatedAt),
	})
	return nil
}

func (a *App) listVouches(w http.ResponseWriter, r *http.Request) error {
	u, err := a.store.UserByName(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	vs, total, err := a.store.ListVouchesFor(r.Context(), u.ID, p.PerPage, p.Offset())
	if err != nil {
		return err
	}
	out := make([]vouchJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, vouchJSON{
			ID:         v.ID,
			Voucher:    voucherJSON{ID: v.Voucher.ID, Username: v.Voucher.Username, Kind: v.Voucher.Kind, Reputation: v.VoucherRep},
			TargetType: v.TargetType, Target: v.TargetName, CreatedAt: timeJSON(v.CreatedAt),
		})
	}
	a.setPageHeaders(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// --- local reputation ---

type repUserJSON struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	DisplayName *string `json:"display_name"`
	Kind        string  `json:"kind"`
	Bio         *string `json:"bio"`
	URL         *string `json:"url"`
	Reputation  float64 `json:"reputation"`
	CreatedAt   string  `json:"created_at"`
}

func repUser(u *store.User) repUserJSON {
	return repUserJSON{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Kind: u.Kind, Bio: u.Bio, URL: u.URL,
		Reputation: float64(u.Reputation), CreatedAt: timeJSON(u.CreatedAt)}
}

type endorsementJSON struct {
	ID        int64       `json:"id"`
	Grantor   repUserJSON `json:"grantor"`
	Score     float64     `json:"score"`
	CreatedAt string      `json:"created_at"`
	UpdatedAt string      `json:"updated_at"`
}

type reputationGroupJSON struct {
	User         repUserJSON       `json:"user"`
	TotalScore   float64           `json:"total_score"`
	Endorsements []endorsementJSON `json:"endorsements"`
}

// writeReputations groups endorsements by user with their total.
func (a *App) writeReputations(w http.ResponseWriter, r *http.Request, scope string, scopeID int64) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	es, err := a.store.ListEndorsements(r.Context(), scope, scopeID)
	if err != nil {
		return err
	}
	out := []reputationGroupJSON{}
	idx := map[int64]int{}
	for _, e := range es {
		i, ok := idx[e.User.ID]
		if !ok {
			i = len(out)
			idx[e.User.ID] = i
			out = append(out, reputationGroupJSON{User: repUser(e.User), Endorsements: []endorsementJSON{}})
		}
		out[i].TotalScore += e.Score
		out[i].Endorsements = append(out[i].Endorsements, endorsementJSON{ID: e.ID, Grantor: repUser(e.Grantor), Score: e.Score,
			CreatedAt: timeJSON(e.CreatedAt), UpdatedAt: timeJSON(e.UpdatedAt)})
	}
	// Pages count groups (one per endorsed user), not endorsements.
	writeJSON(w, http.StatusOK, paginate(a, w, r, p, out))
	return nil
}

// setReputation creates or updates the caller's endorsement of a user.
func (a *App) setReputation(w http.ResponseWriter, r *http.Request, scope string, scopeID int64) error {
	grantor := who(r).user
	var req struct {
		Score opt[float64] `json:"score"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	switch {
	case !req.Score.Set || req.Score.Null:
		return invalid("score", "can't be blank")
	case !(req.Score.V > 0) || math.IsInf(req.Score.V, 0):
		return invalid("score", "must be greater than 0")
	}
	target, err := a.userNamed(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	if target.ID == grantor.ID {
		return invalid("username", "cannot endorse yourself")
	}
	e, err := a.store.SetEndorsement(r.Context(), scope, scopeID, target.ID, grantor.ID, req.Score.V)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": e.ID, "user": repUser(e.User), "grantor": repUser(e.Grantor), "score": e.Score,
		"created_at": timeJSON(e.CreatedAt), "updated_at": timeJSON(e.UpdatedAt),
	})
	return nil
}

// deleteReputation removes the caller's endorsement of a user. Admins of
// the scope may remove others': one grantor's with ?grantor=NAME, or all
// of them when they have none of their own.
func (a *App) deleteReputation(w http.ResponseWriter, r *http.Request, scope string, scopeID int64, isAdmin bool) error {
	caller := who(r).user
	target, err := a.userNamed(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	grantorID := caller.ID
	if g := r.URL.Query().Get("grantor"); g != "" {
		gu, err := a.userNamed(r.Context(), g)
		if err != nil {
			return err
		}
		if gu.ID != caller.ID && !isAdmin {
			return errStatus(http.StatusForbidden, "Only admins can remove other people's endorsements")
		}
		grantorID = gu.ID
	}
	n, err := a.store.DeleteEndorsements(r.Context(), scope, scopeID, target.ID, grantorID)
	if err != nil {
		return err
	}
	if n == 0 && isAdmin && r.URL.Query().Get("grantor") == "" {
		if n, err = a.store.DeleteEndorsements(r.Context(), scope, scopeID, target.ID, 0); err != nil {
			return err
		}
	}
	if n == 0 {
		return errNotFound
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *App) listRepoReputations(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	return a.writeReputations(w, r, store.ScopeRepoRep, repo.ID)
}

func (a *App) setRepoReputation(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermWrite)
	if err != nil {
		return err
	}
	return a.setReputation(w, r, store.ScopeRepoRep, repo.ID)
}

func (a *App) deleteRepoReputation(w http.ResponseWriter, r *http.Request) error {
	repo, perm, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	if _, err := requireUser(r); err != nil {
		return err
	}
	return a.deleteReputation(w, r, store.ScopeRepoRep, repo.ID, perm >= store.PermAdmin)
}

func (a *App) listOrgReputations(w http.ResponseWriter, r *http.Request) error {
	org, _, err := a.orgFor(r, store.RoleMember)
	if err != nil {
		return err
	}
	return a.writeReputations(w, r, store.ScopeOrgRep, org.ID)
}

func (a *App) setOrgReputation(w http.ResponseWriter, r *http.Request) error {
	org, _, err := a.orgFor(r, store.RoleMember)
	if err != nil {
		return err
	}
	return a.setReputation(w, r, store.ScopeOrgRep, org.ID)
}

func (a *App) deleteOrgReputation(w http.ResponseWriter, r *http.Request) error {
	org, role, err := a.orgFor(r, store.RoleMember)
	if err != nil {
		return err
	}
	return a.deleteReputation(w, r, store.ScopeOrgRep, org.ID, roleRank[role] >= roleRank[store.RoleAdmin])
}

// isNotFound reports whether err means the thing does not exist.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
