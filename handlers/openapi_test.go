package handlers_test

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
)

// TestOpenAPIDocument: /api/v1/openapi.json is a valid OpenAPI 3.1
// document (parsed and checked against the 3.1 schema by libopenapi),
// it documents every route of the table, and every path it documents
// answers something other than "no such endpoint".
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	r := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/openapi.json", nil)
	doc, err := libopenapi.NewDocument(r.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("version %q", v)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("build model: %v", err)
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		for _, e := range errs {
			t.Errorf("invalid: %s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  at %s: %s", se.FieldPath, se.Reason)
			}
		}
	}

	documented := map[string]bool{}
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	wildcard := regexp.MustCompile(`\{([a-z_]+)\.\.\.\}`)
	routes := shared.App.APIRoutes()
	for _, rt := range routes {
		if key := rt.Method + " " + wildcard.ReplaceAllString(rt.Path, "{$1}"); !documented[key] {
			t.Errorf("route %s %s is not documented", rt.Method, rt.Path)
		}
	}
	if len(documented) != len(routes) {
		t.Errorf("%d operations documented for %d routes", len(documented), len(routes))
	}

	values := strings.NewReplacer("{owner}", "o", "{repo}", "r", "{username}", "u", "{org}", "o", "{number}", "1", "{id}", "1",
		"{delivery_id}", "1", "{name}", "n", "{branch}", "b", "{ref}", "m", "{sha}", "s", "{path}", "p", "{refpath}", "m/p",
		"{basehead}", "a...b")
	anon := shared.as(t, "")
	for key := range documented {
		method, path, _ := strings.Cut(key, " ")
		r := anon.do(method, values.Replace(path), map[string]any{})
		if r.Status == http.StatusNotFound && strings.Contains(string(r.Body), "No such endpoint") ||
			r.Status == http.StatusMethodNotAllowed || r.Status >= 500 {
			t.Errorf("documented %s %s answers %d %s", method, path, r.Status, r.Body)
		}
	}
}

// TestReadmeListsEveryRoute keeps the endpoint table of the API's notes
// equal to the route table.
func TestReadmeListsEveryRoute(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("codeboba/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Endpoints\n")
	if !ok {
		t.Fatal("no Endpoints section")
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 3 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			listed[strings.Trim(strings.TrimSpace(cells[1]), "`")+" /api/v1"+strings.Trim(strings.TrimSpace(cells[2]), "`")] = true
		}
	}
	for _, rt := range shared.App.APIRoutes() {
		key := rt.Method + " " + rt.Path
		if !listed[key] {
			t.Errorf("%s is not in handlers/codeboba/README.md's endpoint table", key)
		}
		delete(listed, key)
	}
	for key := range listed {
		t.Errorf("the endpoint table lists %s, which is not a route", key)
	}
}
