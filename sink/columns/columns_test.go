package columns

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
)

func TestTablesCheck(t *testing.T) {
	for name, check := range map[string]func() error{
		EventsTable:   func() error { return Events.Check(&Event{E: &models.Event{}}) },
		FindingsTable: func() error { return Findings.Check(&models.Finding{}) },
		CommandsTable: func() error { return Commands.Check(&models.ContainmentCommand{}) },
		AcksTable:     func() error { return Acks.Check(&models.CommandAck{}) },
		TriageTable:   func() error { return Triage.Check(&triage.Record{}) },
	} {
		t.Run(name, func(t *testing.T) {
			if err := check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCheckRejects feeds Check the mistakes it exists to catch.
func TestCheckRejects(t *testing.T) {
	type rec struct{ s string }
	str := col("s", String, func(r *rec) string { return r.s })
	tests := []struct {
		name  string
		table Table[rec]
		want  string
	}{
		{"duplicate", Table[rec]{Name: "x", Columns: []Column[rec]{str, str}}, "duplicate column s"},
		{"unnamed", Table[rec]{Name: "x", Columns: []Column[rec]{{Kind: String}}}, "without a name"},
		{"wrong getter type", Table[rec]{Name: "x", Columns: []Column[rec]{col("n", Int64, func(*rec) int { return 0 })}}, "getter returns int"},
		{"no getter", Table[rec]{Name: "x", Columns: []Column[rec]{{Name: "n", Kind: Int64}}}, "no getter"},
		{"no kind", Table[rec]{Name: "x", Columns: []Column[rec]{{Name: "n", Value: func(*rec) any { return 0 }}}}, "no kind"},
		{"unknown Parquet column", Table[rec]{Name: "x", Columns: []Column[rec]{str}, Parquet: []string{"t"}}, "not a column"},
		{"Parquet DEFAULT column", Table[rec]{Name: "x", Columns: []Column[rec]{str, defaulted[rec]("d", Seconds, "now()")}, Parquet: []string{"d"}}, "filled by ClickHouse"},
		{"ParquetOnly outside Parquet", Table[rec]{Name: "x", Columns: []Column[rec]{parquetOnly(str)}}, "ParquetOnly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.table.Check(&rec{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in      string
		limit   int
		want    string
		wantCut bool
	}{
		{"hello", 0, "hello", false},
		{"hello", 10, "hello", false},
		{"hello", 5, "hello", false},
		{"hello", 3, "hel", true},
		{"héllo", 2, "h", true},  // é is 2 bytes starting at index 1: never split
		{"héllo", 3, "hé", true}, // cut right after é
		{"日本語", 4, "日", true},    // 3-byte runes
		{"日本語", 2, "", true},     // not even one rune fits
		{"", 1, "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%d", tt.in, tt.limit), func(t *testing.T) {
			got, cut := Cut(tt.in, tt.limit)
			if got != tt.want || cut != tt.wantCut {
				t.Errorf("Cut(%q, %d) = %q, %v; want %q, %v", tt.in, tt.limit, got, cut, tt.want, tt.wantCut)
			}
		})
	}
}

func TestNewEvent(t *testing.T) {
	e := &models.Event{Arguments: []byte(`{"a":"0123456789"}`), Result: "short", Content: "日本語", Error: ""}
	tests := []struct {
		limit         int
		args, content string
		truncated     bool
	}{
		{0, `{"a":"0123456789"}`, "日本語", false},
		{100, `{"a":"0123456789"}`, "日本語", false},
		{7, `{"a":"0`, "日本", true},
	}
	for _, tt := range tests {
		r := NewEvent(e, tt.limit)
		if r.Arguments != tt.args || r.Content != tt.content || r.Truncated != tt.truncated || r.Result != "short" {
			t.Errorf("NewEvent(limit %d) = %+v", tt.limit, r)
		}
	}
}

func TestMillis(t *testing.T) {
	tests := []struct {
		t    time.Time
		want uint16
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC), 678},
		{time.Unix(0, 999_000_000), 999},
		{time.Time{}, 0},
		{time.Unix(-1, 500_000_000), 0}, // before the epoch: stored as the epoch
	}
	for _, tt := range tests {
		if got := Millis(tt.t); got != tt.want {
			t.Errorf("Millis(%s) = %d, want %d", tt.t, got, tt.want)
		}
	}
}
