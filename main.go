// Command tapioca is a self-hosted git forge in one binary: a GitHub-style
// REST API (and the Docora, oCore and OpenCodeHub dialects, an MCP
// endpoint and an operations API), git over smart HTTP and SSH, and an
// admin dashboard, on embedded SQLite.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kardianos/service"
	"github.com/urfave/cli/v3"

	"tapioca/handlers"
	"tapioca/handlers/backup"
	"tapioca/handlers/core"
	"tapioca/handlers/core/apps"
	"tapioca/handlers/core/siteadmin"
	"tapioca/handlers/sysservice"
)

// Set at link time: go build -ldflags "-X main.version=1.2.3 -X main.commit=abc".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCommand().Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "tapioca:", err)
		os.Exit(1)
	}
}

func rootCommand() *cli.Command {
	return withEnv(&cli.Command{
		Name:  "tapioca",
		Usage: "a self-hosted git forge in one binary",
		// No arguments (a double-click) serves with the defaults.
		DefaultCommand: "serve",
		Commands: []*cli.Command{
			serveCommand(),
			versionCommand(),
			adminCommand(),
			serviceCommand(),
			backupCommand(),
			restoreCommand(),
		},
	})
}

// withEnv gives every flag of cmd and its subcommands that has no
// environment source the TAPIOCA_<FLAG> one (SPEC §2: every flag).
func withEnv(cmd *cli.Command) *cli.Command {
	for _, f := range cmd.Flags {
		var src *cli.ValueSourceChain
		var name string
		switch f := f.(type) {
		case *cli.StringFlag:
			src, name = &f.Sources, f.Name
		case *cli.IntFlag:
			src, name = &f.Sources, f.Name
		case *cli.Int64Flag:
			src, name = &f.Sources, f.Name
		case *cli.BoolFlag:
			src, name = &f.Sources, f.Name
		case *cli.DurationFlag:
			src, name = &f.Sources, f.Name
		case *cli.StringSliceFlag:
			src, name = &f.Sources, f.Name
		}
		if src != nil && len(src.Chain) == 0 {
			*src = env(name)
		}
	}
	for _, sub := range cmd.Commands {
		withEnv(sub)
	}
	return cmd
}

// noArgs refuses positional arguments: a command that takes none was given
// a word it does not know (a typo of a subcommand, most likely).
func noArgs(cmd *cli.Command) error {
	if cmd.Args().Present() {
		return fmt.Errorf("unknown command or argument %q (see %s --help)", cmd.Args().First(), cmd.Root().Name)
	}
	return nil
}

// group is the action of a command that only holds subcommands: an unknown
// subcommand is an error, none at all shows the help.
func group(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Present() {
		return fmt.Errorf("unknown command %q (see %s --help)", cmd.Args().First(), cmd.FullName())
	}
	return cli.ShowSubcommandHelp(cmd)
}

// checkServeFlags refuses values the server would run with but not work:
// a base URL that is not http(s), and limits or durations that are not
// positive.
func checkServeFlags(cmd *cli.Command) error {
	if cmd.IsSet("base-url") && !siteadmin.ValidBaseURL(cmd.String("base-url")) {
		return fmt.Errorf("--base-url must be an absolute http:// or https:// URL without query or credentials, not %q", cmd.String("base-url"))
	}
	for _, name := range []string{"rate-limit-auth", "rate-limit-anon", "max-repos", "max-conns-per-ip"} {
		if cmd.IsSet(name) && cmd.Int(name) <= 0 {
			return fmt.Errorf("--%s must be a positive number, not %d", name, cmd.Int(name))
		}
	}
	for _, name := range []string{"max-file-size", "max-repo-size"} {
		if cmd.IsSet(name) && cmd.Int64(name) <= 0 {
			return fmt.Errorf("--%s must be a positive number of bytes, not %d", name, cmd.Int64(name))
		}
	}
	for _, name := range []string{"webhook-timeout", "webhook-retry-base", "app-delivery-timeout", "app-delivery-retry-base", "mirror-interval"} {
		if cmd.IsSet(name) && cmd.Duration(name) <= 0 {
			return fmt.Errorf("--%s must be a positive duration, not %s", name, cmd.Duration(name))
		}
	}
	return nil
}

