package handlers

import (
	"net"
	"slices"
	"testing"
	"time"
)

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func TestListenerURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"[::]:3000":      "http://localhost:3000",
		"0.0.0.0:8080":   "http://localhost:8080",
		"127.0.0.1:4000": "http://127.0.0.1:4000",
		"[::1]:4000":     "http://[::1]:4000",
	} {
		if got := ListenerURL(fakeAddr(addr)); got != want {
			t.Errorf("ListenerURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

// TestServerConfigSSH: the configuration page says whether SSH is on,
// where it listens and which host key users are asked to trust.
func TestServerConfigSSH(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		addr    net.Addr
		hostKey string
		flag    string   // --ssh-addr as given
		want    []string // "Name=Value" of the SSH section, in order; "(default)" when marked so
	}{
		{"off", nil, "", "", []string{"SSH server=off"}},
		{"default", fakeAddr("[::]:2222"), "SHA256:abc", DefaultSSHAddr, []string{"SSH server=listening on [::]:2222 (default)", "Host key=SHA256:abc"}},
		{"set", fakeAddr("127.0.0.1:2222"), "SHA256:abc", "127.0.0.1:2222", []string{"SSH server=listening on 127.0.0.1:2222", "Host key=SHA256:abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range serverConfig(Config{SSHAddr: tc.flag}, tc.addr, tc.hostKey) {
				if s.Title != "SSH" {
					continue
				}
				for _, e := range s.Entries {
					v := e.Name + "=" + e.Value
					if e.Default {
						v += " (default)"
					}
					got = append(got, v)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("SSH section %q, want %q", got, tc.want)
			}
		})
	}
}

// TestServerConfigDefaults: a value is marked as the default exactly when
// it is one, so an admin can tell a flag that was set from one that was not.
func TestServerConfigDefaults(t *testing.T) {
	t.Parallel()
	isDefault := func(cfg Config, name string) bool {
		cfg.defaults()
		for _, s := range serverConfig(cfg, nil, "") {
			for _, e := range s.Entries {
				if e.Name == name {
					return e.Default
				}
			}
		}
		t.Fatalf("no entry %q", name)
		return false
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		entry string
		want  bool
	}{
		{"repo limit unset", Config{}, "Repositories per account", true},
		{"repo limit set", Config{MaxReposPerUser: 7}, "Repositories per account", false},
		{"log level unset", Config{}, "Log level", true},
		{"log level debug", Config{LogLevel: "debug"}, "Log level", false},
		{"ops API off", Config{}, "Operations API", true},
		{"ops API on", Config{APISecret: "s"}, "Operations API", false},
		{"upstream unset", Config{}, "Upstream for watched repositories", true},
		{"upstream set", Config{GitHubURL: "https://git.example"}, "Upstream for watched repositories", false},
		{"mirror interval unset", Config{}, "Time between mirror syncs", true},
		{"mirror interval set", Config{MirrorInterval: time.Minute}, "Time between mirror syncs", false},
	} {
		if got := isDefault(tc.cfg, tc.entry); got != tc.want {
			t.Errorf("%s: %s default = %v, want %v", tc.name, tc.entry, got, tc.want)
		}
	}
}
