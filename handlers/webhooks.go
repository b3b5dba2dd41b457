package handlers

import (
	"context"

	"tapioca/gitserver"
	"tapioca/store"
)

// routesWebhooks registers user and organization webhooks and their
// deliveries.
func (a *App) routesWebhooks() {}

// initWebhooks prepares webhook delivery and adds its workers.
func (a *App) initWebhooks(ctx context.Context) error { return nil }

// emitPush records push, create and delete events for a push that has
// already moved the refs.
func (a *App) emitPush(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate) {
}

// sweepWebhooks re-queues deliveries whose retry time has come; the
// scheduled job "webhook-retry-sweep" runs it.
func (a *App) sweepWebhooks(ctx context.Context) error { return nil }
