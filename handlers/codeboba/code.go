package codeboba

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"

	"tapioca/gitserver/browse"
	"tapioca/handlers/apischema"
	"tapioca/handlers/core"
	"tapioca/handlers/core/code"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/statuses"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

// The media types a diff or patch series is asked for with (GitHub's
// names are accepted too).
const (
	mediaDiff  = "application/vnd.codeboba.diff"
	mediaPatch = "application/vnd.codeboba.patch"
)

// maxCodeBody bounds the bodies that carry files (base64 makes them a
// third larger than the files).
const maxCodeBody = 96 << 20

func (d *Door) routesCode() {
	const repo = "/api/v1/repos/{owner}/{repo}"
	contents := apischema.OneOf{payload.Content{}, []payload.ContentEntry{}}
	d.api("GET "+repo+"/contents", core.AreaRepo, d.getContents, Doc{Summary: "List the repository's top directory",
		Query: code.RefQuery{}, Out: contents})
	d.api("GET "+repo+"/contents/{path...}", core.AreaRepo, d.getContents, Doc{Summary: "Read a file or list a directory",
		Description: "A file answers its bytes base64-encoded (encoding none and no content above 1 MB: use download_url); a directory answers its entries.",
		Query:       code.RefQuery{}, Out: contents})
	d.api("PUT "+repo+"/contents/{path...}", core.AreaRepo, d.putContents, Doc{Summary: "Create or update a file in one commit",
		Description: "Give sha (the blob being replaced) to update; a stale sha is 409. Answers 201 for a new file, 200 for an update.",
		Body:        code.FileInput{}, Out: payload.FileCommit{}, MaxBody: maxCodeBody})
	d.api("DELETE "+repo+"/contents/{path...}", core.AreaRepo, d.deleteContents, Doc{Summary: "Delete a file in one commit",
		Body: code.DeleteFileInput{}, Out: payload.FileCommit{}})
	d.api("GET "+repo+"/raw/{refpath...}", core.AreaRepo, d.getRaw, Doc{Summary: "A file's bytes",
		Description: "The path is <ref>/<file path>; the ref may contain slashes (the shortest leading part that names a revision is taken).",
		Raw:         true, Media: []string{"application/octet-stream"}})
	d.api("GET "+repo+"/git/trees/{ref...}", core.AreaRepo, d.getTree, Doc{Summary: "List a tree (recursively with recursive=true)",
		Description: "ref is a branch, tag, commit or tree SHA. Past 10,000 entries the listing stops with truncated true.",
		Query:       code.TreeQuery{}, Out: payload.Tree{}})
	d.api("GET "+repo+"/grep", core.AreaRepo, d.grep, Doc{Summary: "Search the files at a revision with a regular expression",
		Description: "Bounded in time (10 s), matches and bytes read: truncated and stopped_by say when it stopped early. Binary and huge files are skipped.",
		Query:       code.GrepQuery{}, Out: payload.Grep{}})
	d.api("GET "+repo+"/commits", core.AreaRepo, d.listCommits, Doc{Summary: "List commits (git log order)",
		Description: "Link has next while more follow; there is no X-Total-Count.",
		Query:       code.LogQuery{}, Paged: true, Out: []payload.Commit{}})
	d.api("POST "+repo+"/commits", core.AreaRepo, d.createCommit, Doc{Summary: "Commit several file changes at once",
		Description: "Actions create, update, delete and move files. With expected_head_sha the commit is a compare-and-swap (409 if the branch moved). The commit fires the same events and obeys the same branch protection as a push.",
		Body:        code.CommitInput{}, Out: payload.CommitWrite{}, Status: http.StatusCreated, MaxBody: maxCodeBody})
	d.api("GET "+repo+"/commits/{ref...}", core.AreaRepo, d.getCommit, Doc{Summary: "Get a commit with its files and stats",
		Description: "Accept: " + mediaDiff + " answers git diff against the first parent, " + mediaPatch + " git format-patch. A ref with slashes followed by /status must be escaped (%2F).",
		Out:         payload.CommitDetail{}, Media: []string{mediaDiff, mediaPatch}})
	d.api("GET "+repo+"/commits/{ref}/status", core.AreaRepo, d.getCombinedStatus, Doc{Summary: "The combined status of a commit",
		Description: "failure if any current status failed or errored, pending if there are none or one is pending, else success.",
		Out:         payload.CombinedStatus{}})
	d.api("GET "+repo+"/commits/{ref}/statuses", core.AreaRepo, d.listStatuses, Doc{Summary: "Every status posted for a commit, newest first",
		Paged: true, Out: []payload.Status{}})
	d.api("POST "+repo+"/statuses/{sha}", core.AreaRepo, d.createStatus, Doc{Summary: "Post a status for a commit (write access)",
		Body: statuses.Input{}, Out: payload.Status{}, Status: http.StatusCreated})
	d.api("GET "+repo+"/tags", core.AreaRepo, d.listTags, Doc{Summary: "List tags", Paged: true, Out: []payload.Tag{}})
	d.api("GET "+repo+"/compare/{basehead...}", core.AreaRepo, d.compare, Doc{Summary: "Compare base...head",
		Description: "The merge base, how far head is ahead and behind, head's commits and the files changed since the merge base. Accept: " +
			mediaDiff + " answers git diff base...head, " + mediaPatch + " the patch series of base..head.",
		Out: payload.Comparison{}, Media: []string{mediaDiff, mediaPatch}})
}

