package core

import (
	"context"
	"fmt"
	"os"
)

// Health reports why the forge cannot serve, or nil: the database must
// answer and the data directory must take writes.
func (e *Env) Health(ctx context.Context) error {
	if err := e.Store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	f, err := os.CreateTemp(e.Cfg.DataDir, ".health-*")
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