func env(name string) cli.ValueSourceChain {
	return cli.EnvVars("TAPIOCA_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
}

func dataFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "data", Value: "./tapioca-data", Usage: "data directory (database and repositories)", Sources: env("data")}
}

func serveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: ":3000", Usage: "listen address", Sources: env("addr")},
		&cli.StringFlag{Name: "ssh-addr", Value: handlers.DefaultSSHAddr, Usage: "git over SSH listen address (empty: no SSH server; port 0: any free port)", Sources: env("ssh-addr")},
		dataFlag(),
		&cli.StringFlag{Name: "base-url", Value: "http://localhost:3000", Usage: "external URL, used in clone_url, Link headers and webhook payloads", Sources: env("base-url")},
		&cli.IntFlag{Name: "rate-limit-auth", Value: 5000, Usage: "API requests per hour per user", Sources: env("rate-limit-auth")},
		&cli.IntFlag{Name: "rate-limit-anon", Value: 60, Usage: "API requests per hour per anonymous client IP", Sources: env("rate-limit-anon")},
		&cli.StringFlag{Name: "github-url", Value: "https://github.com", Usage: "upstream host for watched repositories", Sources: env("github-url")},
		&cli.StringFlag{Name: "api-secret", Usage: "secret for the operations API (/v1/api); also API_SECRET or API_SECRET_FILE",
			Sources: cli.EnvVars("TAPIOCA_API_SECRET", "API_SECRET")},
		&cli.StringFlag{Name: "api-secret-file", Usage: "file holding the operations API secret (preferred over --api-secret, which ps shows); also API_SECRET_FILE",
			Sources: cli.EnvVars("TAPIOCA_API_SECRET_FILE", "API_SECRET_FILE")},
		&cli.StringFlag{Name: "admin-password", Usage: "password of the admin account created on first start (default: generated and printed once)", Sources: env("admin-password")},
		&cli.StringFlag{Name: "admin-password-file", Usage: "file holding that password (preferred over --admin-password, which ps shows)", Sources: env("admin-password-file")},
		&cli.IntFlag{Name: "max-repos", Value: 50, Usage: "repositories per account", Sources: env("max-repos")},
		&cli.Int64Flag{Name: "max-file-size", Value: 50 << 20, Usage: "largest file a push may contain, in bytes", Sources: env("max-file-size")},
		&cli.Int64Flag{Name: "max-repo-size", Value: 1 << 30, Usage: "largest repository a push may produce, in bytes", Sources: env("max-repo-size")},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", Sources: env("log-level")},
		&cli.StringSliceFlag{Name: "webhook-allowed-networks", Usage: "CIDR networks webhook receivers may be in, comma-separated (default: any)", Sources: env("webhook-allowed-networks")},
		&cli.BoolFlag{Name: "outbound-allow-loopback", Usage: "let webhooks, deliveries and upstreams reach loopback and link-local addresses (refused by default)", Sources: env("outbound-allow-loopback")},
		&cli.BoolFlag{Name: "webhook-deny-loopback", Usage: "refuse loopback and link-local destinations even with --outbound-allow-loopback", Sources: env("webhook-deny-loopback")},
		&cli.DurationFlag{Name: "webhook-timeout", Value: 10 * time.Second, Usage: "time limit of one webhook delivery attempt", Sources: env("webhook-timeout")},
		&cli.DurationFlag{Name: "webhook-retry-base", Value: time.Minute, Usage: "delay before the first webhook retry; each next one is 3× longer", Sources: env("webhook-retry-base")},
		&cli.DurationFlag{Name: "app-delivery-timeout", Value: 10 * time.Second, Usage: "time limit of one delivery attempt to an app (watched repositories)", Sources: env("app-delivery-timeout")},
		&cli.DurationFlag{Name: "app-delivery-retry-base", Value: 30 * time.Second, Usage: "delay before an app delivery's first retry; each next one is 2× longer", Sources: env("app-delivery-retry-base")},
		&cli.DurationFlag{Name: "mirror-interval", Value: 5 * time.Minute, Usage: "time between scheduled syncs of a watched repository's mirror", Sources: env("mirror-interval")},
		&cli.IntFlag{Name: "max-conns-per-ip", Value: 256, Usage: "concurrent connections one client address may hold open", Sources: env("max-conns-per-ip")},
		// A test hook: the crash-recovery tests make the built binary kill
		// itself at a named step. Hidden from help; never set in real use.
		&cli.StringFlag{Name: "crash-at", Hidden: true, Sources: env("crash-at")},
	}
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:   "serve",
		Usage:  "run the forge: API, git over HTTP and SSH, and dashboard",
		Flags:  serveFlags(),
		Action: runServe,
	}
}

