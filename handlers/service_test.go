package handlers_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

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

// TestServiceUnitCommand drives `tapioca service unit` (what install would
// write) as a user would: the unit runs `tapioca serve` with the data dir
// made absolute and only the serve flags that were given, from the command
// line or TAPIOCA_*; secrets stay out of it.
func TestServiceUnitCommand(t *testing.T) {
	t.Parallel()
	bin := tapiocaBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cases := []struct {
		name    string
		env     []string
		args    []string
		exec    string
		has     []string
		hasNot  []string
		wantErr string
	}{
		{
			name: "data dir only, made absolute",
			args: []string{"--data", "rel/data"},
			exec: "serve --data " + filepath.Join(dir, "rel/data"),
			has:  []string{"WorkingDirectory=" + filepath.Join(dir, "rel/data"), "WantedBy=multi-user.target"},
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
			env:  []string{"TAPIOCA_ADDR=127.0.0.1:9000", "TAPIOCA_LOG_LEVEL=debug"},
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
			name: "a service account and name",
			args: []string{"--data", data, "--user", "git", "--name", "forge-2"},
			exec: "serve --data " + data,
			has:  []string{"User=git", "Description=Tapioca git forge (forge-2)"},
		},
		{
			name:    "a bad service name",
			args:    []string{"--data", data, "--name", "my forge"},
			wantErr: "--name",
		},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, append([]string{"service", "unit"}, c.args...)...)
		cmd.Dir = dir // relative --data is taken from here
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		unit := string(out)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(unit, c.wantErr) {
				t.Errorf("%s: err %v, output %s", c.name, err, unit)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, unit)
		}
		if got, want := execStart(t, unit), bin+" "+c.exec; got != want {
			t.Errorf("%s: ExecStart=%s\nwant      %s", c.name, got, want)
		}
		lines := strings.Split(unit, "\n")
		for _, h := range c.has {
			found := false
			for _, l := range lines {
				found = found || l == h
			}
			if !found {
				t.Errorf("%s: unit lacks line %q:\n%s", c.name, h, unit)
			}
		}
		for _, h := range c.hasNot {
			if strings.Contains(unit, h) {
				t.Errorf("%s: unit holds %q:\n%s", c.name, h, unit)
			}
		}
	}
}

// TestServiceInstallWithoutSystemd: on a Linux machine whose init is not
// systemd, install fails with a message that says so and creates nothing.
// (Where systemd runs, the test installs nothing: that is done by hand.)
func TestServiceInstallWithoutSystemd(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here; installing a real unit is left to `tapioca service install` by hand")
	}
	data := filepath.Join(t.TempDir(), "data")
	out, err := runBinary(t, nil, "service", "install", "--data", data, "--api-secret", "x")
	if err == nil || !strings.Contains(out, "systemd is not running on this machine") {
		t.Fatalf("install without systemd: %v %s", err, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a refused install created %s", data)
	}
	for _, action := range []string{"start", "stop", "status", "uninstall"} {
		if out, err := runBinary(t, nil, "service", action); err == nil || !strings.Contains(out, "systemd") {
			t.Errorf("service %s without systemd: %v %s", action, err, out)
		}
	}
}
