package handlers_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// TestIssuePagesOverHTTP walks an issue list page by page while other
// clients open issues: oldest first, every issue there was before the walk
// comes exactly once and in order, none twice. Once the writers stop,
// every page of both directions (those in the back half are read from the
// far end) is its slice of the whole list, and Link's last page is the
// list's tail.
func TestIssuePagesOverHTTP(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "pages")
	me := shared.as(t, u.Token)
	me.createRepo(map[string]any{"name": "paged"})
	issues := "/api/v1/repos/" + u.Name + "/paged/issues"
	const before = 23
	for k := range before {
		me.must(http.StatusCreated, "POST", issues, map[string]any{"title": fmt.Sprint("before ", k)})
	}

	var writers sync.WaitGroup
	for w := range 2 {
		writers.Go(func() {
			for k := range 10 {
				r := me.do("POST", issues, map[string]any{"title": fmt.Sprintf("during %d-%d", w, k)})
				if r.Status != http.StatusCreated {
					t.Errorf("create during the walk: %d %s", r.Status, r.Body)
				}
			}
		})
	}
	var walked []int
	for page := 1; ; page++ {
		r := me.must(http.StatusOK, "GET", fmt.Sprintf("%s?sort=created&direction=asc&per_page=5&page=%d", issues, page), nil)
		total, err := strconv.Atoi(r.Header.Get("X-Total-Count"))
		if err != nil || total < before {
			t.Fatalf("page %d: X-Total-Count %q", page, r.Header.Get("X-Total-Count"))
		}
		list := r.list(t)
		for _, i := range list {
			walked = append(walked, int(i["number"].(float64)))
		}
		if len(list) < 5 {
			break
		}
	}
	writers.Wait()
	for k, n := range walked {
		if k > 0 && n <= walked[k-1] {
			t.Fatalf("walk out of order or repeating: %v", walked)
		}
	}
	for n := 1; n <= before; n++ {
		if !slices.Contains(walked, n) {
			t.Fatalf("#%d skipped: %v", n, walked)
		}
	}

	lastRel := regexp.MustCompile(`<[^>]*[?&]page=(\d+)[^>]*>; rel="last"`)
	for _, dir := range []string{"asc", "desc"} {
		r := me.must(http.StatusOK, "GET", issues+"?per_page=100&direction="+dir, nil)
		var all []int
		for _, i := range r.list(t) {
			all = append(all, int(i["number"].(float64)))
		}
		if len(all) != before+20 || r.Header.Get("X-Total-Count") != strconv.Itoa(len(all)) {
			t.Fatalf("%s: %d issues, X-Total-Count %q", dir, len(all), r.Header.Get("X-Total-Count"))
		}
		first := me.must(http.StatusOK, "GET", issues+"?per_page=6&direction="+dir, nil)
		m := lastRel.FindStringSubmatch(first.Header.Get("Link"))
		if m == nil || m[1] != "8" {
			t.Fatalf("%s: Link %q, want last page 8", dir, first.Header.Get("Link"))
		}
		for page := 1; page <= 8; page++ {
			var got []int
			for _, i := range me.must(http.StatusOK, "GET", fmt.Sprintf("%s?per_page=6&direction=%s&page=%d", issues, dir, page), nil).list(t) {
				got = append(got, int(i["number"].(float64)))
			}
			want := all[(page-1)*6 : min(page*6, len(all))]
			if !slices.Equal(got, want) {
				t.Errorf("%s page %d: %v, want %v", dir, page, got, want)
			}
		}
	}
}
