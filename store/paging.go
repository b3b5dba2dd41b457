package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// How lists are paged. Every list reads its page in three steps inside one
// read snapshot (so the total and the page agree while writers commit):
//
//  1. the total, from a maintained counter or a count of the index range
//     that matches the filter, never of more;
//  2. the page's ids, from an index whose leading columns are the filter
//     and whose next ones are the sort, so SQLite walks it in order and
//     stops after the page; the rowid at the end of every index breaks
//     ties, so the order is total and pages neither repeat nor skip;
//  3. the rows for those ids, by primary key.
//
// OFFSET still walks every entry it skips, but only index entries, and
// pageWindow reads a page in the back half of a list from its far end, so
// the first and the last pages cost the same; only pages in the middle of
// a long list cost a walk of up to half of it.

// window is the part of an ordered list a query reads.
type window struct {
	limit, offset int
	reverse       bool // read in the opposite order, offset counted from the end
}

// pageWindow turns a page (limit rows from offset; limit <= 0 for all
// rows) of a list of total rows into the window to read. ok is false when
// the page is empty.
func pageWindow(total, limit, offset int) (w window, ok bool) {
	offset = max(offset, 0)
	if offset >= total {
		return window{}, false
	}
	if limit <= 0 || limit > total-offset {
		limit = total - offset
	}
	if back := total - offset - limit; back < offset {
		return window{limit: limit, offset: back, reverse: true}, true
	}
	return window{limit: limit, offset: offset}, true
}

// direction is the SQL direction to read in: the list's own, or its
// opposite for a window read from the end.
func (w window) direction(asc bool) string {
	if asc != w.reverse {
		return " ASC"
	}
	return " DESC"
}

// order puts the direction to read in into query, which writes it as
// {dir} after each ORDER BY term and {cmp} where a keyset condition
// compares with the row the page starts after.
func (w window) order(query string, asc bool) string {
	dir := w.direction(asc)
	cmp := ">"
	if dir == " DESC" {
		cmp = "<"
	}
	return strings.NewReplacer("{dir}", dir, "{cmp}", cmp).Replace(query)
}

// rowsPage reads one page of a list whose rows come straight from its
// query, inside one read snapshot: the total from countQuery, then the
// page's window from pageQuery (which writes {dir} and {cmp} for
// window.order and ends in LIMIT ? OFFSET ?), both with args, each row
// made by scan, in the list's order (asc or newest first). what names
// the list in errors. The page is never nil.
func rowsPage[T any](ctx context.Context, s *Store, what, countQuery, pageQuery string, asc bool, args []any,
	limit, offset int, scan func(*sql.Rows) (T, error)) ([]T, int, error) {
	out := []T{}
	var total int
	err := s.snapshot(ctx, func(r *Store) error {
		var err error
		if total, err = r.count(ctx, what, countQuery, args...); err != nil {
			return err
		}
		w, ok := pageWindow(total, limit, offset)
		if !ok {
			return nil
		}
		rows, err := r.r.QueryContext(ctx, w.order(pageQuery, asc), append(slices.Clip(args), w.limit, w.offset)...)
		if err != nil {
			return fmt.Errorf("list %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return fmt.Errorf("scan %s: %w", what, err)
			}
			out = append(out, v)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list %s: %w", what, err)
		}
		arrange(w, out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// ids runs query (which selects one id column and ends in LIMIT ? OFFSET
// ?) for the window and returns the ids in the list's order.
func (s *Store) ids(ctx context.Context, w window, query string, args ...any) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, query, append(args, w.limit, w.offset)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]int64, 0, w.limit)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if w.reverse {
		slices.Reverse(out)
	}
	return out, nil
}

// arrange puts rows read through w into the list's order.
func arrange[T any](w window, rows []T) {
	if w.reverse {
		slices.Reverse(rows)
	}
}

// count runs a query that returns one number.
func (s *Store) count(ctx context.Context, what, query string, args ...any) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", what, err)
	}
	return n, nil
}

// idArgs is ids as query arguments, for an inList of len(ids).
func idArgs(ids []int64) []any {
	out := make([]any, len(ids))
	for k, id := range ids {
		out[k] = id
	}
	return out
}

// inOrder arranges rows loaded by id in the order of ids.
func inOrder[T any](ids []int64, byID map[int64]T) []T {
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		if v, ok := byID[id]; ok {
			out = append(out, v)
		}
	}
	return out
}
