package handlers_test

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tapioca/handlers"
)

// sshKey makes an ed25519 key pair with ssh-keygen and returns the
// private key's path and the public key line.
func sshKey(t *testing.T, name string) (path, public string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@test", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(pub))
}

// sshOptions make the real ssh client use only key, trust the test
// server's new host key, and never prompt.
func sshOptions(key string) string {
	return "-F /dev/null -i " + key + " -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes" +
		" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
}

// sshGit runs git with GIT_SSH_COMMAND set to use key.
func sshGit(dir, key string, args ...string) (string, error) {
	cmd := gitCmd(dir, args...)
	cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh "+sshOptions(key))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustSSHGit(t *testing.T, dir, key string, args ...string) string {
	t.Helper()
	out, err := sshGit(dir, key, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func requireSSH(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " is not installed, so git over SSH cannot be tested (Debian: apt-get install -y openssh-client)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// TestGitOverSSH drives the SSH server with the real ssh and git clients,
// as users and machines would: registered keys act as their accounts
// with the same rules as HTTP, deploy keys reach their one repository,
// and everything else is refused with a message.
func TestGitOverSSH(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	srv := newServer(t, func(c *handlers.Config) { c.SSHAddr = "127.0.0.1:0" })
	_, port, _ := net.SplitHostPort(srv.App.SSHAddr().String())

	alice, bob, carol := srv.register(t, "sshown"), srv.register(t, "sshread"), srv.register(t, "sshstr")
	keys := map[string]string{}
	for _, u := range []testUser{alice, bob, carol} {
		path, pub := sshKey(t, u.Name)
		keys[u.Name] = path
		srv.as(t, u.Token).must(http.StatusCreated, "POST", "/api/v1/user/ssh_keys", map[string]any{"title": "laptop", "key": pub})
	}
	unregistered, _ := sshKey(t, "nobody")
	ac := srv.as(t, alice.Token)
	rc := newReceiver(t, "whsec_ssh")
	ac.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL + "/hook", "secret": "whsec_ssh", "events": []string{"push"}})
	repo := ac.createRepo(map[string]any{"name": "app", "visibility": "private", "auto_init": true})
	base := "/api/v1/repos/" + alice.Name + "/app"
	ac.must(http.StatusOK, "PUT", base+"/collaborators/"+bob.Name, map[string]any{"permission": "read"})

	// ssh_url names the real host and the port picked at start.
	url := "ssh://git@127.0.0.1:" + port + "/" + alice.Name + "/app.git"
	if repo["ssh_url"] != url {
		t.Fatalf("ssh_url %v, want %s", repo["ssh_url"], url)
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "work")

	t.Run("clone, push and fetch as the owner, protocol v2", func(t *testing.T) {
		cmd := gitCmd(dir, "clone", url, work)
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh "+sshOptions(keys[alice.Name]), "GIT_TRACE_PACKET=1")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "< version 2") {
			t.Fatalf("v2 clone: %v\n%s", err, out)
		}
		commitFile(t, work, "big.txt", strings.Repeat("first version\n", 100), "one")
		commitFile(t, work, "big.txt", strings.Repeat("second version\n", 100), "two")
		mustSSHGit(t, work, keys[alice.Name], "push", "-q", "origin", "master")
		after := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
		// Push events fire as they do over HTTP.
		d := rc.waitEvent(t, "push", "", func(p map[string]any) bool { return p["after"] == after })
		if d.Payload["pusher"].(map[string]any)["name"] != alice.Name || len(d.Payload["commits"].([]any)) != 2 {
			t.Errorf("push payload %v", d.Payload)
		}
		// scp-like address (no leading slash, no .git), fetch in v2.
		other := filepath.Join(dir, "other")
		cmd = gitCmd(dir, "clone", "-q", "git@127.0.0.1:"+alice.Name+"/app", other)
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh -p "+port+" "+sshOptions(keys[alice.Name]))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scp-style clone: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(runGit(t, other, "rev-parse", "HEAD")); got != after {
			t.Errorf("scp-style clone at %s, want %s", got, after)
		}
	})

	t.Run("protocol v0: clone and fetch", func(t *testing.T) {
		v0 := filepath.Join(dir, "v0")
		cmd := gitCmd(dir, "-c", "protocol.version=0", "clone", url, v0)
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh "+sshOptions(keys[alice.Name]), "GIT_TRACE_PACKET=1")
		if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "version 2") {
			t.Fatalf("v0 clone: %v\n%s", err, out)
		}
		commitFile(t, work, "c.txt", "three\n", "three")
		mustSSHGit(t, work, keys[alice.Name], "-c", "protocol.version=0", "push", "-q", "origin", "master")
		mustSSHGit(t, v0, keys[alice.Name], "-c", "protocol.version=0", "fetch", "-q", "origin")
		if a, b := runGit(t, v0, "rev-parse", "origin/master"), runGit(t, work, "rev-parse", "HEAD"); a != b {
			t.Errorf("v0 fetch got %s, want %s", a, b)
		}
	})

	t.Run("shallow and blob-less clones", func(t *testing.T) {
		shallow := filepath.Join(dir, "shallow")
		mustSSHGit(t, dir, keys[alice.Name], "clone", "-q", "--depth", "1", url, shallow)
		if n := strings.TrimSpace(runGit(t, shallow, "rev-list", "--count", "HEAD")); n != "1" {
			t.Errorf("depth 1 clone has %s commits", n)
		}
		partial := filepath.Join(dir, "partial")
		mustSSHGit(t, dir, keys[alice.Name], "clone", "-q", "--filter=blob:none", url, partial)
		// The old version of big.txt was never sent: the client would
		// fetch it on demand.
		missing := runGit(t, partial, "rev-list", "--objects", "--all", "--missing=print")
		if !strings.Contains(missing, "\n?") || runGit(t, partial, "config", "remote.origin.promisor") != "true\n" {
			t.Errorf("blob:none clone is not partial:\n%s", missing)
		}
		mustSSHGit(t, partial, keys[alice.Name], "checkout", "-q", "HEAD~2")
	})

	t.Run("refusals", func(t *testing.T) {
		out, err := sshGit(dir, unregistered, "ls-remote", url)
		if err == nil || !strings.Contains(out, "Permission denied (publickey)") {
			t.Errorf("unregistered key: %v\n%s", err, out)
		}
		// Who cannot read a repository gets what a missing one gets.
		private, err := sshGit(dir, keys[carol.Name], "ls-remote", url)
		missing, _ := sshGit(dir, keys[carol.Name], "ls-remote", "ssh://git@127.0.0.1:"+port+"/"+alice.Name+"/nothing.git")
		if err == nil || !strings.Contains(private, "remote: Repository not found") ||
			strings.ReplaceAll(private, "app", "nothing") != missing {
			t.Errorf("stranger:\n%s\nmissing repository:\n%s", private, missing)
		}
		// A reader clones, and is told why a push is refused.
		readerWork := filepath.Join(dir, "reader")
		mustSSHGit(t, dir, keys[bob.Name], "clone", "-q", url, readerWork)
		commitFile(t, readerWork, "r.txt", "reader\n", "reader's change")
		out, err = sshGit(readerWork, keys[bob.Name], "push", "origin", "master")
		if err == nil || !strings.Contains(out, "remote: You do not have write access to "+alice.Name+"/app") {
			t.Errorf("reader push: %v\n%s", err, out)
		}
		// A shell or another command gets a greeting that names what
		// works, and exit status 1.
		hello := "Hi " + alice.Name + "! You've successfully authenticated, but Tapioca does not provide shell access."
		for _, command := range []string{"", "ls"} {
			cmd := exec.Command("ssh", append(strings.Fields(sshOptions(keys[alice.Name])), "-T", "-p", port, "git@127.0.0.1", command)...)
			b, err := cmd.CombinedOutput()
			out := string(b)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, hello) ||
				!strings.Contains(out, "git clone ssh://git@127.0.0.1:"+port+"/") || command != "" && !strings.Contains(out, `not "ls"`) {
				t.Errorf("ssh %q: %v\n%s", command, err, out)
			}
		}
	})

	t.Run("deploy keys", func(t *testing.T) {
		roKey, roPub := sshKey(t, "deploy-ro")
		rwKey, rwPub := sshKey(t, "deploy-rw")
		ro := ac.must(http.StatusCreated, "POST", base+"/keys", map[string]any{"title": "ci", "key": roPub}).obj(t)
		rw := ac.must(http.StatusCreated, "POST", base+"/keys", map[string]any{"title": "release", "key": rwPub, "read_only": false}).obj(t)
		if ro["read_only"] != true || rw["read_only"] != false {
			t.Fatalf("keys %v %v", ro, rw)
		}
		deployWork := filepath.Join(dir, "deploy")
		mustSSHGit(t, dir, roKey, "clone", "-q", url, deployWork)
		commitFile(t, deployWork, "d.txt", "deploy\n", "from a deploy key")
		out, err := sshGit(deployWork, roKey, "push", "origin", "master")
		if err == nil || !strings.Contains(out, `remote: The deploy key "ci" is read-only`) {
			t.Errorf("read-only deploy key push: %v\n%s", err, out)
		}
		mustSSHGit(t, deployWork, rwKey, "push", "-q", "origin", "master")
		// Its push is attributed to the repository's owner, so the event
		// names a pusher and a sender as every other push's does.
		after := strings.TrimSpace(runGit(t, deployWork, "rev-parse", "HEAD"))
		d := rc.waitEvent(t, "push", "", func(p map[string]any) bool { return p["after"] == after })
		pusher, _ := d.Payload["pusher"].(map[string]any)
		sender, _ := d.Payload["sender"].(map[string]any)
		if pusher["name"] != alice.Name || sender["username"] != alice.Name {
			t.Errorf("deploy key push: pusher %v, sender %v, want %s", pusher, sender, alice.Name)
		}
		// A deploy key reaches its repository only.
		ac.createRepo(map[string]any{"name": "public"})
		out, err = sshGit(dir, rwKey, "ls-remote", "ssh://git@127.0.0.1:"+port+"/"+alice.Name+"/public.git")
		if err == nil || !strings.Contains(out, "remote: Repository not found") {
			t.Errorf("deploy key on another repository: %v\n%s", err, out)
		}
		// Removed, it opens nothing.
		ac.must(http.StatusNoContent, "DELETE", base+"/keys/"+strconv.Itoa(int(rw["id"].(float64))), nil)
		if out, err := sshGit(dir, rwKey, "ls-remote", url); err == nil || !strings.Contains(out, "Permission denied (publickey)") {
			t.Errorf("removed deploy key: %v\n%s", err, out)
		}
	})
}
