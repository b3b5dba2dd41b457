package codeboba

import (
	"net/http"

	"tapioca/handlers/core"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/vouches"
	"tapioca/store"
)

func (d *Door) routesVouches() {
	d.user("POST /api/v1/vouches", core.AreaGeneral, d.createVouch,
		Doc{Summary: "Vouch for a user, organization or repository", Body: vouchRequest{}, Out: vouchJSON{}, Status: http.StatusCreated})
	d.api("GET /api/v1/users/{username}/vouches", core.AreaGeneral, d.listVouches,
		Doc{Summary: "List the vouches for an account", Paged: true, Out: []vouchJSON{}})
	const repo = "/api/v1/repos/{owner}/{repo}/reputations"
	d.api("GET "+repo, core.AreaRepo, d.listReputations(d.repoScope(store.PermRead)),
		Doc{Summary: "List endorsements in a repository, by user", Paged: true, Out: []reputationGroupJSON{}})
	d.api("PUT "+repo+"/{username}", core.AreaRepo, d.setReputation(d.repoScope(store.PermWrite)),
		Doc{Summary: "Endorse a user in a repository", Body: reputationRequest{}, Out: endorsementOutJSON{}})
	d.api("DELETE "+repo+"/{username}", core.AreaRepo, d.deleteReputation(d.repoScope(store.PermRead)),
		Doc{Summary: "Remove an endorsement in a repository", Query: reputationDeleteParams{}})
	const org = "/api/v1/orgs/{org}/reputations"
	d.api("GET "+org, core.AreaGeneral, d.listReputations(d.orgScope),
		Doc{Summary: "List endorsements in an organization, by user", Paged: true, Out: []reputationGroupJSON{}})
	d.api("PUT "+org+"/{username}", core.AreaGeneral, d.setReputation(d.orgScope),
		Doc{Summary: "Endorse a user in an organization", Body: reputationRequest{}, Out: endorsementOutJSON{}})
	d.api("DELETE "+org+"/{username}", core.AreaGeneral, d.deleteReputation(d.orgScope),
		Doc{Summary: "Remove an endorsement in an organization", Query: reputationDeleteParams{}})
}

type vouchRequest struct {
	TargetType core.Opt[string] `json:"target_type" api:"required" enum:"User,Organization,Repository"`
	Target     core.Opt[string] `json:"target" api:"required" doc:"A username, or owner/repo for a repository"`
}

type reputationRequest struct {
	Score core.Opt[float64] `json:"score" api:"required" doc:"Greater than 0"`
}

type reputationDeleteParams struct {
	Grantor string `json:"grantor" doc:"Remove this user's endorsement (scope admins)"`
}

type endorsementOutJSON struct {
	ID        int64       `json:"id"`
	User      repUserJSON `json:"user"`
	Grantor   repUserJSON `json:"grantor"`
	Score     float64     `json:"score"`
	CreatedAt string      `json:"created_at"`
	UpdatedAt string      `json:"updated_at"`
}

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

func (d *Door) createVouch(w http.ResponseWriter, r *http.Request) error {
	var req vouchRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := d.Vouches.Vouch(r.Context(), actor(r), req.TargetType.V, req.Target.V)
	if err != nil {
		return err
	}
	remaining, added := v.VoucherBalance, v.ReputationAdded
	writeJSON(w, http.StatusCreated, vouchJSON{
		ID: v.ID,
		Voucher: voucherJSON{ID: v.Voucher.ID, Username: v.Voucher.Username, Kind: v.Voucher.Kind,
			Reputation: v.VoucherRep, RemainingVouches: &remaining},
		TargetType: v.TargetType, Target: v.TargetName, ReputationAdded: &added, CreatedAt: payload.Time(v.CreatedAt),
	})
	return nil
}

func (d *Door) listVouches(w http.ResponseWriter, r *http.Request) error {
	if _, err := d.Accounts.Profile(r.Context(), r.PathValue("username")); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	vs, total, err := d.Vouches.VouchesFor(r.Context(), r.PathValue("username"), p.Core())
	if err != nil {
		return err
	}
	out := make([]vouchJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, vouchJSON{
			ID:         v.ID,
			Voucher:    voucherJSON{ID: v.Voucher.ID, Username: v.Voucher.Username, Kind: v.Voucher.Kind, Reputation: v.VoucherRep},
			TargetType: v.TargetType, Target: v.TargetName, CreatedAt: payload.Time(v.CreatedAt),
		})
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

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
		Reputation: float64(u.Reputation), CreatedAt: payload.Time(u.CreatedAt)}
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

// scopeFunc authorizes the request on a repository's or organization's
// endorsements.
type scopeFunc func(r *http.Request) (vouches.Scope, error)

func (d *Door) repoScope(need store.Perm) scopeFunc {
	return func(r *http.Request) (vouches.Scope, error) {
		return d.Vouches.RepoScope(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), need)
	}
}

func (d *Door) orgScope(r *http.Request) (vouches.Scope, error) {
	return d.Vouches.OrgScope(r.Context(), actor(r), r.PathValue("org"))
}

// listReputations groups endorsements by user with their total; pages
// count groups (one per endorsed user), not endorsements.
func (d *Door) listReputations(scope scopeFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sc, err := scope(r)
		if err != nil {
			return err
		}
		p, err := page(r)
		if err != nil {
			return err
		}
		es, err := d.Vouches.Endorsements(r.Context(), sc)
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
				CreatedAt: payload.Time(e.CreatedAt), UpdatedAt: payload.Time(e.UpdatedAt)})
		}
		pageOut, total := core.Slice(out, p.Core())
		d.setPage(w, r, p, total)
		writeJSON(w, http.StatusOK, pageOut)
		return nil
	}
}

func (d *Door) setReputation(scope scopeFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sc, err := scope(r)
		if err != nil {
			return err
		}
		var req reputationRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		e, err := d.Vouches.Endorse(r.Context(), actor(r), sc, r.PathValue("username"), req.Score)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, endorsementOutJSON{ID: e.ID, User: repUser(e.User), Grantor: repUser(e.Grantor), Score: e.Score,
			CreatedAt: payload.Time(e.CreatedAt), UpdatedAt: payload.Time(e.UpdatedAt)})
		return nil
	}
}

func (d *Door) deleteReputation(scope scopeFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sc, err := scope(r)
		if err != nil {
			return err
		}
		var q reputationDeleteParams
		if err := query(r, &q); err != nil {
			return err
		}
		if err := d.Vouches.RemoveEndorsements(r.Context(), actor(r), sc, r.PathValue("username"), q.Grantor); err != nil {
			return err
		}
		return noContent(w)
	}
}