// diffFormat reads whether the client asked for a diff or a patch.
func diffFormat(r *http.Request) (code.Format, bool) {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case mediaDiff, "application/vnd.github.diff", "application/vnd.github.v3.diff", "text/x-diff":
			return code.Diff, true
		case mediaPatch, "application/vnd.github.patch", "application/vnd.github.v3.patch", "text/x-patch":
			return code.Patch, true
		}
	}
	return code.Diff, false
}

// writeDiff streams a diff. An error before the first byte is an error
// answer; after it the connection is cut, so a client never takes half a
// diff for a whole one.
func (d *Door) writeDiff(w http.ResponseWriter, r *http.Request, dw *code.DiffWriter, f code.Format) error {
	media := mediaDiff
	if f == code.Patch {
		media = mediaPatch
	}
	lw := &lazyWriter{w: w, start: func() {
		w.Header().Set("Content-Type", media+"; charset=utf-8")
		w.WriteHeader(http.StatusOK)
	}}
	err := dw.Write(r.Context(), lw)
	switch {
	case err != nil && !lw.started:
		return err
	case err != nil:
		d.log.WarnContext(r.Context(), "diff aborted", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	case !lw.started:
		lw.start() // an empty diff
	}
	return nil
}

// lazyWriter sends the status line with the first byte.
type lazyWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started && len(b) > 0 {
		l.started = true
		l.start()
	}
	return l.w.Write(b)
}

func (d *Door) getContents(w http.ResponseWriter, r *http.Request) error {
	var q code.RefQuery
	if err := query(r, &q); err != nil {
		return err
	}
	c, err := d.Code.Contents(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("path"), q)
	if err != nil {
		return err
	}
	site := d.env.Site()
	if c.Type == "dir" {
		writeJSON(w, http.StatusOK, site.EntriesOf(c.Repo, c.Content))
		return nil
	}
	writeJSON(w, http.StatusOK, site.ContentOf(c.Repo, c.Content))
	return nil
}

// getRaw streams a file's bytes. Text is served as text/plain whatever
// its name, so a repository's HTML or SVG never runs in the API's
// origin; binary files get the type their extension names.
func (d *Door) getRaw(w http.ResponseWriter, r *http.Request) error {
	c, rd, err := d.Code.Raw(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("refpath"))
	if err != nil {
		return err
	}
	defer rd.Close()
	head := make([]byte, 8000)
	n, err := io.ReadFull(rd, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return err
	}
	head = head[:n]
	ct := "text/plain; charset=utf-8"
	if browse.IsBinary(head) {
		ct = mime.TypeByExtension(path.Ext(c.Name))
		if ct == "" || strings.Contains(ct, "html") || strings.Contains(ct, "xml") || strings.Contains(ct, "javascript") {
			ct = "application/octet-stream"
		}
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", fmt.Sprint(c.Size))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	// The blob's id names these bytes exactly.
	h.Set("ETag", `"`+c.SHA.String()+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, io.MultiReader(bytes.NewReader(head), rd)); err != nil {
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (d *Door) getTree(w http.ResponseWriter, r *http.Request) error {
	var q code.TreeQuery
	if err := query(r, &q); err != nil {
		return err
	}
	t, err := d.Code.Tree(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("ref"), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.TreeOf(t))
	return nil
}

func (d *Door) grep(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermRead); err != nil {
		return err
	}
	var q code.GrepQuery
	if err := query(r, &q); err != nil {
		return err
	}
	res, err := d.Code.Grep(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.GrepOf(res))
	return nil
}

func (d *Door) listCommits(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermRead); err != nil {
		return err
	}
	var q code.LogQuery
	if err := query(r, &q); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	lp, err := d.Code.Log(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), q, p.Core())
	if err != nil {
		return err
	}
	httpx.SetPageLinks(w, r, d.env.BaseURL(), p, lp.HasMore)
	writeJSON(w, http.StatusOK, d.env.Site().Commits(lp.Repo, lp.Commits))
	return nil
}

