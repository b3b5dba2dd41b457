package handlers

import (
	"fmt"
	"net/http"
	"os"
)

func (a *App) routesHealth() {
	a.mux.HandleFunc("GET /v1/health", a.health)
}

// health answers 200 when the database answers and the data directory
// takes writes, else 503 with the reason (Doco-CD's shape).
func (a *App) health(w http.ResponseWriter, r *http.Request) {
	if err := a.checkHealth(r); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"details": "unhealthy", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"details": "healthy"})
}

func (a *App) checkHealth(r *http.Request) error {
	if err := a.store.Ping(r.Context()); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	f, err := os.CreateTemp(a.cfg.DataDir, ".health-*")
	if err != nil {
		return fmt.Errorf("data directory not writable: %w", err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok"))
	cerr := f.Close()
	os.Remove(name)
	if werr != nil || cerr != nil {
		return fmt.Errorf("data directory not writable: %v %v", werr, cerr)
	}
	return nil
}
