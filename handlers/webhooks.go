package handlers

import "context"

// routesWebhooks registers user and organization webhooks and their
// deliveries.
func (a *App) routesWebhooks() {}

// initWebhooks prepares webhook delivery and adds its workers.
func (a *App) initWebhooks(ctx context.Context) error { return nil }
