package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearerTransport adds a token to every request of the MCP client.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpSession connects the SDK's own client to srv's /mcp with token.
func mcpSession(t *testing.T, srv *testServer, token string) *sdk.ClientSession {
	t.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: "tapioca-test", Version: "1"}, nil)
	tr := &sdk.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: &http.Client{Transport: bearerTransport{token}},
		DisableStandaloneSSE: true, MaxRetries: -1}
	cs, err := client.Connect(context.Background(), tr, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// callTool calls a tool and returns its text; wantErr says whether the
// call must be a tool error.
func callTool(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any, wantErr bool) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	if res.IsError != wantErr {
		t.Fatalf("%s: error %v, want %v: %s", name, res.IsError, wantErr, text.String())
	}
	return text.String()
}

func callJSON(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(callTool(t, cs, name, args, false)), &out); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// TestAgentDayMCP is the same day through MCP only, with the SDK's own
// client: the tools call the same core operations as the REST API, and
// say what went wrong the same way.
func TestAgentDayMCP(t *testing.T) {
	t.Parallel()
	f := newAgentRepo(t)
	cs := mcpSession(t, shared, f.owner.Token)
	repo := func(kv ...any) map[string]any {
		m := map[string]any{"owner": f.owner.Name, "repo": "day"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}

	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]map[string]any{}
	for _, tl := range tools.Tools {
		schemas[tl.Name], _ = tl.InputSchema.(map[string]any)
	}
	if p := schemas["commit_files"]["properties"].(map[string]any); p["actions"] == nil || p["expected_head_sha"] == nil {
		t.Fatalf("commit_files schema: %v", schemas["commit_files"])
	}

	readme := callJSON(t, cs, "get_contents", repo("path", "README.md"))
	if text, _ := base64.StdEncoding.DecodeString(readme["content"].(string)); !strings.Contains(string(text), "day") {
		t.Fatalf("README: %v", readme)
	}
	grep := callJSON(t, cs, "grep", repo("q", "^# day", "path", "README.md"))
	if m := grep["matches"].([]any); len(m) != 1 {
		t.Fatalf("grep: %v", grep)
	}
	// A typo is refused by name, as over REST.
	if msg := callTool(t, cs, "grep", repo("q", "x", "paht", "README.md"), true); !strings.Contains(msg, `"paht"`) || !strings.Contains(msg, `"path"`) {
		t.Errorf("unknown argument: %s", msg)
	}

	issue := callJSON(t, cs, "create_issue", repo("title", "Widgets are missing"))
	var branches []map[string]any
	if err := json.Unmarshal([]byte(callTool(t, cs, "list_branches", repo(), false)), &branches); err != nil || len(branches) != 1 {
		t.Fatalf("branches: %v %v", branches, err)
	}
	master := branches[0]["sha"].(string)
	callJSON(t, cs, "create_branch", repo("name", "widgets", "sha", master))
	written := callJSON(t, cs, "commit_files", repo("branch", "widgets", "message", "Add widgets", "expected_head_sha", master,
		"actions", []map[string]any{
			{"action": "create", "path": "widgets/widget.go", "content": "package widgets\n\ntype Widget struct{}\n"},
			{"action": "create", "path": "widgets/doc.go", "content": "// Package widgets makes widgets.\npackage widgets\n"},
			{"action": "update", "path": "README.md", "content": "# day\n\nWidgets.\n"},
		}))
	head := written["commit"].(map[string]any)["sha"].(string)
	// The same core refusal, as a tool error with the same message.
	if msg := callTool(t, cs, "commit_files", repo("branch", "widgets", "message", "again", "expected_head_sha", master,
		"actions", []map[string]any{{"action": "delete", "path": "README.md"}}), true); !strings.Contains(msg, "Branch widgets moved") || !strings.Contains(msg, "409") {
		t.Errorf("stale head: %s", msg)
	}

	pr := callJSON(t, cs, "create_pull_request", repo("title", "Add widgets", "head", "widgets", "base", "master",
		"body", "Fixes #"+ftoa(issue["number"].(float64))))
	number := pr["number"]
	diff := callTool(t, cs, "get_pull_request", repo("number", number, "format", "diff"), false)
	if want := f.gitDiff("origin/master...origin/widgets"); diff != want {
		t.Fatalf("pull request diff differs from git diff:\n%s\n--- git:\n%s", diff, want)
	}

	callJSON(t, cs, "create_status", repo("sha", head, "state", "failure", "context", "ci"))
	if got := callJSON(t, cs, "get_pull_request", repo("number", number)); got["mergeable_state"] != "blocked" {
		t.Fatalf("with a failing status: %v", got)
	}
	if msg := callTool(t, cs, "merge_pull_request", repo("number", number, "merge_method", "squash"), true); !strings.Contains(msg, "blocked") {
		t.Errorf("blocked merge: %s", msg)
	}
	callJSON(t, cs, "create_status", repo("sha", head, "state", "success", "context", "ci"))
	if got := callJSON(t, cs, "get_combined_status", repo("ref", head)); got["state"] != "success" {
		t.Fatalf("combined: %v", got)
	}
	callJSON(t, cs, "review_pull_request", repo("number", number, "state", "comment",
		"comments", []map[string]any{{"path": "widgets/widget.go", "line": 3, "body": "Document Widget."}}))
	merged := callJSON(t, cs, "merge_pull_request", repo("number", number, "merge_method", "squash"))
	if merged["merged"] != true {
		t.Fatalf("merge: %v", merged)
	}
	if got := callJSON(t, cs, "get_issue", repo("number", issue["number"])); got["state"] != "closed" {
		t.Fatalf("linked issue: %v", got)
	}
	found := callTool(t, cs, "search_issues", repo("q", "widgets missing", "state", "all"), false)
	if !strings.Contains(found, `"Widgets are missing"`) {
		t.Errorf("search: %s", found)
	}
}

// TestMCPAuth: MCP takes the API's tokens and obeys their scopes.
func TestMCPAuth(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "mcpauth")
	for _, tc := range []struct{ name, token string }{{"none", ""}, {"bad", "cb_" + strings.Repeat("x", 40)}} {
		req, _ := http.NewRequest("POST", shared.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s token: %d %v", tc.name, resp.StatusCode, resp.Header)
		}
	}
	c := shared.as(t, u.Token)
	c.createRepo(map[string]any{"name": "scoped", "auto_init": true})
	read := c.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "ro", "scopes": []string{"read"}}).obj(t)["token"].(string)
	cs := mcpSession(t, shared, read)
	args := map[string]any{"owner": u.Name, "repo": "scoped"}
	callTool(t, cs, "get_repository", args, false)
	args["title"] = "nope"
	if msg := callTool(t, cs, "create_issue", args, true); !strings.Contains(msg, "requires write") {
		t.Errorf("read-only token writing: %s", msg)
	}
}
