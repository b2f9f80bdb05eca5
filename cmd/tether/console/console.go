// Package console is Tether's analyst web UI: a fleet overview, agent
// pages, session timelines and finding pages, with triage actions. It is
// plain HTML/CSS/JS embedded in the binary (no build chain), served at `/`
// of the HTTP listen address by `tether run` and `tether demo`, and reads
// a bounded in-memory view (sink/memstore) over a small JSON API:
//
//	GET  /api/overview             agents by current risk, store size
//	GET  /api/version              changes whenever the data does (live updates poll it), store size
//	GET  /api/agents/{id}          baseline vs recent, lineage, commands and their acks (and human clears), sessions, findings
//	GET  /api/sessions/{id}        the timeline: events by step, findings, commands and their acks, triage
//	GET  /api/findings/{id}        explanation, evidence events, commands caused and their acks, triage
//	POST /api/findings/{id}/triage {"status","comment","by"} (writes: see Options.Token)
//	GET  /api/export/incident?finding=ID|agent=ID   the incident (package incident) as JSON
//	GET  /export/incident?finding=ID|agent=ID       the same as a print-ready HTML page
//	GET  /api/export/inventory     the AI-agent asset catalogue
//
// Reads are open to whoever reaches the listen address (loopback by
// default). Writes need `Authorization: Bearer TOKEN` when a token is
// configured, and come from loopback otherwise; they must be JSON (a
// cross-site form cannot send it without a CORS preflight, which is never
// granted).
package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink/incident"
	"github.com/tetherhq/tether/sink/memstore"
)

//go:embed assets
var assets embed.FS

// Source is what the console reads (sink/memstore.Store implements it).
type Source interface {
	Version() uint64
	Stats() memstore.Stats
	Agents() []memstore.AgentSummary
	Agent(id string) (memstore.AgentDetail, error)
	Session(id string) (memstore.SessionDetail, error)
	Finding(id string) (memstore.FindingDetail, error)
	Inventory() *models.Inventory
}

// TriageWriter stores a triage decision (the memstore, and the ClickHouse
// triage table when configured: see Multi).
type TriageWriter interface {
	SetTriage(ctx context.Context, r triage.Record) error
}

// Multi writes a triage record to each writer in order.
type Multi []TriageWriter

// SetTriage implements TriageWriter; it stops at the first error.
func (m Multi) SetTriage(ctx context.Context, r triage.Record) error {
	for _, w := range m {
		if err := w.SetTriage(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// Options configures the console.
type Options struct {
	// Source is the data shown; required.
	Source Source
	// Triage receives triage decisions; nil makes the console read-only.
	Triage TriageWriter
	// Token, when set, is the bearer token writes need (from config or
	// TETHER_CONSOLE_TOKEN); when empty, writes are accepted from loopback
	// clients only.
	Token string
	// Title is shown in the page header.
	Title string
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// DefaultOptions is a read-only console titled "Tether".
func DefaultOptions() Options { return Options{Title: "Tether"} }

// ErrUnauthorized is returned to a write without the right credentials.
var ErrUnauthorized = errors.New("writes need the console bearer token (or a loopback client when none is configured)")

// Handler returns the console's HTTP handler (mount it at "/").
func Handler(opts Options) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Title == "" {
		opts.Title = "Tether"
	}
	h := &handler{opts: opts}
	static, _ := fs.Sub(assets, "assets")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", h.index)
	mux.HandleFunc("GET /api/overview", h.overview)
	mux.HandleFunc("GET /api/version", h.version)
	mux.HandleFunc("GET /api/agents/{id}", h.agent)
	mux.HandleFunc("GET /api/sessions/{id}", h.session)
	mux.HandleFunc("GET /api/findings/{id}", h.finding)
	mux.HandleFunc("POST /api/findings/{id}/triage", h.setTriage)
	mux.HandleFunc("GET /api/export/incident", h.incidentJSON)
	mux.HandleFunc("GET /export/incident", h.incidentHTML)
	mux.HandleFunc("GET /api/export/inventory", h.inventory)
	return securityHeaders(mux)
}

type handler struct{ opts Options }

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func (h *handler) index(w http.ResponseWriter, _ *http.Request) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(bytes.Replace(b, []byte("<body>"), []byte(`<body data-bands="`+bandFloors()+`">`), 1))
}

// bandFloors renders the severity bands for the page's script, which
// colours severities by them: "info:0 low:30 medium:50 high:70 critical:90".
func bandFloors() string {
	parts := make([]string, len(models.Bands))
	for i, b := range models.Bands {
		parts[i] = fmt.Sprintf("%s:%d", b, b.Floor())
	}
	return strings.Join(parts, " ")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, memstore.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, triage.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrUnauthorized):
		status = http.StatusUnauthorized
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// Overview is the fleet overview's payload.
type Overview struct {
	Title    string                  `json:"title"`
	Now      time.Time               `json:"now"`
	Agents   []memstore.AgentSummary `json:"agents"`
	Stats    memstore.Stats          `json:"stats"`
	Writable bool                    `json:"writable"`
}

func (h *handler) overview(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Overview{Title: h.opts.Title, Now: h.opts.Now().UTC(), Agents: h.opts.Source.Agents(),
		Stats: h.opts.Source.Stats(), Writable: h.opts.Triage != nil})
}

func (h *handler) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Version uint64         `json:"version"`
		Stats   memstore.Stats `json:"stats"`
	}{h.opts.Source.Version(), h.opts.Source.Stats()})
}

