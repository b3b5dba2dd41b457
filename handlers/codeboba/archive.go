package codeboba

import (
	"mime"
	"net/http"

	"tapioca/gitserver/archive"
)

// getArchive streams a ZIP of a branch, tag or commit. The ZIP is written
// straight to the client as it is made; an error halfway aborts the
// connection, so the client sees a failed download rather than a short one.
func (d *Door) getArchive(w http.ResponseWriter, r *http.Request) error {
	ar, err := d.Repos.Archive(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("ref"))
	if err != nil {
		return err
	}
	defer ar.Objects.Close()
	hd := w.Header()
	hd.Set("Content-Type", "application/zip")
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": ar.Prefix + ".zip"}))
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if err := archive.WriteZip(r.Context(), w, ar.Objects, ar.Commit, ar.Prefix+"/"); err != nil {
		d.log.WarnContext(r.Context(), "archive aborted", "repo", ar.Repo.ID, "ref", r.PathValue("ref"), "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
