package console

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzTriageBody posts arbitrary bodies to the triage endpoint: the answer
// is 200 or a 4xx, never a panic or a 5xx.
func FuzzTriageBody(f *testing.F) {
	f.Add(`{"status":"resolved","comment":"ok","by":"ana"}`)
	f.Add(`{"status":"new","by":""}`)
	f.Add(`{"status":"resolved","by":"\u0000"}`)
	f.Add(`[`)
	s, fd := store(f)
	h := Handler(Options{Source: s, Triage: s})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/api/findings/"+fd.ID+"/triage", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:1"
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && (rec.Code < 400 || rec.Code >= 500) {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body.String())
		}
	})
}
