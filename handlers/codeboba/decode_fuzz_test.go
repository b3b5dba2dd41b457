package codeboba

import (
	"errors"
	"testing"

	"tapioca/handlers/core"
	"tapioca/handlers/core/code"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/statuses"
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
			new(registrationRequest), new(profileRequest), new(repoRequest), new(webhookRequest), new(labelRequest),
			new(orgBody), new(issues.Creation), new(pulls.Update), new(reviewRequest), new(reputationRequest),
			new(code.CommitInput), new(statuses.Input),
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