// apiSecret reads the operations API secret from the flag, API_SECRET, or
// the file named by --api-secret-file or API_SECRET_FILE (container
// secrets; a file keeps it out of /proc/<pid>/cmdline).
func apiSecret(cmd *cli.Command) (string, error) {
	return secretValue(cmd, "api-secret", "api-secret-file")
}

// adminPassword reads the first start's admin password from the flag or
// the file --admin-password-file names.
func adminPassword(cmd *cli.Command) (string, error) {
	return secretValue(cmd, "admin-password", "admin-password-file")
}

// secretValue is the value of flag, or else the trimmed content of the
// file fileFlag names.
func secretValue(cmd *cli.Command, flag, fileFlag string) (string, error) {
	if s := cmd.String(flag); s != "" {
		return s, nil
	}
	path := cmd.String(fileFlag)
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", fileFlag, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("--%s: %s is empty", fileFlag, path)
	}
	return v, nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, cmd *cli.Command) error {
	if err := noArgs(cmd); err != nil {
		return err
	}
	if err := checkServeFlags(cmd); err != nil {
		return err
	}
	logger, err := newLogger(cmd.String("log-level"))
	if err != nil {
		return err
	}
	secret, err := apiSecret(cmd)
	if err != nil {
		return err
	}
	adminPW, err := adminPassword(cmd)
	if err != nil {
		return err
	}
	cfg := handlers.Config{
		DataDir:         cmd.String("data"),
		BaseURL:         cmd.String("base-url"),
		SSHAddr:         cmd.String("ssh-addr"),
		RateLimitAuth:   cmd.Int("rate-limit-auth"),
		RateLimitAnon:   cmd.Int("rate-limit-anon"),
		GitHubURL:       cmd.String("github-url"),
		APISecret:       secret,
		AdminPassword:   adminPW,
		MaxReposPerUser: cmd.Int("max-repos"),
		MaxFileSize:     cmd.Int64("max-file-size"),
		MaxRepoSize:     cmd.Int64("max-repo-size"),
		Version:         version,
		Commit:          commit,
		Logger:          logger,
		LogLevel:        cmd.String("log-level"),
	}
	cfg.WebhookAllowedNetworks = cmd.StringSlice("webhook-allowed-networks")
	cfg.WebhookDenyLoopback = cmd.Bool("webhook-deny-loopback")
	cfg.OutboundAllowLoopback = cmd.Bool("outbound-allow-loopback")
	cfg.CrashAt = cmd.String("crash-at")
	cfg.MaxConnsPerAddr = cmd.Int("max-conns-per-ip")
	cfg.WebhookTimeout = cmd.Duration("webhook-timeout")
	cfg.WebhookRetryBase = cmd.Duration("webhook-retry-base")
	cfg.DeliveryTimeout = cmd.Duration("app-delivery-timeout")
	cfg.DeliveryRetryBase = cmd.Duration("app-delivery-retry-base")
	cfg.MirrorInterval = cmd.Duration("mirror-interval")
	// Listen first: without --base-url the external URL is this
	// listener's, so the dashboard address printed below is one that works
	// (double-click, or --addr alone).
	ln, err := net.Listen("tcp", cmd.String("addr"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if !cmd.IsSet("base-url") {
		cfg.BaseURL = handlers.ListenerURL(ln.Addr())
	}
	app, err := handlers.Open(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer app.Close()
	if app.AdminPassword != "" {
		fmt.Printf("Created site administrator \"admin\" with password: %s\n", app.AdminPassword)
		fmt.Println("This password is shown only once; change it after signing in.")
	}
	fmt.Printf("Tapioca %s listening on %s\n", version, ln.Addr())
	if addr := app.SSHAddr(); addr != nil {
		fmt.Printf("Git over SSH on %s (host key %s)\n", addr, app.SSHHostKey())
	}
	fmt.Printf("Dashboard: %s/admin\n", strings.TrimRight(app.BaseURL(), "/"))
	err = serveUntilStopped(ctx, cmd, app, ln)
	logger.Info("shut down", "err", err)
	return err
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print version, commit and Go version",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			fmt.Printf("tapioca %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// withOffline runs a command on a service that open makes on the data
// directory (without the server), closing it after; core errors are
// worded for the terminal.
func withOffline[S any](open func(ctx context.Context, cmd *cli.Command, log *slog.Logger) (S, func() error, error),
	f func(ctx context.Context, cmd *cli.Command, svc S) error) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error {
		if err := noArgs(cmd); err != nil {
			return err
		}
		svc, closeDB, err := open(ctx, cmd, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return err
		}
		defer closeDB()
		return cliError(f(ctx, cmd, svc))
	}
}

// withSiteAdmin runs an administration command on the data directory's
// site administration, acting as core.Operator: the dashboard's rules
// apply (names, emails, passwords, the last administrator), and the audit
// log records it.
func withSiteAdmin(f func(ctx context.Context, cmd *cli.Command, svc *siteadmin.Service) error) cli.ActionFunc {
	return withOffline(func(ctx context.Context, cmd *cli.Command, log *slog.Logger) (*siteadmin.Service, func() error, error) {
		return handlers.OpenSiteAdmin(ctx, cmd.String("data"), log)
	}, f)
}

func adminCommand() *cli.Command {
	return &cli.Command{
		Name:   "admin",
		Usage:  "offline administration on the data directory",
		Action: group,
		Commands: []*cli.Command{
			{
				Name:   "user",
				Usage:  "manage user accounts",
				Action: group,
				Commands: []*cli.Command{
					adminUserCreate(),
					adminUserSetAdmin(),
					adminUserResetPassword(),
				},
			},
			{
				Name:     "vouches",
				Usage:    "manage vouch balances",
				Action:   group,
				Commands: []*cli.Command{adminVouchesGrant()},
			},
			adminAppCommand(),
		},
	}
}

// adminVouchesGrant adds to a user's vouch balance: a self-hosted forge
// has no payment, so site admins grant balances.
func adminVouchesGrant() *cli.Command {
	return &cli.Command{
		Name:  "grant",
		Usage: "add vouches to a user's balance",
		Flags: []cli.Flag{
			dataFlag(),
			&cli.StringFlag{Name: "user", Required: true, Usage: "username"},
			&cli.Int64Flag{Name: "count", Required: true, Usage: fmt.Sprintf("vouches to add (1-%d)", siteadmin.MaxVouchGrant)},
		},
		Action: withSiteAdmin(func(ctx context.Context, cmd *cli.Command, svc *siteadmin.Service) error {
			u, err := svc.User(ctx, core.Operator, cmd.String("user"))
			if err != nil {
				return err
			}
			n := cmd.Int64("count")
			balance, err := svc.GrantVouches(ctx, core.Operator, u, n)
			if err != nil {
				return err
			}
			fmt.Printf("Granted %d vouches to %s; balance now %d\n", n, u.Username, balance)
			return nil
		}),
	}
}

func adminUserCreate() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "create a user account",
		Flags: []cli.Flag{
			dataFlag(),
			&cli.StringFlag{Name: "username", Required: true},
			&cli.StringFlag{Name: "email", Required: true},
			&cli.StringFlag{Name: "password", Usage: "default: generated and printed"},
			&cli.StringFlag{Name: "kind", Value: "human", Usage: "human or bot"},
			&cli.BoolFlag{Name: "admin", Usage: "make the user a site administrator"},
		},
		Action: withSiteAdmin(func(ctx context.Context, cmd *cli.Command, svc *siteadmin.Service) error {
			u, generated, err := svc.CreateUser(ctx, core.Operator, siteadmin.NewUser{Username: cmd.String("username"),
				Email: cmd.String("email"), Kind: cmd.String("kind"), Admin: cmd.Bool("admin"), Password: cmd.String("password")})
			if err != nil {
				return err
			}
			fmt.Printf("Created user %s (id %d)%s\n", u.Username, u.ID, map[bool]string{true: " as site administrator", false: ""}[u.IsAdmin])
			if generated != "" {
				fmt.Printf("Password: %s\n", generated)
			}
			return nil
		}),
	}
}

func adminUserSetAdmin() *cli.Command {
	return &cli.Command{
		Name:  "set-admin",
		Usage: "grant or revoke site administration",
		Flags: []cli.Flag{
			dataFlag(),
			&cli.StringFlag{Name: "username", Required: true},
			&cli.BoolFlag{Name: "admin", Value: true, Usage: "--admin=false revokes"},
		},
		Action: withSiteAdmin(func(ctx context.Context, cmd *cli.Command, svc *siteadmin.Service) error {
			u, err := svc.User(ctx, core.Operator, cmd.String("username"))
			if err != nil {
				return err
			}
			if err := svc.SetAdmin(ctx, core.Operator, u, cmd.Bool("admin")); err != nil {
				return err
			}
			fmt.Printf("%s is %sa site administrator\n", u.Username, map[bool]string{true: "now ", false: "no longer "}[cmd.Bool("admin")])
			return nil
		}),
	}
}

func adminUserResetPassword() *cli.Command {
	return &cli.Command{
		Name:  "reset-password",
		Usage: "set a new password",
		Flags: []cli.Flag{
			dataFlag(),
			&cli.StringFlag{Name: "username", Required: true},
			&cli.StringFlag{Name: "password", Usage: "default: generated and printed"},
		},
		Action: withSiteAdmin(func(ctx context.Context, cmd *cli.Command, svc *siteadmin.Service) error {
			u, err := svc.User(ctx, core.Operator, cmd.String("username"))
			if err != nil {
				return err
			}
			generated, _, err := svc.ResetPassword(ctx, core.Operator, u, cmd.String("password"))
			if err != nil {
				return err
			}
			fmt.Printf("Password of %s reset\n", u.Username)
			if generated != "" {
				fmt.Printf("Password: %s\n", generated)
			}
			return nil
		}),
	}
}

// serveUntilStopped serves until ctx ends. Under a service manager
// (systemd, launchd, the Windows service control manager) it runs through
// kardianos/service, which answers the manager's stop requests; from a
// terminal, or double-clicked, it serves directly and stops on
// SIGINT/SIGTERM.
func serveUntilStopped(ctx context.Context, cmd *cli.Command, app *handlers.App, ln net.Listener) error {
	if service.Interactive() {
		return app.Serve(ctx, ln)
	}
	prog := &sysservice.Program{Serve: func(ctx context.Context) error { return app.Serve(ctx, ln) }, Parent: ctx}
	s, err := sysservice.New(cmd.Root().Name, prog, nil, nil)
	if err != nil {
		// Started by a supervisor kardianos does not manage (a container's
		// init, runit): SIGTERM still reaches ctx.
		return app.Serve(ctx, ln)
	}
	if err := s.Run(); err != nil {
		return err
	}
	return prog.Err()
}

// serviceName is the default service (and systemd unit) name.
const serviceName = "tapioca"

func serviceNameFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "name", Value: serviceName, Usage: "service name (several instances need different names)"}
}

