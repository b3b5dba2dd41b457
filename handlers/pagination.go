package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// page is a parsed page/per_page pair (SPEC §4: defaults 1 and 30, at most
// 100 per page).
type page struct {
	Page, PerPage int
}

// maxPage caps page numbers (2^31-1 pages of 100 items is beyond any list).
const maxPage = 1<<31 - 1

func (p page) Offset() int { return (p.Page - 1) * p.PerPage }

// parsePage reads page and per_page. Values that are not positive integers
// are a 422; per_page above 100 is capped, as GitHub does.
func parsePage(r *http.Request) (page, error) {
	v := validation{}
	p := readPage(r, v)
	return p, v.err()
}

// readPage is parsePage for callers that collect their own field errors.
func readPage(r *http.Request, v validation) page {
	p := page{Page: 1, PerPage: 30}
	q := r.URL.Query()
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			v.add("page", "must be a positive integer")
		} else {
			// Far past any last page, and small enough that the offset
			// cannot overflow: every larger page is equally empty.
			p.Page = min(n, maxPage)
		}
	}
	if s := q.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			v.add("per_page", "must be a positive integer")
		} else {
			p.PerPage = min(n, 100)
		}
	}
	return p
}

// setPageHeaders writes X-Total-Count and a Link header with first, prev,
// next and last as absolute URLs under the base URL, keeping the other
// query parameters.
func (a *App) setPageHeaders(w http.ResponseWriter, r *http.Request, p page, total int) {
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	last := max(1, (total+p.PerPage-1)/p.PerPage)
	base := strings.TrimRight(a.baseURL(), "/") + r.URL.EscapedPath()
	link := func(n int, rel string) string {
		q := url.Values{}
		for k, vs := range r.URL.Query() {
			q[k] = vs
		}
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(p.PerPage))
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, base, q.Encode(), rel)
	}
	links := []string{link(1, "first")}
	if p.Page > 1 {
		links = append(links, link(min(p.Page-1, last), "prev"))
	}
	if p.Page < last {
		links = append(links, link(p.Page+1, "next"))
	}
	links = append(links, link(last, "last"))
	w.Header().Set("Link", strings.Join(links, ", "))
}

// paginate slices an in-memory list (for lists that are small or come from
// git rather than SQL) and sets the headers.
func paginate[T any](a *App, w http.ResponseWriter, r *http.Request, p page, all []T) []T {
	a.setPageHeaders(w, r, p, len(all))
	start := min(p.Offset(), len(all))
	end := min(start+p.PerPage, len(all))
	out := all[start:end]
	if out == nil {
		out = []T{}
	}
	return out
}
