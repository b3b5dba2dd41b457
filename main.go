// Command tapioca is a self-hosted git forge in one binary: a GitHub-style
// REST API, git over smart HTTP and an admin dashboard, on embedded SQLite.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"

	"tapioca/handlers"
	"tapioca/store"
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
	return &cli.Command{
		Name:  "tapioca",
		Usage: "a self-hosted git forge in one binary",
		// No arguments (a double-click) serves with the defaults.
		DefaultCommand: "serve",
		Commands: []*cli.Command{
			serveCommand(),
			versionCommand(),
			adminCommand(),
		},
	}
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
		dataFlag(),
		&cli.StringFlag{Name: "base-url", Value: "http://localhost:3000", Usage: "external URL, used in clone_url, Link headers and webhook payloads", Sources: env("base-url")},
		&cli.IntFlag{Name: "rate-limit-auth", Value: 5000, Usage: "API requests per hour per user", Sources: env("rate-limit-auth")},
		&cli.IntFlag{Name: "rate-limit-anon", Value: 60, Usage: "API requests per hour per anonymous client IP", Sources: env("rate-limit-anon")},
		&cli.StringFlag{Name: "github-url", Value: "https://github.com", Usage: "upstream host for watched repositories", Sources: env("github-url")},
		&cli.StringFlag{Name: "api-secret", Usage: "secret for the operations API (/v1/api); also API_SECRET or API_SECRET_FILE",
			Sources: cli.EnvVars("TAPIOCA_API_SECRET", "API_SECRET")},
		&cli.StringFlag{Name: "admin-password", Usage: "password of the admin account created on first start (default: generated and printed once)", Sources: env("admin-password")},
		&cli.IntFlag{Name: "max-repos", Value: 50, Usage: "repositories per account", Sources: env("max-repos")},
		&cli.Int64Flag{Name: "max-file-size", Value: 50 << 20, Usage: "largest file a push may contain, in bytes", Sources: env("max-file-size")},
		&cli.Int64Flag{Name: "max-repo-size", Value: 1 << 30, Usage: "largest repository a push may produce, in bytes", Sources: env("max-repo-size")},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", Sources: env("log-level")},
		&cli.StringSliceFlag{Name: "webhook-allowed-networks", Usage: "CIDR networks webhook receivers may be in, comma-separated (default: any)", Sources: env("webhook-allowed-networks")},
		&cli.BoolFlag{Name: "webhook-deny-loopback", Usage: "refuse webhook deliveries to loopback and link-local addresses", Sources: env("webhook-deny-loopback")},
		&cli.DurationFlag{Name: "webhook-timeout", Value: 10 * time.Second, Usage: "time limit of one webhook delivery attempt", Sources: env("webhook-timeout")},
		&cli.DurationFlag{Name: "webhook-retry-base", Value: time.Minute, Usage: "delay before the first webhook retry; each next one is 3× longer", Sources: env("webhook-retry-base")},
	}
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:   "serve",
		Usage:  "run the forge: API, git over HTTP and dashboard",
		Flags:  serveFlags(),
		Action: runServe,
	}
}