// serviceCommand manages Tapioca as a system service with
// kardianos/service: a systemd unit on Linux, a launchd daemon on macOS,
// a Windows service on Windows.
func serviceCommand() *cli.Command {
	control := func(action, usage string) *cli.Command {
		return &cli.Command{
			Name:  action,
			Usage: usage,
			Flags: []cli.Flag{serviceNameFlag()},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				s, err := controlService(cmd.String("name"))
				if err != nil {
					return err
				}
				if err := service.Control(s, action); err != nil {
					return fmt.Errorf("service %s: %w", action, err)
				}
				fmt.Printf("Service %s: %s done\n", cmd.String("name"), action)
				return nil
			},
		}
	}
	return &cli.Command{
		Name:   "service",
		Usage:  "install and control tapioca as a system service",
		Action: group,
		Commands: []*cli.Command{
			{
				Name:   "install",
				Usage:  "install the service, running `tapioca serve` with the flags given here",
				Flags:  append(serveFlags(), serviceNameFlag(), serviceUserFlag()),
				Action: serviceInstall,
			},
			{
				Name:   "unit",
				Usage:  "print the systemd unit that install would write, without installing it",
				Flags:  append(serveFlags(), serviceNameFlag(), serviceUserFlag()),
				Action: serviceUnitPrint,
			},
			control("uninstall", "remove the service"),
			control("start", "start the service"),
			control("stop", "stop the service"),
			control("restart", "restart the service"),
			{
				Name:  "status",
				Usage: "say whether the service is running (exit 0), stopped (exit 3) or not installed",
				Flags: []cli.Flag{serviceNameFlag()},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					s, err := controlService(cmd.String("name"))
					if err != nil {
						return err
					}
					st, err := s.Status()
					switch {
					case errors.Is(err, service.ErrNotInstalled):
						return fmt.Errorf("service %s is not installed", cmd.String("name"))
					case err != nil:
						return fmt.Errorf("service status: %w", err)
					case st == service.StatusRunning:
						fmt.Printf("Service %s is running\n", cmd.String("name"))
						return nil
					case st == service.StatusStopped:
						fmt.Printf("Service %s is stopped\n", cmd.String("name"))
						return cli.Exit("", 3)
					}
					fmt.Printf("Service %s: status unknown\n", cmd.String("name"))
					return cli.Exit("", 4)
				},
			},
		},
	}
}

func serviceUserFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "user", Usage: "system account the service runs as (default: root / LocalSystem); it must own --data"}
}

// secretFlags are serve flags passed to the service through its
// environment file instead of its command line, which `ps` and
// `systemctl cat` show to every user.
var secretFlags = map[string]string{"api-secret": "API_SECRET", "admin-password": "TAPIOCA_ADMIN_PASSWORD",
	"api-secret-file": "API_SECRET", "admin-password-file": "TAPIOCA_ADMIN_PASSWORD"}

// planInstall turns the flags of `service install` into the installed
// `tapioca serve`: the data directory always, as an absolute path (a
// service's working directory is not the caller's); every other serve
// flag only when it was given, on the command line or in TAPIOCA_*.
func planInstall(cmd *cli.Command) (*sysservice.Plan, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the tapioca binary: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return nil, fmt.Errorf("find the tapioca binary: %w", err)
	}
	data, err := filepath.Abs(cmd.String("data"))
	if err != nil {
		return nil, err
	}
	p := &sysservice.Plan{Name: cmd.String("name"), User: cmd.String("user"), DataDir: data, Exec: exe,
		Args: []string{"serve", "--data", data}, Secrets: map[string]string{}}
	if !sysservice.ValidName(p.Name) {
		return nil, fmt.Errorf("--name %q: use letters, digits, '-' and '_' only", p.Name)
	}
	secret, err := apiSecret(cmd)
	if err != nil {
		return nil, err
	}
	if secret != "" {
		p.Secrets["API_SECRET"] = secret
	}
	pw, err := adminPassword(cmd)
	if err != nil {
		return nil, err
	}
	if pw != "" {
		p.Secrets["TAPIOCA_ADMIN_PASSWORD"] = pw
	}
	for _, f := range serveFlags() {
		name := f.Names()[0]
		if name == "data" || secretFlags[name] != "" || !cmd.IsSet(name) {
			continue
		}
		switch v := cmd.Value(name).(type) {
		case []string:
			for _, item := range v {
				p.Args = append(p.Args, "--"+name, item)
			}
		case time.Duration:
			p.Args = append(p.Args, "--"+name, v.String())
		default:
			p.Args = append(p.Args, "--"+name, fmt.Sprint(v))
		}
	}
	return p, nil
}

