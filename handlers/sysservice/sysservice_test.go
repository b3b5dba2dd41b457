package sysservice

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	base := Plan{Name: "tapioca", DataDir: "/var/lib/tapioca", Exec: "/usr/local/bin/tapioca",
		Args: []string{"serve", "--data", "/var/lib/tapioca"}, Secrets: map[string]string{}}
	cases := []struct {
		name   string
		change func(p *Plan)
		exec   string
		has    []string
		hasNot []string
		err    bool
	}{
		{
			name: "defaults",
			exec: "/usr/local/bin/tapioca serve --data /var/lib/tapioca",
			has: []string{"[Unit]", "Description=Tapioca git forge (tapioca)", "After=network-online.target", "Wants=network-online.target",
				"[Service]", "Type=simple", "WorkingDirectory=/var/lib/tapioca", "KillSignal=SIGTERM", "TimeoutStopSec=330",
				"Restart=on-failure", "NoNewPrivileges=true", "[Install]", "WantedBy=multi-user.target"},
			hasNot: []string{"EnvironmentFile", "User="},
		},
		{
			name:   "secrets go to the environment file",
			change: func(p *Plan) { p.Secrets = map[string]string{"API_SECRET": "s3cret"} },
			exec:   "/usr/local/bin/tapioca serve --data /var/lib/tapioca",
			has:    []string{"EnvironmentFile=/var/lib/tapioca/service.env"},
			hasNot: []string{"s3cret"},
		},
		{
			name:   "a service account and name",
			change: func(p *Plan) { p.User, p.Name = "git", "forge-2" },
			exec:   "/usr/local/bin/tapioca serve --data /var/lib/tapioca",
			has:    []string{"User=git", "Description=Tapioca git forge (forge-2)"},
		},
		{
			name: "spaces, specifiers and variables are quoted",
			change: func(p *Plan) {
				p.DataDir = "/srv/my forge/100%"
				p.Args = []string{"serve", "--data", p.DataDir, "--base-url", "http://h/$HOME"}
			},
			exec: `/usr/local/bin/tapioca serve --data "/srv/my forge/100%%" --base-url http://h/$$HOME`,
			has:  []string{`WorkingDirectory="/srv/my forge/100%%"`},
		},
		{
			name:   "template actions cannot be smuggled in",
			change: func(p *Plan) { p.Args = append(p.Args, "--base-url", "{{.Path}}") },
			err:    true,
		},
	}
	for _, tc := range cases {
		p := base
		p.Args = append([]string(nil), base.Args...)
		if tc.change != nil {
			tc.change(&p)
		}
		unit, err := SystemdUnit(&p)
		if tc.err {
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		lines := strings.Split(unit, "\n")
		if !contains(lines, "ExecStart="+tc.exec) {
			t.Errorf("%s: no ExecStart=%s in\n%s", tc.name, tc.exec, unit)
		}
		for _, h := range tc.has {
			if !contains(lines, h) {
				t.Errorf("%s: unit lacks line %q:\n%s", tc.name, h, unit)
			}
		}
		for _, h := range tc.hasNot {
			if strings.Contains(unit, h) {
				t.Errorf("%s: unit holds %q:\n%s", tc.name, h, unit)
			}
		}
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestQuote(t *testing.T) {
	t.Parallel()
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
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{"tapioca": true, "forge-2": true, "a_b": true, "": false, "my forge": false, "../x": false} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v", name, got)
		}
	}
}

func TestWriteEnvFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "service.env")
	if err := WriteEnvFile(p, map[string]string{"API_SECRET": `a"b$c\d`, "TAPIOCA_ADMIN_PASSWORD": "pw"}); err != nil {
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
	if err := WriteEnvFile(p, map[string]string{"API_SECRET": "two\nlines"}); err == nil {
		t.Fatal("a line break was written into the env file")
	}
}
