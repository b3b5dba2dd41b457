package handlers

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"tapioca/gitserver"
	"tapioca/gitserver/archive"
	"tapioca/store"
)

var errRefNotFound = errStatus(http.StatusNotFound, "Ref not found")

// getArchive streams a ZIP of a branch, tag or commit. The ZIP is written
// straight to the client as it is made; an error halfway aborts the
// connection, so the client sees a failed download rather than a short one.
func (a *App) getArchive(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ref := r.PathValue("ref")
	h, err := a.resolveArchiveRef(r, repo, ref)
	if errors.Is(err, errRefNotFound) && strings.HasSuffix(ref, ".zip") {
		// GitHub-style URLs end in .zip; a ref really named so wins.
		ref = strings.TrimSuffix(ref, ".zip")
		h, err = a.resolveArchiveRef(r, repo, ref)
	}
	if err != nil {
		return err
	}
	st, err := a.objects(repo)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := object.GetCommit(st, h); err != nil {
		return errRefNotFound // a tag of a tree or blob has no archive
	}
	prefix := repo.Name + "-" + strings.ReplaceAll(ref, "/", "-")
	hd := w.Header()
	hd.Set("Content-Type", "application/zip")
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": prefix + ".zip"}))
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if err := archive.WriteZip(ctx, w, st, h, prefix+"/"); err != nil {
		a.log.WarnContext(ctx, "archive aborted", "repo", repo.ID, "ref", ref, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (a *App) resolveArchiveRef(r *http.Request, repo *store.Repo, ref string) (plumbing.Hash, error) {
	if ref == "" {
		return plumbing.ZeroHash, errRefNotFound
	}
	h, err := a.git.ResolveRef(r.Context(), a.repoPath(repo.ID), ref)
	switch {
	case errors.Is(err, gitserver.ErrNotFound), errors.Is(err, gitserver.ErrAmbiguous):
		return plumbing.ZeroHash, errRefNotFound
	case err != nil:
		return plumbing.ZeroHash, err
	}
	return h, nil
}
