package codeboba

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"tapioca/handlers/apischema"
	"tapioca/handlers/core"
	"tapioca/handlers/core/idempotency"
)

// OpenAPIPath is where the API describes itself.
const OpenAPIPath = "/api/v1/openapi.json"

func (d *Door) routesOpenAPI() {
	d.api("GET "+OpenAPIPath, core.AreaGeneral, d.getOpenAPI, Doc{Summary: "This API's OpenAPI 3.1 description",
		Description: "Generated from the route table and the Go types each route decodes and answers.", Out: map[string]any{}})
}

func (d *Door) getOpenAPI(w http.ResponseWriter, r *http.Request) error {
	doc := d.OpenAPI()
	doc["servers"] = []map[string]any{{"url": strings.TrimRight(d.env.BaseURL(), "/")}}
	writeJSON(w, http.StatusOK, doc)
	return nil
}

// OpenAPI is the OpenAPI 3.1 document of the routes registered so far.
// Every route is in it by construction: it is made from the route table.
func (d *Door) OpenAPI() map[string]any {
	g := apischema.New(true)
	paths := map[string]map[string]any{}
	for _, rt := range d.routes {
		p := openAPIPath(rt.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.Method)] = operation(g, rt)
	}
	errSchema := g.For(reflect.TypeFor[errorJSON](), apischema.Output)
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "CodeBoba API (Tapioca)",
			"version": d.env.Cfg.Version,
			"description": "GitHub-style REST API of a Tapioca forge. Send `Authorization: Bearer <token>`. " +
				"Unknown query parameters and body fields are refused (422 naming them). Writes accept `Idempotency-Key`; " +
				"GETs carry an `ETag` and answer 304 to `If-None-Match` (not counted against the rate limit). " +
				"Every answer carries `X-Request-Id`.",
		},
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"paths":             paths,
		"components": map[string]any{
			"schemas": g.Components,
			"securitySchemes": map[string]any{
				"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "description": "An API token (cb_...)"},
			},
			"parameters": map[string]any{
				"IdempotencyKey": map[string]any{"name": IdempotencyHeader, "in": "header", "required": false,
					"description": "Makes a retry safe: a repeat with the same key and request within 24 hours replays the first answer (Idempotent-Replayed: true).",
					"schema":      map[string]any{"type": "string", "maxLength": idempotency.MaxKey}},
			},
			"responses": map[string]any{
				"Error": map[string]any{"description": "An error: 400, 401, 403, 404, 405, 409, 413, 422 or 429",
					"content": map[string]any{"application/json": map[string]any{"schema": errSchema}}},
			},
		},
	}
}

// errorJSON is the shape of every error answer.
type errorJSON struct {
	Error     string              `json:"error" doc:"What went wrong"`
	Errors    map[string][]string `json:"errors,omitempty" doc:"Problems by field or parameter"`
	RequestID string              `json:"request_id" doc:"The request's X-Request-Id"`
}

var wildcard = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// openAPIPath turns a ServeMux pattern into an OpenAPI path template.
func openAPIPath(p string) string { return wildcard.ReplaceAllString(p, "{$1}") }

func operationID(rt Route) string {
	var parts []string
	for _, seg := range strings.Split(strings.TrimPrefix(rt.Path, "/api/v1/"), "/") {
		if m := wildcard.FindStringSubmatch(seg); m != nil {
			seg = "by_" + m[1]
		}
		parts = append(parts, strings.NewReplacer(".", "_", "-", "_").Replace(seg))
	}
	return strings.ToLower(rt.Method) + "_" + strings.Join(parts, "_")
}

// tagOf groups an operation by what it is about.
func tagOf(path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")
	if segs[0] == "repos" && len(segs) > 3 {
		switch seg := segs[3]; seg {
		case "contents", "raw", "git", "grep", "commits", "compare", "tags", "statuses", "archive":
			return "code"
		default:
			return seg
		}
	}
	return segs[0]
}

