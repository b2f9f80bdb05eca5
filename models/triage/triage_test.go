package triage

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Record{FindingID: "f1", Status: StatusFalsePositive, Comment: "expected", By: "ana", At: time.Unix(1, 0)}
	tests := []struct {
		name   string
		change func(*Record)
		valid  bool
	}{
		{"valid", func(*Record) {}, true},
		{"no finding", func(r *Record) { r.FindingID = "" }, false},
		{"newline in id", func(r *Record) { r.FindingID = "f\n1" }, false},
		{"no author", func(r *Record) { r.By = "  " }, false},
		{"unknown status", func(r *Record) { r.Status = "fine" }, false},
		{"long comment", func(r *Record) { r.Comment = strings.Repeat("x", maxCommentBytes+1) }, false},
		{"invalid UTF-8", func(r *Record) { r.Comment = "\xff" }, false},
		{"no time", func(r *Record) { r.At = time.Time{} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.change(&r)
			err := r.Validate()
			if (err == nil) != tt.valid || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Errorf("Validate() = %v, want valid %v (errors wrap ErrInvalid)", err, tt.valid)
			}
		})
	}
}

func TestStatuses(t *testing.T) {
	for _, s := range Statuses {
		got, err := ParseStatus(string(s))
		if err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	open := map[Status]bool{StatusNew: true, StatusAcknowledged: true}
	for _, s := range Statuses {
		if s.Open() != open[s] {
			t.Errorf("%s.Open() = %v", s, s.Open())
		}
	}
}
