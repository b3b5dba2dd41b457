package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// runCLI runs the tapioca command line in-process and returns its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := rootCommand()
	var out bytes.Buffer
	cmd.Writer = &out
	err := cmd.Run(context.Background(), append([]string{"tapioca"}, args...))
	return out.String(), err
}

func execStart(t *testing.T, unit string) string {
	t.Helper()
	for _, line := range strings.Split(unit, "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			return rest
		}
	}
	t.Fatalf("no ExecStart in\n%s", unit)
	return ""
}

func TestSystemdUnit(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for _, c := range []struct {
		name    string
		env     map[string]string
		args    []string
		exec    string   // the whole ExecStart after the binary
		has     []string // lines the unit must hold
		hasNot  []string // text it must not hold
		wantErr string
	}{
		{
			name: "data dir only, made absolute",
			args: []string{"--data", "rel/data"},
			exec: "serve --data " + filepath.Join(mustGetwd(t), "rel/data"),
			has: []string{"[Unit]", "Description=Tapioca git forge (tapioca)", "After=network-online.target",
				"[Service]", "Type=simple", "WorkingDirectory=" + filepath.Join(mustGetwd(t), "rel/data"),
				"KillSignal=SIGTERM", "TimeoutStopSec=330", "Restart=on-failure", "NoNewPrivileges=true",
				"[Install]", "WantedBy=multi-user.target"},
			hasNot: []string{"EnvironmentFile", "User="},
		},
		{
			name: "the flags given, and only those",
			args: []string{"--data", data, "--addr", ":8080", "--base-url", "https://git.example.com/my forge",
				"--max-repos", "10", "--webhook-timeout", "30s", "--webhook-allowed-networks", "10.0.0.0/8,192.168.0.0/16"},
			exec: "serve --data " + data + ` --addr :8080 --base-url "https://git.example.com/my forge" --max-repos 10` +
				" --webhook-allowed-networks 10.0.0.0/8 --webhook-allowed-networks 192.168.0.0/16 --webhook-timeout 30s",
			hasNot: []string{"--rate-limit-auth", "--log-level"},
		},
		{
			name: "flags from the environment",
			env:  map[string]string{"TAPIOCA_ADDR": "127.0.0.1:9000", "TAPIOCA_LOG_LEVEL": "debug"},
			args: []string{"--data", data},
			exec: "serve --data " + data + " --addr 127.0.0.1:9000 --log-level debug",
		},
		{
			name:   "secrets go to the environment file",
			args:   []string{"--data", data, "--api-secret", "s3cret", "--admin-password", "first-password"},
			exec:   "serve --data " + data,
			has:    []string{"EnvironmentFile=" + filepath.Join(data, "service.env")},
			hasNot: []string{"s3cret", "first-password"},
		},
		{
			name: "a service account",
			args: []string{"--data", data, "--user", "git", "--name", "forge-2"},
			exec: "serve --data " + data,
			has:  []string{"User=git", "Description=Tapioca git forge (forge-2)"},
		},
		{
			name: "specifiers and variables are escaped",
			args: []string{"--data", filepath.Join(dir, "100%"), "--base-url", "http://h/$HOME"},
			exec: "serve --data " + filepath.Join(dir, "100%%") + " --base-url http://h/$$HOME",
		},
		{
			name:    "a bad service name",
			args:    []string{"--data", data, "--name", "my forge"},
			wantErr: "--name",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			unit, err := runCLI(t, append([]string{"service", "unit"}, c.args...)...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one about %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := execStart(t, unit), exe+" "+c.exec; got != want {
				t.Errorf("ExecStart=%s\nwant      %s", got, want)
			}
			lines := strings.Split(unit, "\n")
			for _, h := range c.has {
				found := false
				for _, l := range lines {
					found = found || l == h
				}
				if !found {
					t.Errorf("unit lacks line %q:\n%s", h, unit)
				}
			}
			for _, h := range c.hasNot {
				if strings.Contains(unit, h) {
					t.Errorf("unit holds %q:\n%s", h, unit)
				}
			}
		})
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestSystemdQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":       "plain",
		":3000":       ":3000",
		"a b":         `"a b"`,
		`say "hi"`:    `"say \"hi\""`,
		`back\slash`:  `"back\\slash"`,
		"50%":         "50%%",
		"$PATH":       "$$PATH",
		"":            `""`,
		"semi;colon":  `"semi;colon"`,
		"tab\there":   `"tab\there"`,
		"it's quoted": `"it's quoted"`,
	} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestWriteEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "service.env")
	if err := writeEnvFile(p, map[string]string{"API_SECRET": `a"b$c\d`, "TAPIOCA_ADMIN_PASSWORD": "pw"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "API_SECRET=\"a\\\"b\\$c\\\\d\"\nTAPIOCA_ADMIN_PASSWORD=\"pw\"\n"; !strings.HasSuffix(string(b), want) {
		t.Fatalf("env file:\n%s\nwant to end with\n%s", b, want)
	}
	if st, _ := os.Stat(p); runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if err := writeEnvFile(p, map[string]string{"API_SECRET": "two\nlines"}); err == nil {
		t.Fatal("a line break was written into the env file")
	}
}

// TestServiceInstallWithoutSystemd: on a Linux machine whose init is not
// systemd, install fails with a message that says so and creates nothing.
// (Where systemd runs, the test does not install anything.)
func TestServiceInstallWithoutSystemd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here; installing a real unit is left to `tapioca service install` by hand")
	}
	data := filepath.Join(t.TempDir(), "data")
	_, err := runCLI(t, "service", "install", "--data", data, "--api-secret", "x")
	if err == nil || !strings.Contains(err.Error(), "systemd is not running on this machine") {
		t.Fatalf("install without systemd: %v", err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a refused install created %s", data)
	}
	for _, action := range []string{"start", "stop", "status", "uninstall"} {
		if _, err := runCLI(t, "service", action); err == nil || !strings.Contains(err.Error(), "systemd") {
			t.Errorf("service %s without systemd: %v", action, err)
		}
	}
}

func TestListenerURL(t *testing.T) {
	for addr, want := range map[string]string{
		"[::]:3000":      "http://localhost:3000",
		"0.0.0.0:8080":   "http://localhost:8080",
		"127.0.0.1:4000": "http://127.0.0.1:4000",
		"[::1]:4000":     "http://[::1]:4000",
	} {
		if got := listenerURL(fakeAddr(addr)); got != want {
			t.Errorf("listenerURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
