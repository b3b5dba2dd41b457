package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/handlers/core/apps"
	"tapioca/handlers/core/jobs"
	"tapioca/handlers/core/mirrors"
	"tapioca/handlers/core/orgs"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/siteadmin"
	"tapioca/store"
)

// OpenSiteAdmin opens a data directory's site administration for the
// offline `tapioca admin user` and `admin vouches` commands, which act as
// core.Operator under the same rules as the dashboard: the core's
// accounts, organizations, repositories and jobs on the database, without
// HTTP, workers or webhook deliveries (those commands manage accounts,
// which fire none). close releases the database.
func OpenSiteAdmin(ctx context.Context, dataDir string, log *slog.Logger) (svc *siteadmin.Service, close func() error, err error) {
	env, st, err := openOffline(ctx, dataDir, log)
	if err != nil {
		return nil, nil, err
	}
	return siteadmin.New(env, accounts.New(env), orgs.New(env), repos.New(env), nil, jobs.New(env)), st.Close, nil
}

// openOffline opens a data directory's database and the core's
// environment on it, for the offline commands.
func openOffline(ctx context.Context, dataDir string, log *slog.Logger) (*core.Env, *store.Store, error) {
	if _, err := os.Stat(dataDir); err != nil {
		return nil, nil, fmt.Errorf("data directory %s: %w (start the server once, or pass --data)", dataDir, err)
	}
	st, err := store.Open(ctx, filepath.Join(dataDir, "tapioca.db"))
	if err != nil {
		return nil, nil, err
	}
	git := gitserver.New(gitserver.Config{Logger: log})
	env, err := core.NewEnv(st, git, core.Config{DataDir: dataDir}, log)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return env, st, nil
}

// OpenApps opens a data directory's app management for the offline
// `tapioca admin app` commands: the core's apps service on the
// database and the secret key, without HTTP or workers (nothing is
// fetched or delivered from the command line). close releases the
// database. allowLoopback lets delivery URLs name loopback and
// link-local addresses, as --outbound-allow-loopback does for the
// server (which checks again on the address it dials).
func OpenApps(ctx context.Context, dataDir string, allowLoopback bool, log *slog.Logger) (svc *apps.Service, close func() error, err error) {
	env, st, err := openOffline(ctx, dataDir, log)
	if err != nil {
		return nil, nil, err
	}
	svc, err = apps.New(env, mirrors.New(env, nil, mirrors.Config{}), nil, apps.Config{Policy: core.NetPolicy{AllowLoopback: allowLoopback}})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st.Close, nil
}
