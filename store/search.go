package store

import (
	"strings"
	"unicode"
)

// searchConds are the conditions (on issues i) of the list filters that
// go beyond state, labels and assignee: full-text search over title,
// body and comments (the issue_search table of 0011_search.sql), the
// author, and a lower bound on updated_at.
func (f IssueList) searchConds() (conds []string, args []any) {
	if f.Search != "" {
		conds = append(conds, `i.id IN (SELECT rowid FROM issue_search WHERE issue_search MATCH ?)`)
		args = append(args, MatchQuery(f.Search))
	}
	if f.Creator != "" {
		conds = append(conds, `i.author_id = (SELECT n.user_id FROM names n WHERE n.lower_name = ?)`)
		args = append(args, strings.ToLower(f.Creator))
	}
	if !f.Since.IsZero() {
		conds = append(conds, `i.updated_at >= ?`)
		args = append(args, f.Since.UTC())
	}
	return conds, args
}

// MatchQuery turns what a user typed into an FTS5 query that cannot be
// malformed: every word must appear (any order, stemmed, any case);
// "quoted words" must appear as that phrase; a word ending in * matches
// as a prefix. FTS5's own operators are not available: a word like OR or
// NEAR is just a word, and punctuation only separates words.
func MatchQuery(q string) string {
	var terms []string
	add := func(text string, prefix bool) {
		text = strings.TrimSpace(text)
		if text == "" {
			return
		}
		t := `"` + strings.ReplaceAll(text, `"`, `""`) + `"`
		if prefix {
			t += "*"
		}
		terms = append(terms, t)
	}
	rest := q
	for rest != "" {
		before, after, quoted := strings.Cut(rest, `"`)
		for _, w := range strings.FieldsFunc(before, unicode.IsSpace) {
			prefix := strings.HasSuffix(w, "*")
			add(strings.TrimRight(w, "*"), prefix)
		}
		if !quoted {
			break
		}
		phrase, tail, _ := strings.Cut(after, `"`)
		add(phrase, false)
		rest = tail
	}
	if len(terms) == 0 {
		// Only quotes, stars and spaces: nothing to look for, so nothing
		// matches (an empty phrase matches no row).
		return `""`
	}
	return strings.Join(terms, " ")
}
