package handlers

// routesAdmin registers the admin dashboard (/admin, /login, /logout,
// /assets/).
func (a *App) routesAdmin() {}
