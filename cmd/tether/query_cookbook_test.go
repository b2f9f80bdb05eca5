package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	cookbook "github.com/tetherhq/tether/deploy/clickhouse"
	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/sink/clickhouse"
)

// TestQueryMatchesCookbook writes one fleet's output both to Parquet and to
// the real ClickHouse server, and checks that `tether query` and the
// cookbook give the same answers: per-agent risk and alert counts (01),
// timeline length (02) and per-session MTTD/MTTC (07).
func TestQueryMatchesCookbook(t *testing.T) {
	addr := testenv.ClickHouse(t)
	dir := t.TempDir()
	b := fleetOutput(t, dir, 20000)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	o := clickhouse.DefaultOptions()
	o.Addr, o.Database = addr, "tether_qc_"+hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := clickhouse.Open(ctx, o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	defer func() { _ = ch.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+o.Database) }()
	if err := ch.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	sql := func(name string, params map[string]string) []map[string]string {
		t.Helper()
		for _, q := range cookbook.Queries() {
			if q.Name != name {
				continue
			}
			text, err := q.Render(o.Database, params)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := ch.Conn().Query(ctx, text)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			defer rows.Close()
			cols := rows.Columns()
			var out []map[string]string
			for rows.Next() {
				vals := make([]any, len(cols))
				for i, ct := range rows.ColumnTypes() {
					vals[i] = newScan(ct.ScanType())
				}
				if err := rows.Scan(vals...); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				m := map[string]string{}
				for i, c := range cols {
					m[c] = fmt.Sprint(deref(vals[i]))
				}
				out = append(out, m)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		t.Fatalf("no cookbook query %s", name)
		return nil
	}

	// 01: risk and alerts per agent (nothing is triaged here).
	want := map[string]string{}
	for _, r := range sql("01_top_agents_by_risk", nil) {
		want[r["agent_id"]] = r["risk"] + "/" + r["alerts"] + "/" + r["open_findings"]
	}
	got := map[string]string{}
	for _, r := range queryJSON(t, "--dir", dir, "top-agents") {
		got[r["agent_id"]] = r["risk"] + "/" + r["alerts"] + "/" + r["findings"]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("top agents: tether query %v, cookbook %v", got, want)
	}
	agents := len(got)

	// 07: per-session detection times.
	want = map[string]string{}
	for _, r := range sql("07_session_detection_times", nil) {
		want[r["session_id"]] = r["first_harmful_step"] + "/" + r["mttd_ms"] + "/" + r["mttc_ms"]
	}
	got = map[string]string{}
	for _, r := range queryJSON(t, "--dir", dir, "detection-times") {
		got[r["session_id"]] = r["first_harmful_step"] + "/" + r["mttd_ms"] + "/" + r["mttc_ms"]
	}
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("detection times: tether query %v, cookbook %v", got, want)
	}

	// 02: the timeline of every alerted session has the same rows.
	for sid := range want {
		cb := sql("02_session_timeline", map[string]string{"session_id": sid})
		q := 0
		for _, r := range queryJSON(t, "--dir", dir, "session", sid) {
			if r["source"] != "command" {
				q++
			}
		}
		if q != len(cb) {
			t.Errorf("session %s: tether query %d events and findings, cookbook %d", sid, q, len(cb))
		}
	}
	t.Logf("%d agents and %d alerted sessions agree", agents, len(want))
}

func newScan(t reflect.Type) any { return reflect.New(t).Interface() }

func deref(v any) any { return reflect.ValueOf(v).Elem().Interface() }