func (h *handler) agent(w http.ResponseWriter, r *http.Request) {
	d, err := h.opts.Source.Agent(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *handler) session(w http.ResponseWriter, r *http.Request) {
	d, err := h.opts.Source.Session(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *handler) finding(w http.ResponseWriter, r *http.Request) {
	d, err := h.opts.Source.Finding(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// authorized reports whether r may write.
func (h *handler) authorized(r *http.Request) bool {
	if h.opts.Token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.Token)) == 1
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// triageRequest is the body of a triage write.
type triageRequest struct {
	Status  string `json:"status"`
	Comment string `json:"comment"`
	By      string `json:"by"`
}

func (h *handler) setTriage(w http.ResponseWriter, r *http.Request) {
	if h.opts.Triage == nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the console is read-only (no triage store configured)"})
		return
	}
	if !h.authorized(r) {
		writeErr(w, ErrUnauthorized)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send application/json"})
		return
	}
	var req triageRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	st, err := triage.ParseStatus(req.Status)
	if err != nil {
		writeErr(w, err)
		return
	}
	rec := triage.Record{FindingID: r.PathValue("id"), Status: st, Comment: req.Comment, By: req.By, At: h.opts.Now().UTC().Truncate(time.Millisecond)}
	if err := rec.Validate(); err != nil {
		writeErr(w, err)
		return
	}
	if _, err := h.opts.Source.Finding(rec.FindingID); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.opts.Triage.SetTriage(r.Context(), rec); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (h *handler) buildIncident(r *http.Request) (*incident.Incident, error) {
	q := r.URL.Query()
	return incident.Build(h.opts.Source, incident.Scope{FindingID: q.Get("finding"), AgentID: q.Get("agent")}, h.opts.Now())
}

func (h *handler) incidentJSON(w http.ResponseWriter, r *http.Request) {
	inc, err := h.buildIncident(r)
	if err != nil {
		if errors.Is(err, incident.ErrScope) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

func (h *handler) incidentHTML(w http.ResponseWriter, r *http.Request) {
	inc, err := h.buildIncident(r)
	if err != nil {
		status := http.StatusNotFound
		if errors.Is(err, incident.ErrScope) {
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
		return
	}
	// The page is self-contained (inline style, no script) so that it
	// can be saved and printed as it is.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = inc.WriteHTML(w)
}

func (h *handler) inventory(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, incident.NewCatalogue(h.opts.Source.Inventory(), h.opts.Now()))
}