func controlService(name string) (service.Service, error) {
	if !sysservice.ValidName(name) {
		return nil, fmt.Errorf("--name %q: use letters, digits, '-' and '_' only", name)
	}
	return sysservice.New(name, &sysservice.Program{}, nil, nil)
}

func serviceUnitPrint(ctx context.Context, cmd *cli.Command) error {
	p, err := planInstall(cmd)
	if err != nil {
		return err
	}
	unit, err := sysservice.SystemdUnit(p)
	if err != nil {
		return err
	}
	_, err = io.WriteString(cmd.Root().Writer, unit)
	return err
}

func serviceInstall(ctx context.Context, cmd *cli.Command) error {
	p, err := planInstall(cmd)
	if err != nil {
		return err
	}
	if _, err := sysservice.System(); err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	var unit *string
	if runtime.GOOS == "linux" {
		u, err := sysservice.SystemdUnit(p)
		if err != nil {
			return err
		}
		unit = &u
		unitPath := "/etc/systemd/system/" + p.Name + ".service"
		if _, err := os.Stat(unitPath); err == nil {
			return fmt.Errorf("service install: %s already exists; run `tapioca service uninstall --name %s` first", unitPath, p.Name)
		}
		if err := os.MkdirAll(p.DataDir, 0o750); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		if p.User != "" {
			if err := sysservice.ChownToUser(p.DataDir, p.User); err != nil {
				return err
			}
		}
		if len(p.Secrets) > 0 {
			if err := sysservice.WriteEnvFile(p.EnvFile(), p.Secrets); err != nil {
				return err
			}
		}
	}
	s, err := sysservice.New(p.Name, &sysservice.Program{}, p, unit)
	if err != nil {
		return err
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("service install: %w", err)
	}
	fmt.Printf("Installed service %s: %s %s\n", p.Name, p.Exec, strings.Join(p.Args, " "))
	if runtime.GOOS == "linux" {
		fmt.Printf("Unit: /etc/systemd/system/%s.service (systemctl cat %s)\n", p.Name, p.Name)
	}
	fmt.Printf("Start it with: tapioca service start --name %s\n", p.Name)
	if p.Secrets["TAPIOCA_ADMIN_PASSWORD"] == "" {
		fmt.Printf("On its first start the generated admin password goes to the service log (journalctl -u %s on Linux).\n", p.Name)
	}
	return nil
}

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:  "backup",
		Usage: "write a consistent snapshot of the database and repositories (the server may keep running)",
		Flags: []cli.Flag{
			dataFlag(),
			&cli.StringFlag{Name: "out", Usage: "archive to write (default: tapioca-backup-<UTC time>.tar.gz here)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			out := cmd.String("out")
			if out == "" {
				out = "tapioca-backup-" + time.Now().UTC().Format("20060102-150405") + ".tar.gz"
			}
			start := time.Now()
			m, err := backup.Backup(ctx, backup.Options{DataDir: cmd.String("data"), Out: out, Version: version})
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			var bytes int64
			for _, r := range m.Repositories {
				bytes += r.Bytes
			}
			fmt.Printf("Backed up the database and %d repositories (%d bytes) to %s in %s\n",
				len(m.Repositories), bytes, out, time.Since(start).Round(time.Millisecond))
			for _, id := range m.Missing {
				fmt.Fprintf(os.Stderr, "warning: repository %d was deleted during the backup and is not in it\n", id)
			}
			return nil
		},
	}
}

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "restore a backup into a data directory (stop the server first)",
		ArgsUsage: "FILE",
		Flags: []cli.Flag{
			dataFlag(),
			&cli.BoolFlag{Name: "force", Usage: "replace a data directory that is not empty"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return errors.New("restore: name one backup archive: tapioca restore FILE --data DIR")
			}
			m, err := backup.Restore(ctx, backup.RestoreOptions{Archive: cmd.Args().First(), DataDir: cmd.String("data"), Force: cmd.Bool("force")})
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			fmt.Printf("Restored the database and %d repositories from a backup of %s into %s\n",
				len(m.Repositories), m.CreatedAt.Format(time.RFC3339), cmd.String("data"))
			return nil
		},
	}
}

