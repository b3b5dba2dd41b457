package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHealthUnhealthy: when the database stops answering, health says 503
// and why, in Doco-CD's shape.
func TestHealthUnhealthy(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	s.as(t, "").must(http.StatusOK, "GET", "/v1/health", nil)
	if err := s.App.Store().Close(); err != nil {
		t.Fatal(err)
	}
	r := s.as(t, "").must(http.StatusServiceUnavailable, "GET", "/v1/health", nil)
	body := r.obj(t)
	if body["details"] != "unhealthy" || !strings.HasPrefix(body["error"].(string), "database:") {
		t.Errorf("unhealthy body %s", r.Body)
	}
}