// apiSecret reads the operations API secret from the flag, API_SECRET, or
// the file named by API_SECRET_FILE (for container secrets).
func apiSecret(cmd *cli.Command) (string, error) {
	if s := cmd.String("api-secret"); s != "" {
		return s, nil
	}
	if path := os.Getenv("API_SECRET_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read API_SECRET_FILE: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, cmd *cli.Command) error {
	logger, err := newLogger(cmd.String("log-level"))
	if err != nil {
		return err
	}
	secret, err := apiSecret(cmd)
	if err != nil {
		return err
	}
	cfg := handlers.Config{
		DataDir:         cmd.String("data"),
		BaseURL:         cmd.String("base-url"),
		RateLimitAuth:   cmd.Int("rate-limit-auth"),
		RateLimitAnon:   cmd.Int("rate-limit-anon"),
		GitHubURL:       cmd.String("github-url"),
		APISecret:       secret,
		AdminPassword:   cmd.String("admin-password"),
		MaxReposPerUser: cmd.Int("max-repos"),
		MaxFileSize:     cmd.Int64("max-file-size"),
		MaxRepoSize:     cmd.Int64("max-repo-size"),
		Version:         version,
		Commit:          commit,
		Logger:          logger,
	}
	cfg.WebhookAllowedNetworks = cmd.StringSlice("webhook-allowed-networks")
	cfg.WebhookDenyLoopback = cmd.Bool("webhook-deny-loopback")
	cfg.WebhookTimeout = cmd.Duration("webhook-timeout")
	cfg.WebhookRetryBase = cmd.Duration("webhook-retry-base")
	app, err := handlers.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	if app.AdminPassword != "" {
		fmt.Printf("Created site administrator \"admin\" with password: %s\n", app.AdminPassword)
		fmt.Println("This password is shown only once; change it after signing in.")
	}
	ln, err := net.Listen("tcp", cmd.String("addr"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Printf("Tapioca %s listening on %s\n", version, ln.Addr())
	fmt.Printf("Dashboard: %s/admin\n", strings.TrimRight(cfg.BaseURL, "/"))
	err = app.Serve(ctx, ln)
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

// openStore opens the database of a data directory for offline
// administration; it refuses to create a data directory by accident.
func openStore(ctx context.Context, dataDir string) (*store.Store, error) {
	if _, err := os.Stat(dataDir); err != nil {
		return nil, fmt.Errorf("data directory %s: %w (start the server once, or pass --data)", dataDir, err)
	}
	return store.Open(ctx, filepath.Join(dataDir, "tapioca.db"))
}

func adminCommand() *cli.Command {
	return &cli.Command{
		Name:  "admin",
		Usage: "offline administration on the data directory",
		Commands: []*cli.Command{
			{
				Name:  "user",
				Usage: "manage user accounts",
				Commands: []*cli.Command{
					adminUserCreate(),
					adminUserSetAdmin(),
					adminUserResetPassword(),
				},
			},
			{
				Name:     "vouches",
				Usage:    "manage vouch balances",
				Commands: []*cli.Command{adminVouchesGrant()},
			},
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
			&cli.Int64Flag{Name: "count", Required: true, Usage: "vouches to add (1-1000000)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			n := cmd.Int64("count")
			if n < 1 || n > 1_000_000 {
				return fmt.Errorf("--count must be between 1 and 1000000, not %d", n)
			}
			st, err := openStore(ctx, cmd.String("data"))
			if err != nil {
				return err
			}
			defer st.Close()
			u, err := st.UserByName(ctx, cmd.String("user"))
			if err != nil || u.IsOrg() {
				return fmt.Errorf("no user %q", cmd.String("user"))
			}
			balance, err := st.GrantVouches(ctx, u.ID, n, "cli")
			if err != nil {
				return err
			}
			fmt.Printf("Granted %d vouches to %s; balance now %d\n", n, u.Username, balance)
			return nil
		},
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
		Action: func(ctx context.Context, cmd *cli.Command) error {
			name := cmd.String("username")
			if !store.ValidNamespaceName(name) || store.ReservedName(name) {
				return fmt.Errorf("invalid or reserved username %q", name)
			}
			if k := cmd.String("kind"); k != "human" && k != "bot" {
				return fmt.Errorf("--kind must be human or bot, not %q", k)
			}
			pw := cmd.String("password")
			generated := pw == ""
			if generated {
				pw = handlers.RandomPassword(20)
			}
			if len(pw) < 8 {
				return errors.New("password must have at least 8 characters")
			}
			st, err := openStore(ctx, cmd.String("data"))
			if err != nil {
				return err
			}
			defer st.Close()
			hash, err := store.HashPassword(pw)
			if err != nil {
				return err
			}
			u, err := st.CreateUser(ctx, store.NewUser{Username: name, Email: cmd.String("email"), PasswordHash: hash,
				Kind: cmd.String("kind"), IsAdmin: cmd.Bool("admin")})
			if err != nil {
				return fmt.Errorf("create user: %w", err)
			}
			fmt.Printf("Created user %s (id %d)%s\n", u.Username, u.ID, map[bool]string{true: " as site administrator", false: ""}[u.IsAdmin])
			if generated {
				fmt.Printf("Password: %s\n", pw)
			}
			return nil
		},
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
		Action: func(ctx context.Context, cmd *cli.Command) error {
			st, err := openStore(ctx, cmd.String("data"))
			if err != nil {
				return err
			}
			defer st.Close()
			u, err := st.UserByName(ctx, cmd.String("username"))
			if err != nil || u.IsOrg() {
				return fmt.Errorf("no user %q", cmd.String("username"))
			}
			if err := st.SetAdmin(ctx, u.ID, cmd.Bool("admin")); err != nil {
				return err
			}
			fmt.Printf("%s is %sa site administrator\n", u.Username, map[bool]string{true: "now ", false: "no longer "}[cmd.Bool("admin")])
			return nil
		},
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
		Action: func(ctx context.Context, cmd *cli.Command) error {
			pw := cmd.String("password")
			generated := pw == ""
			if generated {
				pw = handlers.RandomPassword(20)
			}
			if len(pw) < 8 {
				return errors.New("password must have at least 8 characters")
			}
			st, err := openStore(ctx, cmd.String("data"))
			if err != nil {
				return err
			}
			defer st.Close()
			u, err := st.UserByName(ctx, cmd.String("username"))
			if err != nil || u.IsOrg() {
				return fmt.Errorf("no user %q", cmd.String("username"))
			}
			hash, err := store.HashPassword(pw)
			if err != nil {
				return err
			}
			if err := st.SetPasswordHash(ctx, u.ID, hash); err != nil {
				return err
			}
			fmt.Printf("Password of %s reset\n", u.Username)
			if generated {
				fmt.Printf("Password: %s\n", pw)
			}
			return nil
		},
	}
}
