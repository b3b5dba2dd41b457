package views

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"tapioca/store"
)

// Recent activity reads as sentences, with what it was about linked to
// its page when it has one.
func TestActivityLine(t *testing.T) {
	for _, c := range []struct {
		a    store.Activity
		want string
	}{
		{store.Activity{Kind: "issue_opened", Actor: "bob", Subject: "alice/web#3", SubjectKind: "issue", Detail: "Broken"},
			`<a href="/admin/accounts/bob"><strong>bob</strong></a> opened issue <a href="/admin/repos/alice/web"><strong>alice/web#3</strong></a> <span class="muted">Broken</span>`},
		{store.Activity{Kind: "issue_opened", Actor: "ghost", Subject: "alice/web#4", SubjectKind: "issue", Detail: "Orphan"},
			`<strong>ghost</strong> opened issue <a href="/admin/repos/alice/web"><strong>alice/web#4</strong></a> <span class="muted">Orphan</span>`},
		{store.Activity{Kind: "admin", Actor: "root", Subject: "acme", SubjectKind: store.TargetOrg, Detail: "added bob as an owner of"},
			`<a href="/admin/users/root"><strong>root</strong></a> added bob as an owner of <a href="/admin/orgs/acme"><strong>acme</strong></a>`},
		{store.Activity{Kind: "admin", Actor: "root", Subject: "#12", SubjectKind: store.TargetDelivery, Detail: "redelivered webhook delivery"},
			`<a href="/admin/users/root"><strong>root</strong></a> redelivered webhook delivery <a href="/admin/webhooks/deliveries/12"><strong>#12</strong></a>`},
		{store.Activity{Kind: "admin", Actor: "root", Subject: "gone/repo", Detail: "deleted repository"},
			`<a href="/admin/users/root"><strong>root</strong></a> deleted repository <strong>gone/repo</strong>`},
	} {
		var buf bytes.Buffer
		if err := activityLine(c.a).Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		// Browsers collapse runs of spaces; a missing one joins words.
		if got := strings.Join(strings.Fields(buf.String()), " "); got != c.want {
			t.Errorf("%+v:\n got %s\nwant %s", c.a, got, c.want)
		}
	}
}
