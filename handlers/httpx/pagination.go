package httpx

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"tapioca/handlers/core"
)

// Page is a parsed page/per_page pair (defaults 1 and 30, at most 100 per
// page).
type Page struct {
	Page, PerPage int
}

// maxPage caps page numbers (2^31-1 pages of 100 items is beyond any list).
const maxPage = 1<<31 - 1

// Core is the slice of the list the page asks for.
func (p Page) Core() core.Page { return core.Page{Limit: p.PerPage, Offset: (p.Page - 1) * p.PerPage} }

// ParsePage reads page and per_page. Values that are not positive
// integers are a validation error; per_page above 100 is capped, as
// GitHub does.
func ParsePage(r *http.Request) (Page, error) {
	v := core.Validation{}
	p := ReadPage(r, v)
	return p, v.Err()
}

// ReadPage is ParsePage for callers that collect their own field errors.
func ReadPage(r *http.Request, v core.Validation) Page {
	p := Page{Page: 1, PerPage: 30}
	q := r.URL.Query()
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			v.Add("page", "must be a positive integer")
		} else {
			// Far past any last page, and small enough that the offset
			// cannot overflow: every larger page is equally empty.
			p.Page = min(n, maxPage)
		}
	}
	if s := q.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			v.Add("per_page", "must be a positive integer")
		} else {
			p.PerPage = min(n, 100)
		}
	}
	return p
}

// SetPageLinks writes the Link header of a list whose total is not known
// (history, walked page by page): first, prev and, when more follow,
// next; no last and no X-Total-Count.
func SetPageLinks(w http.ResponseWriter, r *http.Request, baseURL string, p Page, hasMore bool) {
	links := []string{pageLink(r, baseURL, p, 1, "first")}
	if p.Page > 1 {
		links = append(links, pageLink(r, baseURL, p, p.Page-1, "prev"))
	}
	if hasMore {
		links = append(links, pageLink(r, baseURL, p, p.Page+1, "next"))
	}
	w.Header().Set("Link", strings.Join(links, ", "))
}

func pageLink(r *http.Request, baseURL string, p Page, n int, rel string) string {
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		q[k] = vs
	}
	q.Set("page", strconv.Itoa(n))
	q.Set("per_page", strconv.Itoa(p.PerPage))
	return fmt.Sprintf(`<%s?%s>; rel="%s"`, strings.TrimRight(baseURL, "/")+r.URL.EscapedPath(), q.Encode(), rel)
}

// SetPageHeaders writes X-Total-Count and a Link header with first,
// prev, next and last as absolute URLs under baseURL, keeping the other
// query parameters.
func SetPageHeaders(w http.ResponseWriter, r *http.Request, baseURL string, p Page, total int) {
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	last := max(1, (total+p.PerPage-1)/p.PerPage)
	base := strings.TrimRight(baseURL, "/") + r.URL.EscapedPath()
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
