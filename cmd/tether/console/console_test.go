package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/memstore"
)

func store(t testing.TB) (*memstore.Store, models.Finding) {
	t.Helper()
	s := memstore.New(memstore.DefaultOptions())
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	e := &models.Event{ID: "e1", Kind: models.KindToolCall, Time: t0, AgentID: "a", SessionID: "a-s1", Step: 3, ToolName: "http.post"}
	f := models.Finding{Time: t0, AgentID: "a", RootAgentID: "a", SessionID: "a-s1", Detector: "flow", Kind: "untrusted_to_sink", Severity: 80, Step: 3, EvidenceIDs: []string{"e1"}}
	f.SetID()
	if err := s.Write(context.Background(), &sink.Batch{Events: []*models.Event{e}, Findings: []models.Finding{f}}); err != nil {
		t.Fatal(err)
	}
	return s, f
}

func TestReads(t *testing.T) {
	s, f := store(t)
	h := Handler(Options{Source: s})
	tests := []struct {
		path, want string
		code       int
	}{
		{"/", "<title>Tether console</title>", 200},
		{"/", `<body data-bands="info:0 low:30 medium:50 high:70 critical:90">`, 200}, // models.Bands, for the script's colours
		{"/static/app.js", "hashchange", 200},
		{"/api/overview", `"agent_id":"a"`, 200},
		{"/api/agents/a", `"findings":1,`, 200},
		{"/api/sessions/a-s1", `"timeline"`, 200},
		{"/api/findings/" + f.ID, `"evidence"`, 200},
		{"/api/findings/nope", "not in the console's memory window", 404},
		{"/api/version", `"version"`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("GET %s: %d %.300s; want %d containing %q", tt.path, rec.Code, rec.Body.String(), tt.code, tt.want)
			}
			if rec.Header().Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
		})
	}
}

func TestTriageWrites(t *testing.T) {
	body := `{"status":"false_positive","comment":"expected","by":"ana"}`
	tests := []struct {
		name        string
		token       string
		readOnly    bool
		remote      string
		auth        string
		contentType string
		body        string
		code        int
	}{
		{"loopback without token", "", false, "127.0.0.1:5000", "", "application/json", body, 200},
		{"remote without token", "", false, "10.1.2.3:5000", "", "application/json", body, 401},
		{"remote with token", "s3cret", false, "10.1.2.3:5000", "Bearer s3cret", "application/json", body, 200},
		{"loopback, wrong token", "s3cret", false, "127.0.0.1:5000", "Bearer nope", "application/json", body, 401},
		{"form post (cross-site)", "", false, "127.0.0.1:5000", "", "application/x-www-form-urlencoded", body, 415},
		{"read-only", "", true, "127.0.0.1:5000", "", "application/json", body, 403},
		{"bad status", "", false, "127.0.0.1:5000", "", "application/json", `{"status":"fine","by":"ana"}`, 400},
		{"no author", "", false, "127.0.0.1:5000", "", "application/json", `{"status":"resolved"}`, 400},
		{"unknown field", "", false, "127.0.0.1:5000", "", "application/json", `{"status":"resolved","by":"a","x":1}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := store(t)
			o := Options{Source: s, Token: tt.token}
			if !tt.readOnly {
				o.Triage = s
			}
			h := Handler(o)
			req := httptest.NewRequest("POST", "/api/findings/"+f.ID+"/triage", strings.NewReader(tt.body))
			req.RemoteAddr = tt.remote
			req.Header.Set("Content-Type", tt.contentType)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body.String(), tt.code)
			}
			d, _ := s.Finding(f.ID)
			if stored := len(d.Triage) == 1; stored != (tt.code == http.StatusOK) {
				t.Errorf("stored %d triage records after a %d", len(d.Triage), rec.Code)
			}
			if tt.code == http.StatusOK {
				var got map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &got)
				if got["status"] != "false_positive" || got["by"] != "ana" {
					t.Errorf("response %v", got)
				}
			}
		})
	}
}
