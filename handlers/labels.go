package handlers

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"tapioca/store"
)

func (a *App) routesLabels() {
	a.api("GET /api/v1/repos/{owner}/{repo}/collaborators", areaRepo, a.listCollaborators)
	a.api("PUT /api/v1/repos/{owner}/{repo}/collaborators/{username}", areaRepo, a.setCollaborator)
	a.api("DELETE /api/v1/repos/{owner}/{repo}/collaborators/{username}", areaRepo, a.removeCollaborator)

	a.api("GET /api/v1/repos/{owner}/{repo}/labels", areaRepo, a.listLabels)
	a.api("POST /api/v1/repos/{owner}/{repo}/labels", areaRepo, a.createLabel)
	a.api("GET /api/v1/repos/{owner}/{repo}/labels/{name...}", areaRepo, a.getLabel)
	a.api("PATCH /api/v1/repos/{owner}/{repo}/labels/{name...}", areaRepo, a.updateLabel)
	a.api("DELETE /api/v1/repos/{owner}/{repo}/labels/{name...}", areaRepo, a.deleteLabel)
}

// --- collaborators ---

type collaboratorJSON struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	Kind        string  `json:"kind"`
	DisplayName *string `json:"display_name"`
	Permission  string  `json:"permission"`
}

func (a *App) listCollaborators(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	cs, err := a.store.ListCollaborators(r.Context(), repo.ID)
	if err != nil {
		return err
	}
	out := make([]collaboratorJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, collaboratorJSON{ID: c.User.ID, Username: c.User.Username, Kind: c.User.Kind, DisplayName: c.User.DisplayName, Permission: c.Permission})
	}
	writeJSON(w, http.StatusOK, paginate(a, w, r, p, out))
	return nil
}

func (a *App) setCollaborator(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermAdmin)
	if err != nil {
		return err
	}
	var req struct {
		Permission opt[string] `json:"permission"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	perm := "write"
	if req.Permission.Set && !req.Permission.Null {
		perm = req.Permission.V
	}
	if _, ok := store.ParsePerm(perm); !ok {
		return invalid("permission", `is not included in the list ("read", "write", "admin")`)
	}
	target, err := a.userNamed(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	if target.ID == repo.OwnerID {
		return invalid("username", "is the repository's owner")
	}
	if err := a.store.SetCollaborator(r.Context(), repo.ID, target.ID, perm); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, collaboratorJSON{ID: target.ID, Username: target.Username, Kind: target.Kind, DisplayName: target.DisplayName, Permission: perm})
	return nil
}

// removeCollaborator revokes access; collaborators may also remove
// themselves.
func (a *App) removeCollaborator(w http.ResponseWriter, r *http.Request) error {
	repo, perm, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	target, err := a.userNamed(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	if perm < store.PermAdmin && who(r).user.ID != target.ID {
		return errForbidden
	}
	if err := a.store.RemoveCollaborator(r.Context(), repo.ID, target.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- labels ---

type labelJSON struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Color       string  `json:"color"`
	Description *string `json:"description"`
}

func labelOut(l *store.Label) labelJSON {
	return labelJSON{ID: l.ID, Name: l.Name, Color: l.Color, Description: l.Description}
}

var colorRe = regexp.MustCompile(`^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$`)

// normalizeColor accepts "#rrggbb", "rrggbb", "#rgb" or "rgb" and returns
// "#rrggbb" in lowercase.
func normalizeColor(s string) (string, bool) {
	m := colorRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return "", false
	}
	hex := strings.ToLower(m[1])
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	return "#" + hex, true
}

// checkLabelName: 1-50 characters; anything printable but the comma,
// which separates names in the issue filter.
func checkLabelName(v validation, name string) {
	switch {
	case name == "":
		v.add("name", "can't be blank")
	case utf8.RuneCountInString(name) > 50:
		v.add("name", "is too long (maximum is 50 characters)")
	case strings.Contains(name, ","):
		v.add("name", "cannot contain a comma")
	default:
		for _, c := range name {
			if unicode.IsControl(c) {
				v.add("name", "cannot contain control characters")
				return
			}
		}
	}
}

func (a *App) listLabels(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	ls, err := a.store.ListLabels(r.Context(), repo.ID)
	if err != nil {
		return err
	}
	out := make([]labelJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, labelOut(l))
	}
	writeJSON(w, http.StatusOK, paginate(a, w, r, p, out))
	return nil
}

type labelRequest struct {
	Name        opt[string] `json:"name"`
	Color       opt[string] `json:"color"`
	Description opt[string] `json:"description"`
}

func (a *App) createLabel(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermWrite)
	if err != nil {
		return err
	}
	var req labelRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	name := strings.TrimSpace(req.Name.V)
	checkLabelName(v, name)
	color, ok := normalizeColor(req.Color.V)
	if req.Color.V == "" {
		v.add("color", "can't be blank")
	} else if !ok {
		v.add("color", "is invalid (a hex color such as #d73a4a)")
	}
	desc := optionalText(v, "description", req.Description, 100, nil)
	if err := v.err(); err != nil {
		return err
	}
	var d *string
	if desc != nil {
		d = *desc
	}
	l, err := a.store.CreateLabel(r.Context(), repo.ID, name, color, d)
	if errors.Is(err, store.ErrLabelExists) {
		return invalid("name", "has already been taken")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, labelOut(l))
	return nil
}

// labelFor loads /labels/{name...} with the caller's permission check.
func (a *App) labelFor(r *http.Request, need store.Perm) (*store.Label, error) {
	repo, _, err := a.repoFor(r, need)
	if err != nil {
		return nil, err
	}
	return a.store.LabelByName(r.Context(), repo.ID, r.PathValue("name"))
}

func (a *App) getLabel(w http.ResponseWriter, r *http.Request) error {
	l, err := a.labelFor(r, store.PermRead)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, labelOut(l))
	return nil
}

func (a *App) updateLabel(w http.ResponseWriter, r *http.Request) error {
	l, err := a.labelFor(r, store.PermWrite)
	if err != nil {
		return err
	}
	var req labelRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	var u store.LabelUpdate
	if req.Name.Set {
		name := strings.TrimSpace(req.Name.V)
		checkLabelName(v, name)
		u.Name = &name
	}
	if req.Color.Set {
		color, ok := normalizeColor(req.Color.V)
		if !ok {
			v.add("color", "is invalid (a hex color such as #d73a4a)")
		}
		u.Color = &color
	}
	u.Description = optionalText(v, "description", req.Description, 100, nil)
	if err := v.err(); err != nil {
		return err
	}
	l, err = a.store.UpdateLabel(r.Context(), l.ID, u)
	if errors.Is(err, store.ErrLabelExists) {
		return invalid("name", "has already been taken")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, labelOut(l))
	return nil
}

func (a *App) deleteLabel(w http.ResponseWriter, r *http.Request) error {
	l, err := a.labelFor(r, store.PermWrite)
	if err != nil {
		return err
	}
	if err := a.store.DeleteLabel(r.Context(), l.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
