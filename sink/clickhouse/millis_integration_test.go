package clickhouse

import (
	"context"
	"testing"
	"time"
)

// TestIntegrationMillis checks that event, finding and command times keep
// their milliseconds on the real server, whatever its dialect:
// toUInt32(time) * 1000 + time_ms is the Unix time in milliseconds.
func TestIntegrationMillis(t *testing.T) {
	o := testOptions(t)
	w := openT(t, o)
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 8, 30, 15, 987_654_321, time.UTC)
	b := sample(now)
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		want        time.Time
	}{
		{"event", "SELECT toUInt64(toUInt32(time)) * 1000 + time_ms FROM " + o.Database + ".events WHERE event_id = ?", b.Events[0].Time},
		{"finding", "SELECT toUInt64(toUInt32(time)) * 1000 + time_ms FROM " + o.Database + ".findings WHERE finding_id = ?", b.Findings[0].Time},
		{"command", "SELECT toUInt64(toUInt32(issued_at)) * 1000 + issued_at_ms FROM " + o.Database + ".commands WHERE command_id = ?", b.Commands[0].IssuedAt},
	}
	ids := []string{b.Events[0].ID, b.Findings[0].ID, b.Commands[0].ID}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want.Nanosecond()%int(time.Second) == 0 {
				t.Fatalf("sample %s time %v has no milliseconds to keep", tt.name, tt.want)
			}
			var ms uint64
			if err := w.Conn().QueryRow(ctx, tt.query, ids[i]).Scan(&ms); err != nil {
				t.Fatal(err)
			}
			if int64(ms) != tt.want.UnixMilli() {
				t.Errorf("stored %d ms, want %d (%s, dialect %s)", ms, tt.want.UnixMilli(), tt.want.Format(time.RFC3339Nano), w.Dialect())
			}
		})
	}
}