func (d *Door) getCommit(w http.ResponseWriter, r *http.Request) error {
	owner, name, rev := r.PathValue("owner"), r.PathValue("repo"), r.PathValue("ref")
	if f, ok := diffFormat(r); ok {
		dw, err := d.Code.CommitDiff(r.Context(), actor(r), owner, name, rev, f)
		if err != nil {
			return err
		}
		return d.writeDiff(w, r, dw, f)
	}
	c, err := d.Code.Commit(r.Context(), actor(r), owner, name, rev)
	if err != nil {
		return err
	}
	repo, err := d.env.Store.RepoByName(r.Context(), owner, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.env.Site().CommitDetailOf(repo, c))
	return nil
}

func (d *Door) listTags(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermRead); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	tags, total, err := d.Code.Tags(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), p.Core())
	if err != nil {
		return err
	}
	out := make([]payload.Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, payload.TagOf(t))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// splitBaseHead reads "base...head" (either may contain slashes).
func splitBaseHead(s string) (string, string) {
	base, head, ok := strings.Cut(s, "...")
	if !ok {
		return "", ""
	}
	return base, head
}

func (d *Door) compare(w http.ResponseWriter, r *http.Request) error {
	owner, name := r.PathValue("owner"), r.PathValue("repo")
	base, head := splitBaseHead(r.PathValue("basehead"))
	if f, ok := diffFormat(r); ok {
		dw, err := d.Code.CompareDiff(r.Context(), actor(r), owner, name, base, head, f)
		if err != nil {
			return err
		}
		return d.writeDiff(w, r, dw, f)
	}
	c, err := d.Code.Compare(r.Context(), actor(r), owner, name, base, head)
	if err != nil {
		return err
	}
	repo, err := d.env.Store.RepoByName(r.Context(), owner, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.env.Site().ComparisonOf(repo, c))
	return nil
}

func (d *Door) putContents(w http.ResponseWriter, r *http.Request) error {
	if err := d.issueFirst(r, store.PermWrite); err != nil {
		return err
	}
	var req code.FileInput
	if err := decode(r, &req); err != nil {
		return err
	}
	wr, err := d.Code.PutFile(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("path"), req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if req.SHA == "" {
		status = http.StatusCreated
	}
	writeJSON(w, status, d.fileCommit(wr))
	return nil
}

func (d *Door) deleteContents(w http.ResponseWriter, r *http.Request) error {
	if err := d.issueFirst(r, store.PermWrite); err != nil {
		return err
	}
	var req code.DeleteFileInput
	if err := decode(r, &req); err != nil {
		return err
	}
	wr, err := d.Code.DeleteFile(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("path"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.fileCommit(wr))
	return nil
}

func (d *Door) fileCommit(wr *code.Written) payload.FileCommit {
	out := payload.FileCommit{Commit: d.env.Site().CommitOf(wr.Repo, wr.Commit)}
	if wr.Content != nil {
		f := payload.WrittenFileOf(*wr.Content)
		out.Content = &f
	}
	return out
}

func (d *Door) createCommit(w http.ResponseWriter, r *http.Request) error {
	if err := d.issueFirst(r, store.PermWrite); err != nil {
		return err
	}
	var req code.CommitInput
	if err := decode(r, &req); err != nil {
		return err
	}
	wr, err := d.Code.CommitFiles(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, payload.CommitWrite{Branch: wr.Branch, Created: wr.Created,
		Commit: d.env.Site().CommitOf(wr.Repo, wr.Commit), Files: payload.WrittenFiles(wr.Files)})
	return nil
}

func (d *Door) getCombinedStatus(w http.ResponseWriter, r *http.Request) error {
	c, err := d.Statuses.Combined(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("ref"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.CombinedStatus{State: c.State, SHA: c.SHA, TotalCount: len(c.Statuses),
		Statuses: payload.Statuses(c.Statuses)})
	return nil
}

func (d *Door) listStatuses(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermRead); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	sts, total, err := d.Statuses.List(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("ref"), p.Core())
	if err != nil {
		return err
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, payload.Statuses(sts))
	return nil
}

func (d *Door) createStatus(w http.ResponseWriter, r *http.Request) error {
	if err := d.issueFirst(r, store.PermWrite); err != nil {
		return err
	}
	var req statuses.Input
	if err := decode(r, &req); err != nil {
		return err
	}
	st, err := d.Statuses.Create(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("sha"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, payload.StatusOf(st))
	return nil
}
