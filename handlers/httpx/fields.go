package httpx

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"

	"tapioca/handlers/apischema"
)

// JSONNames lists every field name a JSON value of type t can hold, at
// any depth (embedded structs flattened, as encoding/json does), sorted.
// It is what a typo is compared with.
func JSONNames(t reflect.Type) []string {
	seen := map[string]bool{}
	visited := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		// A type that decodes itself (core.Opt, time.Time) is one value.
		if t == nil || t.Kind() != reflect.Struct || visited[t] || reflect.PointerTo(t).Implements(unmarshalerType) {
			return
		}
		visited[t] = true
		for _, f := range apischema.StructFields(t) {
			seen[f.Name] = true
			walk(f.Type)
		}
	}
	walk(t)
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// Nearest returns the candidate closest to s (case-insensitive edit
// distance), if one is close enough to be what was meant.
func Nearest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editDistance(ls, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	// One edit in four characters, at least one: "bodyy" -> "body",
	// "sate" -> "state", but "x" is nothing like "labels".
	if best == "" || bestD > max(1, len(s)/4) {
		return ""
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and
// swaps of neighbours that turn a into b (optimal string alignment):
// "paht" is one swap from "path".
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
