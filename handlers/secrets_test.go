package handlers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSecretsAtRest: a webhook's secret is stored sealed (and still signs
// deliveries), and a dashboard session's token is stored hashed.
func TestSecretsAtRest(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "top-secret-value")
	u := shared.register(t, "sealed")
	me := shared.as(t, u.Token)
	h := me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL, "secret": "top-secret-value"}).obj(t)
	var stored string
	if err := shared.App.Store().DB().QueryRowContext(t.Context(), `SELECT secret FROM webhooks WHERE id = ?`, int64(h["id"].(float64))).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == "" || strings.Contains(stored, "top-secret-value") {
		t.Fatalf("webhook secret stored as %q", stored)
	}
	me.must(http.StatusAccepted, "POST", "/api/v1/user/webhooks/"+ftoa(h["id"].(float64))+"/pings", nil)
	if d := rc.waitEvent(t, "ping", "", nil); !d.SignatureOK {
		t.Error("the sealed secret no longer signs deliveries")
	}

	c := newDashClient(t, shared)
	if p := c.signIn("admin", shared.AdminPW); p.Status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", p.Status)
	}
	var cookie string
	for _, ck := range c.http.Jar.Cookies(mustURL(t, shared.URL)) {
		if ck.Name == "tapioca_session" {
			cookie = ck.Value
		}
	}
	sum := sha256.Sum256([]byte(cookie))
	var plain, hashed int
	db := shared.App.Store().DB()
	_ = db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM sessions WHERE token = ?`, cookie).Scan(&plain)
	_ = db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM sessions WHERE token = ?`, hex.EncodeToString(sum[:])).Scan(&hashed)
	if cookie == "" || plain != 0 || hashed != 1 {
		t.Fatalf("session token stored in plain %d, hashed %d", plain, hashed)
	}
}

// TestSecretsFromFiles: the first start's admin password and the API
// secret can come from files, so they are not in the process's command
// line for every user of the machine to read.
func TestSecretsFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwFile, keyFile := filepath.Join(dir, "pw"), filepath.Join(dir, "key")
	if err := os.WriteFile(pwFile, []byte("file-admin-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte("file-api-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, cmd := serveBinary(t, "serve", "--addr", "127.0.0.1:0", "--ssh-addr", "", "--data", filepath.Join(dir, "data"),
		"--admin-password-file", pwFile, "--api-secret-file", keyFile)
	srv := &testServer{URL: base, AdminPW: "file-admin-password"}
	srv.adminToken(t) // fails the test unless the file's password works
	req, _ := http.NewRequest("GET", base+"/v1/api/jobs", nil)
	req.Header.Set("x-api-key", "file-api-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("operations API with the file's secret: %v %v", resp, err)
	}
	resp.Body.Close()
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cmdline")
	if err == nil && (strings.Contains(string(cmdline), "file-admin-password") || strings.Contains(string(cmdline), "file-api-secret")) {
		t.Fatal("a secret is in the command line")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
