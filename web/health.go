package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// healthTimeout bounds the checks of one /readyz.
const healthTimeout = 5 * time.Second

// readiness is /readyz's answer.
type readiness struct {
	Status string  `json:"status"` // ready, degraded, not ready
	Checks []Check `json:"checks"`
}

// handleHealthz answers while the process serves HTTP: liveness only.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// handleReadyz answers 200 when every check is ok or degraded (the body
// says "degraded" and which), 503 when one is down. A backup repository
// outage is degraded: mail is still accepted and kept for the backup.
// ?format=json gives the checks as JSON.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	rd := s.readiness(ctx)
	code := http.StatusOK
	if rd.Status == "not ready" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(rd)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(rd.Status + "\n"))
	for _, c := range rd.Checks {
		line := c.Name + ": " + c.Status
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		w.Write([]byte(line + "\n"))
	}
}

func (s *Server) readiness(ctx context.Context) readiness {
	rd := readiness{Status: "ready", Checks: s.o.Source.Health(ctx)}
	for _, c := range rd.Checks {
		switch c.Status {
		case CheckDown:
			rd.Status = "not ready"
		case CheckDegraded:
			if rd.Status == "ready" {
				rd.Status = "degraded"
			}
		}
	}
	return rd
}