// adminAppCommand manages the apps of watched repositories offline, as
// the dashboard's Apps page does: onboarding prints the docora_ token
// once.
func adminAppCommand() *cli.Command {
	appFlag := &cli.StringFlag{Name: "app", Required: true, Usage: "app name or id"}
	return &cli.Command{
		Name:   "app",
		Usage:  "manage apps of watched repositories (/api/repositories)",
		Action: group,
		Commands: []*cli.Command{
			{
				Name:  "create",
				Usage: "onboard an app and print its token (shown once)",
				Flags: []cli.Flag{dataFlag(),
					&cli.StringFlag{Name: "name", Required: true},
					&cli.StringFlag{Name: "url", Required: true, Usage: "delivery URL file changes are POSTed to"},
					&cli.StringFlag{Name: "secret", Required: true, Usage: "signs deliveries (X-Docora-Signature), at least 8 characters"},
					&cli.BoolFlag{Name: "outbound-allow-loopback", Usage: "allow a loopback or link-local delivery URL (the server needs the same flag to deliver there)"},
				},
				Action: withApps(func(ctx context.Context, cmd *cli.Command, svc *apps.Service) error {
					app, token, err := svc.Create(ctx, apps.Operator(), apps.NewApp{Name: cmd.String("name"),
						URL: cmd.String("url"), Secret: cmd.String("secret")})
					if err != nil {
						return cliError(err)
					}
					fmt.Printf("Created app %s (id %d)\n", app.Name, app.ID)
					fmt.Printf("Token: %s\n", token)
					fmt.Println("This token is shown only once.")
					return nil
				}),
			},
			{
				Name:  "list",
				Usage: "list apps with their deliveries",
				Flags: []cli.Flag{dataFlag()},
				Action: withApps(func(ctx context.Context, cmd *cli.Command, svc *apps.Service) error {
					list, err := svc.List(ctx, apps.Operator())
					if err != nil {
						return err
					}
					if len(list) == 0 {
						fmt.Println("No apps.")
						return nil
					}
					fmt.Printf("%-4s  %-20s  %-8s  %7s  %9s  %7s  %-12s  %s\n", "ID", "NAME", "STATE", "WATCHED", "DELIVERED", "PENDING", "TOKEN", "URL")
					for _, a := range list {
						state := "enabled"
						if a.Disabled {
							state = "disabled"
						}
						fmt.Printf("%-4d  %-20s  %-8s  %7d  %9d  %7d  %-12s  %s\n", a.ID, a.Name, state, a.Watched, a.Delivered, a.Pending, a.TokenHint+"…", a.URL)
					}
					return nil
				}),
			},
			{
				Name:  "rotate-token",
				Usage: "give an app a new token (shown once); the old one stops working",
				Flags: []cli.Flag{dataFlag(), appFlag},
				Action: withApps(func(ctx context.Context, cmd *cli.Command, svc *apps.Service) error {
					app, err := svc.App(ctx, apps.Operator(), cmd.String("app"))
					if err != nil {
						return cliError(err)
					}
					app, token, err := svc.RotateToken(ctx, apps.Operator(), app.ID)
					if err != nil {
						return err
					}
					fmt.Printf("New token of %s: %s\n", app.Name, token)
					fmt.Println("This token is shown only once; the old one no longer works.")
					return nil
				}),
			},
			{
				Name:  "disable",
				Usage: "refuse an app's token and hold its deliveries (--enable undoes it)",
				Flags: []cli.Flag{dataFlag(), appFlag, &cli.BoolFlag{Name: "enable", Usage: "enable the app again"}},
				Action: withApps(func(ctx context.Context, cmd *cli.Command, svc *apps.Service) error {
					app, err := svc.App(ctx, apps.Operator(), cmd.String("app"))
					if err != nil {
						return cliError(err)
					}
					if app, err = svc.SetDisabled(ctx, apps.Operator(), app.ID, !cmd.Bool("enable")); err != nil {
						return err
					}
					fmt.Printf("%s is %s\n", app.Name, map[bool]string{true: "disabled", false: "enabled"}[app.Disabled])
					return nil
				}),
			},
			{
				Name:  "delete",
				Usage: "delete an app with the repositories it watches and their deliveries",
				Flags: []cli.Flag{dataFlag(), appFlag},
				Action: withApps(func(ctx context.Context, cmd *cli.Command, svc *apps.Service) error {
					app, err := svc.App(ctx, apps.Operator(), cmd.String("app"))
					if err != nil {
						return cliError(err)
					}
					if err := svc.Delete(ctx, apps.Operator(), app.ID); err != nil {
						return err
					}
					fmt.Printf("Deleted app %s\n", app.Name)
					return nil
				}),
			},
		},
	}
}

// withApps runs an app command on the data directory's apps service.
func withApps(f func(ctx context.Context, cmd *cli.Command, svc *apps.Service) error) cli.ActionFunc {
	return withOffline(func(ctx context.Context, cmd *cli.Command, log *slog.Logger) (*apps.Service, func() error, error) {
		return handlers.OpenApps(ctx, cmd.String("data"), cmd.Bool("outbound-allow-loopback"), log)
	}, f)
}

// cliError words a core error for the terminal: each field's problems.
func cliError(err error) error {
	var ce *core.Error
	if !errors.As(err, &ce) {
		return err
	}
	if len(ce.Fields) == 0 {
		return errors.New(ce.Msg)
	}
	var parts []string
	for f, msgs := range ce.Fields {
		parts = append(parts, "--"+f+" "+strings.Join(msgs, "; "))
	}
	sort.Strings(parts)
	return errors.New(strings.Join(parts, "\n"))
}
