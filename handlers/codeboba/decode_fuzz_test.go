package codeboba

import (
	"errors"
	"testing"

	"tapioca/handlers/core"
	"tapioca/handlers/httpx"
)

// FuzzDecodeRequests decodes arbitrary bytes into the API's main request
// bodies: whatever arrives, decoding never panics and either succeeds or
// fails with a client error (400 or 422), never an internal one.
func FuzzDecodeRequests(f *testing.F) {
	for _, seed := range []string{
		`{}`, ``, `null`, `[]`, `"x"`, `{"title": 5}`, `{"user": {"email": "a@b.c", "password": "p"}}`,
		`{"name": "r", "private": "yes"}`, `{"labels": [1, 2]}`, `{"comments": [{"path": "a", "line": "x"}]}`,
		`{"config": {"url": "http://x", "secret": null}, "events": "push"}`, `{"title": "caf\xe9"}`,
		`{"a": {"b": {"c": [[[[]]]]}}}`, `{"draft": null, "base": 1e400}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		targets := []any{
			new(accountRequest), new(repoRequest), new(webhookRequest), new(labelRequest), new(orgRequest),
			new(struct {
				Title     core.Opt[string]   `json:"title"`
				Body      core.Opt[string]   `json:"body"`
				Labels    core.Opt[[]string] `json:"labels"`
				Assignees []string           `json:"assignees"`
				Draft     core.Opt[bool]     `json:"draft"`
			}),
			new(struct {
				State    core.Opt[string] `json:"state"`
				Comments []struct {
					Path core.Opt[string] `json:"path"`
					Line core.Opt[int]    `json:"line"`
					Body core.Opt[string] `json:"body"`
				} `json:"comments"`
			}),
			new(struct {
				Score core.Opt[float64] `json:"score"`
			}),
		}
		for _, v := range targets {
			err := httpx.DecodeBytes(body, v)
			if err == nil {
				continue
			}
			if !errors.Is(err, core.ErrBadRequest) && !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("decoding %q into %T: %v is neither a bad request nor invalid", body, v, err)
			}
			if p, internal := httpx.ProblemOf(err); internal || p.Status >= 500 {
				t.Fatalf("decoding %q: %d", body, p.Status)
			}
		}
	})
}