func operation(g *apischema.Generator, rt Route) map[string]any {
	doc := rt.Doc
	op := map[string]any{
		"operationId": operationID(rt),
		"summary":     doc.Summary,
		"tags":        []string{tagOf(rt.Path)},
	}
	if doc.Description != "" {
		op["description"] = doc.Description
	}
	var params []any
	for _, m := range wildcard.FindAllStringSubmatch(rt.Path, -1) {
		schema := map[string]any{"type": "string"}
		desc := ""
		switch m[1] {
		case "number", "id", "delivery_id":
			schema = map[string]any{"type": "integer", "minimum": 1}
		}
		if m[2] != "" {
			desc = "May contain slashes"
		}
		p := map[string]any{"name": m[1], "in": "path", "required": true, "schema": schema}
		if desc != "" {
			p["description"] = desc
		}
		params = append(params, p)
	}
	if doc.Query != nil {
		t := reflect.TypeOf(doc.Query)
		obj := g.For(t, apischema.Input)
		if obj.Ref != "" {
			// Query parameters are listed one by one, not as an object.
			obj = apischema.New(false).For(t, apischema.Input)
		}
		names := make([]string, 0, len(obj.Properties))
		for n := range obj.Properties {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s := *obj.Properties[n]
			p := map[string]any{"name": n, "in": "query", "required": contains(obj.Required, n)}
			if s.Description != "" {
				p["description"] = s.Description
				s.Description = ""
			}
			p["schema"] = &s
			params = append(params, p)
		}
	}
	if doc.Paged {
		params = append(params,
			map[string]any{"name": "page", "in": "query", "description": "Page number (default 1)", "schema": map[string]any{"type": "integer", "minimum": 1}},
			map[string]any{"name": "per_page", "in": "query", "description": "Items per page (default 30, at most 100)", "schema": map[string]any{"type": "integer", "minimum": 1}})
	}
	write := rt.Method != http.MethodGet && rt.Method != http.MethodHead
	if write {
		params = append(params, map[string]any{"$ref": "#/components/parameters/IdempotencyKey"})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if doc.Body != nil {
		op["requestBody"] = map[string]any{
			"required": false,
			"content":  map[string]any{"application/json": map[string]any{"schema": g.Of(doc.Body, apischema.Input)}},
		}
	}
	status := doc.Status
	if status == 0 {
		status = http.StatusOK
		if doc.Out == nil && !doc.Raw {
			status = http.StatusNoContent
		}
	}
	ok := map[string]any{"description": http.StatusText(status)}
	content := map[string]any{}
	if doc.Out != nil {
		content["application/json"] = map[string]any{"schema": g.Of(doc.Out, apischema.Output)}
	}
	for _, m := range doc.Media {
		s := map[string]any{"type": "string"}
		if doc.Raw {
			s["format"] = "binary"
		}
		content[m] = map[string]any{"schema": s}
	}
	if len(content) > 0 {
		ok["content"] = content
	}
	if doc.Paged {
		ok["headers"] = map[string]any{
			"Link":          map[string]any{"description": "first, prev, next and last pages", "schema": map[string]any{"type": "string"}},
			"X-Total-Count": map[string]any{"description": "How many items the list holds", "schema": map[string]any{"type": "integer"}},
		}
	}
	responses := map[string]any{strconv.Itoa(status): ok, "default": map[string]any{"$ref": "#/components/responses/Error"}}
	if !write {
		responses["304"] = map[string]any{"description": "Not modified: the If-None-Match tag is current"}
	}
	op["responses"] = responses
	if rt.SignedIn {
		op["security"] = []map[string]any{{"bearerAuth": []string{}}}
	} else {
		op["security"] = []map[string]any{{}, {"bearerAuth": []string{}}}
	}
	return op
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MarshalOpenAPI is the document as JSON, for tests and tools.
func (d *Door) MarshalOpenAPI() ([]byte, error) { return json.Marshal(d.OpenAPI()) }
