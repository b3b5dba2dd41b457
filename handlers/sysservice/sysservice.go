// Package sysservice installs and runs Tapioca as a system service with
// kardianos/service: the plan of what `tapioca serve` to run, the systemd
// unit and environment file on Linux, and the adapter between serving and
// the service manager's start and stop.
package sysservice

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/kardianos/service"
)

// Program adapts serving to kardianos's Start/Stop. Start must not
// block; Stop waits for the graceful shutdown (in-flight requests and
// pushes) to finish.
type Program struct {
	Serve  func(ctx context.Context) error
	Parent context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *Program) Start(service.Service) error {
	if p.Serve == nil {
		return errors.New("tapioca: this command only controls the service")
	}
	ctx, cancel := context.WithCancel(p.Parent)
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		p.err = p.Serve(ctx)
		if ctx.Err() == nil {
			// Serving failed by itself; exit so that the service manager
			// restarts us rather than wait for a stop that never comes.
			fmt.Fprintln(os.Stderr, "tapioca: serving stopped:", p.err)
			os.Exit(1)
		}
	}()
	return nil
}

// Err is why serving stopped, once Stop has returned.
func (p *Program) Err() error { return p.err }

func (p *Program) Stop(service.Service) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	<-p.done
	return nil
}

// Plan is what `service install` derives from its flags.
type Plan struct {
	Name    string
	User    string
	DataDir string
	Exec    string
	Args    []string          // of `tapioca serve`
	Secrets map[string]string // environment for the service, kept out of the unit
}

func ValidName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// envFile is where the service's secrets live: beside its data, readable
// by the service's account only.
func (p *Plan) EnvFile() string { return filepath.Join(p.DataDir, "service.env") }

// SystemdUnit renders the unit file. kardianos/service writes it
// verbatim (it is passed as its SystemdScript and holds no template
// actions).
func SystemdUnit(p *Plan) (string, error) {
	var b strings.Builder
	exec := []string{Quote(p.Exec)}
	for _, a := range p.Args {
		if strings.Contains(a, "{{") {
			return "", fmt.Errorf("argument %q cannot be written into a unit file", a)
		}
		exec = append(exec, Quote(a))
	}
	fmt.Fprintf(&b, `[Unit]
Description=Tapioca git forge (%s)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=%s
WorkingDirectory=%s
`, p.Name, strings.Join(exec, " "), Quote(p.DataDir))
	if len(p.Secrets) > 0 {
		fmt.Fprintf(&b, "EnvironmentFile=%s\n", Quote(p.EnvFile()))
	}
	if p.User != "" {
		fmt.Fprintf(&b, "User=%s\n", p.User)
	}
	b.WriteString(`# SIGTERM shuts down gracefully: requests and pushes in flight finish.
KillSignal=SIGTERM
TimeoutStopSec=330
Restart=on-failure
RestartSec=5
LimitNOFILE=65536
NoNewPrivileges=true
PrivateTmp=true

[Install]
WantedBy=multi-user.target
`)
	return b.String(), nil
}

// Quote quotes one word of a unit file line: specifiers (%) and
// variables ($) are escaped, and words with spaces or quotes are double
// quoted with C-style escapes.
func Quote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// System is the service manager kardianos uses here. On Linux it
// must be systemd: a service that the rest of the system cannot see or
// manage would be worse than none.
func System() (service.System, error) {
	sys := service.ChosenSystem()
	if runtime.GOOS != "linux" {
		if sys == nil {
			return nil, errors.New("no supported service manager found on this system")
		}
		return sys, nil
	}
	if sys != nil && sys.String() == "linux-systemd" {
		return sys, nil
	}
	pid1 := "unknown"
	if b, err := os.ReadFile("/proc/1/comm"); err == nil {
		pid1 = strings.TrimSpace(string(b))
	}
	return nil, fmt.Errorf("systemd is not running on this machine (PID 1 is %q), and on Linux tapioca installs only as a systemd unit; "+
		"run `tapioca serve` under your own supervisor, or print the unit with `tapioca service unit` to install elsewhere", pid1)
}

// New makes the kardianos service; plan is nil except for install.
func New(name string, prog service.Interface, plan *Plan, unit *string) (service.Service, error) {
	sys, err := System()
	if err != nil {
		return nil, err
	}
	cfg := &service.Config{Name: name, DisplayName: "Tapioca (" + name + ")",
		Description: "Tapioca git forge: API, git over HTTP and admin dashboard", Option: service.KeyValue{}}
	if plan != nil {
		cfg.Executable, cfg.Arguments, cfg.UserName, cfg.WorkingDirectory = plan.Exec, plan.Args, plan.User, plan.DataDir
		if unit != nil {
			cfg.Option["SystemdScript"] = *unit
		} else {
			cfg.EnvVars = plan.Secrets // launchd and Windows keep them in the service definition
		}
	}
	return sys.New(prog, cfg)
}

// ChownToUser gives the data directory to the account the service runs
// as, so that it can create its database there.
func ChownToUser(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--user %s: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("--user %s: ids %s:%s are not numeric", name, u.Uid, u.Gid)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to %s: %w", dir, name, err)
	}
	return nil
}

// WriteEnvFile writes KEY=value lines for systemd's EnvironmentFile=,
// readable by its owner only.
func WriteEnvFile(path string, env map[string]string) error {
	var b strings.Builder
	b.WriteString("# Secrets of the tapioca service; written by `tapioca service install`.\n")
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := env[k]
		if strings.ContainsAny(v, "\n\r") {
			return fmt.Errorf("%s cannot contain a line break", k)
		}
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`)
		fmt.Fprintf(&b, "%s=\"%s\"\n", k, r.Replace(v))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}
