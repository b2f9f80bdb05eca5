package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testOptions returns options for a fresh, uniquely named database on the
// test server; the database is dropped when the test ends.
func testOptions(t *testing.T) Options {
	t.Helper()
	addr := testenv.ClickHouse(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	o := DefaultOptions()
	o.Addr = addr
	o.Database = "tether_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A bare connection: opening a Writer on "default" would apply
		// this build's schema there, and fail on tables an older build
		// left in it.
		conn, err := ch.Open(&ch.Options{Addr: []string{o.Addr}})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+o.Database); err != nil {
			t.Errorf("cleanup: drop %s: %v", o.Database, err)
		}
	})
	return o
}

func openT(t *testing.T, o Options) *Writer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := Open(ctx, o, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", o.Addr, o.Database, err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func count(t *testing.T, w *Writer, query string) uint64 {
	t.Helper()
	var n uint64
	if err := w.Conn().QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestIntegrationMigrateTwice(t *testing.T) {
	o := testOptions(t)
	w1 := openT(t, o)
	w2 := openT(t, o) // the schema exists now: every statement is a no-op
	t.Logf("server %s, dialect %s", w2.ServerVersion(), w2.Dialect())

	var major, minor uint64
	if err := w2.Conn().QueryRow(context.Background(),
		"SELECT toUInt64(splitByChar('.', version())[1]), toUInt64(splitByChar('.', version())[2])").Scan(&major, &minor); err != nil {
		t.Fatal(err)
	}
	if want := DialectFor(major, minor); w1.Dialect() != want || w2.Dialect() != want {
		t.Errorf("dialects %s, %s for server %d.%d; want %s", w1.Dialect(), w2.Dialect(), major, minor, want)
	}
	for _, tbl := range w2.schema.Tables() {
		t.Run(tbl.Name, func(t *testing.T) {
			rows, err := w2.Conn().Query(context.Background(),
				"SELECT name, type FROM system.columns WHERE database = ? AND table = ?", o.Database, tbl.Name)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var name, typ string
				if err := rows.Scan(&name, &typ); err != nil {
					t.Fatal(err)
				}
				got = append(got, name+" "+typ)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, c := range tbl.Columns {
				want = append(want, c.Name+" "+c.RenderType(w2.Dialect()))
			}
			sort.Strings(got) // 18.16's system.columns has no position column
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("columns of %s:\n%s\nwant\n%s", tbl.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			var engine string
			if err := w2.Conn().QueryRow(context.Background(),
				"SELECT engine FROM system.tables WHERE database = ? AND name = ?", o.Database, tbl.Name).Scan(&engine); err != nil {
				t.Fatal(err)
			}
			if engine != "ReplacingMergeTree" {
				t.Errorf("engine %q, want ReplacingMergeTree", engine)
			}
		})
	}
}

// TestIntegrationMigration opens a database whose findings and commands
// tables were created by a build without the subject and command envelope
// columns: Open adds them, old rows read their defaults, new rows store
// them.
func TestIntegrationMigration(t *testing.T) {
	o := testOptions(t)
	w := openT(t, o)
	ctx := context.Background()
	added := map[string]bool{"subject": true, "version": true, "root_agent_id": true, "scope": true, "autonomy_before": true, "key_id": true, "signature": true}
	for _, tbl := range []Table{w.schema.Findings, w.schema.Commands} {
		old := tbl
		old.Columns = nil
		for _, c := range tbl.Columns {
			if !added[c.Name] || (tbl.Name == FindingsTable && c.Name == "root_agent_id") {
				old.Columns = append(old.Columns, c)
			}
		}
		if err := w.Conn().Exec(ctx, "DROP TABLE "+w.schema.Qualified(tbl.Name)); err != nil {
			t.Fatal(err)
		}
		if err := w.Conn().Exec(ctx, w.schema.CreateTable(old)); err != nil {
			t.Fatal(err)
		}
	}
	old, err := w.Conn().PrepareBatch(ctx, "INSERT INTO "+o.Database+".commands (command_id, agent_id)")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Append("old-cmd", "agent-old"); err != nil {
		t.Fatal(err)
	}
	if err := old.Send(); err != nil {
		t.Fatal(err)
	}
	w2 := openT(t, o)
	b := sample(time.Now().UTC())
	c := &b.Commands[0]
	c.RootAgentID, c.AutonomyBefore, c.KeyID, c.Signature = "agent-a", models.AutonomySenior, "k1", "c2ln"
	b.Findings[0].Subject = "pii"
	if err := w2.Write(ctx, b); err != nil {
		t.Fatalf("Write after migration: %v", err)
	}
	var subject string
	if err := w2.Conn().QueryRow(ctx, "SELECT subject FROM "+o.Database+".findings FINAL WHERE finding_id = ?", b.Findings[0].ID).Scan(&subject); err != nil || subject != "pii" {
		t.Errorf("subject = %q, %v; want pii", subject, err)
	}
	tests := []struct{ id, scope, root, before, key, sig string }{
		{"old-cmd", "", "", "", "", ""},
		{c.ID, string(c.Scope), "agent-a", "senior", "k1", "c2ln"},
	}
	for _, tt := range tests {
		var scope, root, before, key, sig string
		err := w2.Conn().QueryRow(ctx, "SELECT scope, root_agent_id, autonomy_before, key_id, signature FROM "+o.Database+".commands FINAL WHERE command_id = ?", tt.id).
			Scan(&scope, &root, &before, &key, &sig)
		if err != nil {
			t.Fatalf("command %s: %v", tt.id, err)
		}
		if got := []string{scope, root, before, key, sig}; strings.Join(got, ",") != strings.Join([]string{tt.scope, tt.root, tt.before, tt.key, tt.sig}, ",") {
			t.Errorf("command %s envelope = %q", tt.id, got)
		}
	}
}

// precision is the time resolution the dialect stores.
func precision(d Dialect) time.Duration {
	if d == DialectLegacy {
		return time.Second
	}
	return time.Millisecond
}

func TestIntegrationWrite(t *testing.T) {
	o := testOptions(t)
	o.MaxTextBytes = 32
	w := openT(t, o)
	ctx := context.Background()
	now := time.Now().UTC()
	b := sample(now)
	if err := w.Write(ctx, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	p := precision(w.Dialect())
	db := o.Database

	t.Run("findings", func(t *testing.T) {
		f := b.Findings[0]
		var (
			id, root, agent, session, principal, detector, kind, expl string
			tm                                                        time.Time
			sev                                                       uint8
			conf                                                      float64
			evidence, names                                           []string
			observed, baseline, spread                                []float64
			step                                                      int64
		)
		err := w.Conn().QueryRow(ctx, "SELECT finding_id, time, root_agent_id, agent_id, session_id, principal, detector, kind, severity, confidence, explanation, evidence_event_ids, feature_name, feature_observed, feature_baseline, feature_spread, step FROM "+db+".findings FINAL").
			Scan(&id, &tm, &root, &agent, &session, &principal, &detector, &kind, &sev, &conf, &expl, &evidence, &names, &observed, &baseline, &spread, &step)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			col       string
			got, want any
		}{
			{"finding_id", id, f.ID},
			{"time", tm.UTC(), f.Time.Truncate(p)},
			{"root_agent_id", root, "agent-a"},
			{"agent_id", agent, "agent-b"},
			{"session_id", session, "sess-1"},
			{"principal", principal, "alice"},
			{"detector", detector, "egress"},
			{"kind", kind, "new_destination"},
			{"severity", sev, uint8(72)},
			{"confidence", conf, 0.875},
			{"explanation", expl, f.Explanation},
			{"evidence_event_ids", strings.Join(evidence, ","), "ev-1,ev-2"},
			{"feature_name", strings.Join(names, ","), "bytes_out,new_dest"},
			{"feature_observed", observed, []float64{4242, 1}},
			{"feature_baseline", baseline, []float64{100, 0}},
			{"feature_spread", spread, []float64{20, 0}},
			{"step", step, int64(7)},
		}
		for _, tt := range tests {
			if !equal(tt.got, tt.want) {
				t.Errorf("%s = %v, want %v", tt.col, tt.got, tt.want)
			}
		}
	})

	t.Run("commands", func(t *testing.T) {
		c := b.Commands[0]
		var (
			id, agent, session, cred, action, target, reason string
			issued, expires                                  time.Time
			sev                                              uint8
			fids                                             []string
		)
		err := w.Conn().QueryRow(ctx, "SELECT command_id, issued_at, expires_at, agent_id, session_id, credential_id, action, target_autonomy, severity, reason, finding_ids FROM "+db+".commands FINAL").
			Scan(&id, &issued, &expires, &agent, &session, &cred, &action, &target, &sev, &reason, &fids)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			col       string
			got, want any
		}{
			{"command_id", id, c.ID},
			{"issued_at", issued.UTC(), c.IssuedAt.Truncate(p)},
			{"expires_at", expires.UTC(), c.ExpiresAt.Truncate(p)},
			{"agent_id", agent, "agent-b"},
			{"session_id", session, "sess-1"},
			{"credential_id", cred, "cred-9"},
			{"action", action, "demote_autonomy"},
			{"target_autonomy", target, "intern"},
			{"severity", sev, uint8(72)},
			{"reason", reason, "egress anomaly"},
			{"finding_ids", strings.Join(fids, ","), b.Findings[0].ID},
		}
		for _, tt := range tests {
			if !equal(tt.got, tt.want) {
				t.Errorf("%s = %v, want %v", tt.col, tt.got, tt.want)
			}
		}
	})

	t.Run("events", func(t *testing.T) {
		e := b.Events[0]
		var (
			id, kind, root, agent, name, version, session, op, role, tool, callID, args, content, model string
			parent, parentSess, principal, cred, autonomy, resource, dest                               string
			tm                                                                                          time.Time
			pse, credExp                                                                                *time.Time
			step, nbytes                                                                                int64
			truncated, schemaVersion                                                                    uint8
			classes                                                                                     []string
		)
		err := w.Conn().QueryRow(ctx, "SELECT event_id, time, kind, root_agent_id, agent_id, agent_name, agent_version, session_id, step, operation, role, tool_name, tool_call_id, arguments, content, truncated, model, parent_agent_id, parent_session_id, principal, principal_session_end, credential_id, credential_expires_at, autonomy_level, data_classes, resource, destination, bytes, schema_version FROM "+db+".events FINAL WHERE event_id = 'ev-1'").
			Scan(&id, &tm, &kind, &root, &agent, &name, &version, &session, &step, &op, &role, &tool, &callID, &args, &content, &truncated, &model, &parent, &parentSess, &principal, &pse, &cred, &credExp, &autonomy, &classes, &resource, &dest, &nbytes, &schemaVersion)
		if err != nil {
			t.Fatal(err)
		}
		if pse == nil || credExp == nil {
			t.Fatalf("nullable times read back as NULL: %v, %v", pse, credExp)
		}
		tests := []struct {
			col       string
			got, want any
		}{
			{"event_id", id, "ev-1"},
			{"time", tm.UTC(), e.Time.Truncate(p)},
			{"kind", kind, "tool_call"},
			{"root_agent_id", root, "agent-a"},
			{"agent_id", agent, "agent-b"},
			{"agent_name", name, "Billing bot"},
			{"agent_version", version, "2.1"},
			{"session_id", session, "sess-1"},
			{"step", step, int64(7)},
			{"operation", op, "execute_tool"},
			{"role", role, "assistant"},
			{"tool_name", tool, "http.post"},
			{"tool_call_id", callID, "call-1"},
			{"arguments", args, string(e.Arguments[:32])},
			{"content", content, "sending"},
			{"truncated", truncated, uint8(1)},
			{"model", model, "gpt-x"},
			{"parent_agent_id", parent, "agent-a"},
			{"parent_session_id", parentSess, "sess-0"},
			{"principal", principal, "alice"},
			{"principal_session_end", pse.UTC(), e.PrincipalSessionEnd.Truncate(p)},
			{"credential_id", cred, "cred-9"},
			{"credential_expires_at", credExp.UTC(), e.CredentialExpiry.Truncate(p)},
			{"autonomy_level", autonomy, "junior"},
			{"data_classes", strings.Join(classes, ","), "pii,finance"},
			{"resource", resource, "invoices"},
			{"destination", dest, "x.example"},
			{"bytes", nbytes, int64(4242)},
			{"schema_version", schemaVersion, uint8(1)},
		}
		for _, tt := range tests {
			if !equal(tt.got, tt.want) {
				t.Errorf("%s = %v, want %v", tt.col, tt.got, tt.want)
			}
		}
		var nullEnd *time.Time
		var bareRoot string
		if err := w.Conn().QueryRow(ctx, "SELECT principal_session_end, root_agent_id FROM "+db+".events FINAL WHERE event_id = 'ev-2'").Scan(&nullEnd, &bareRoot); err != nil {
			t.Fatal(err)
		}
		if nullEnd != nil || bareRoot != "agent-a" {
			t.Errorf("ev-2: principal_session_end %v (want NULL), root %q (want agent-a)", nullEnd, bareRoot)
		}
	})
}

func equal(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	switch av := a.(type) {
	case []float64:
		bv, ok := b.([]float64)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if av[i] != bv[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestIntegrationWriteTwiceNoDuplicates(t *testing.T) {
	o := testOptions(t)
	w := openT(t, o)
	ctx := context.Background()
	b := sample(time.Now().UTC())
	for i := 0; i < 2; i++ {
		if err := w.Write(ctx, b); err != nil {
			t.Fatalf("Write #%d: %v", i+1, err)
		}
	}
	// A second writer (a restarted daemon replaying the batch), this one
	// without LZ4 compression, so that both block encodings are exercised.
	o2 := o
	o2.Compress = false
	w2 := openT(t, o2)
	if err := w2.Write(ctx, b); err != nil {
		t.Fatalf("Write from a second writer: %v", err)
	}
	tests := []struct {
		table string
		key   string
		want  uint64
	}{
		{"events", "event_id", 2},
		{"findings", "finding_id", 1},
		{"commands", "command_id", 1},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			q := o.Database + "." + tt.table
			if raw := count(t, w, "SELECT count() FROM "+q); raw != 3*tt.want {
				t.Logf("%s holds %d raw rows before merging (3 writes of %d)", tt.table, raw, tt.want)
			}
			if got := count(t, w, "SELECT count() FROM "+q+" FINAL"); got != tt.want {
				t.Errorf("count() FINAL = %d, want %d", got, tt.want)
			}
			if got := count(t, w, "SELECT uniqExact("+tt.key+") FROM "+q+" FINAL"); got != tt.want {
				t.Errorf("distinct %s = %d, want %d", tt.key, got, tt.want)
			}
			// After a merge the duplicates are gone even without FINAL.
			if err := w.Conn().Exec(ctx, "OPTIMIZE TABLE "+q+" FINAL"); err != nil {
				t.Fatal(err)
			}
			if got := count(t, w, "SELECT count() FROM "+q); got != tt.want {
				t.Errorf("count() after OPTIMIZE FINAL = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestIntegrationEmptyBatch(t *testing.T) {
	w := openT(t, testOptions(t))
	for _, b := range []*sink.Batch{nil, {}} {
		if err := w.Write(context.Background(), b); err != nil {
			t.Errorf("Write(%v) = %v, want nil", b, err)
		}
	}
	if got := count(t, w, "SELECT count() FROM "+w.Database()+".events"); got != 0 {
		t.Errorf("events holds %d rows after empty writes", got)
	}
}

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// proxy forwards loopback TCP connections to a target until stopped.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
		go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
	}
}

// stop closes the listener and every forwarded connection, like a server
// that went away.
func (p *proxy) stop() {
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func TestIntegrationUnavailable(t *testing.T) {
	o := testOptions(t)
	o.DialTimeout = 2 * time.Second
	o.ReadTimeout = 5 * time.Second

	t.Run("open on a bogus port", func(t *testing.T) {
		bad := o
		bad.Addr = freePort(t)
		w, err := Open(context.Background(), bad, zerolog.Nop())
		if !errors.Is(err, sink.ErrUnavailable) {
			t.Fatalf("Open(%s) = %v; want an error wrapping sink.ErrUnavailable", bad.Addr, err)
		}
		if w != nil {
			t.Fatal("Open returned a writer with its error")
		}
		if !strings.Contains(err.Error(), bad.Addr) {
			t.Errorf("error %q does not name the address", err)
		}
	})

	t.Run("write after the server went away", func(t *testing.T) {
		p := startProxy(t, o.Addr)
		via := o
		via.Addr = p.addr()
		w := openT(t, via)
		ctx := context.Background()
		b := sample(time.Now().UTC())
		if err := w.Write(ctx, b); err != nil {
			t.Fatalf("Write through the proxy: %v", err)
		}
		p.stop()
		for i := 0; i < 2; i++ { // pooled (dead) connection, then a new dial
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := w.Write(ctx, b)
			cancel()
			if !errors.Is(err, sink.ErrUnavailable) {
				t.Fatalf("Write #%d with the server gone = %v; want an error wrapping sink.ErrUnavailable", i+1, err)
			}
			t.Logf("Write #%d: %v", i+1, err)
		}
	})

	t.Run("write after close", func(t *testing.T) {
		w := openT(t, o)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(context.Background(), sample(time.Now())); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write after Close = %v; want ErrClosed", err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
}

// readmeQueries returns the ```sql blocks of the top-level README.md.
func readmeQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var qs []string
	parts := strings.Split(string(b), "```sql\n")
	for _, p := range parts[1:] {
		q, _, ok := strings.Cut(p, "```")
		if !ok {
			t.Fatalf("unterminated sql block: %.60q", p)
		}
		qs = append(qs, q)
	}
	return qs
}

// TestIntegrationReadmeQueries runs every example query of README.md on a
// sample batch: each must succeed on the test server and return rows.
func TestIntegrationReadmeQueries(t *testing.T) {
	qs := readmeQueries(t)
	if len(qs) < 4 {
		t.Fatalf("README.md has %d sql examples, want at least 4", len(qs))
	}
	o := testOptions(t)
	w := openT(t, o)
	ctx := context.Background()
	b := sample(time.Now().UTC().Add(-time.Minute))
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	c, now := b.Commands[0], time.Now().UTC()
	ack := models.CommandAck{CommandID: c.ID, AgentID: c.AgentID, Action: c.Action, Status: models.AckApplied, Consumer: "gateway",
		IssuedAt: c.IssuedAt, AlertedAt: now.Add(-40 * time.Millisecond), ReceivedAt: now.Add(-10 * time.Millisecond), AckedAt: now}
	if err := w.WriteAcks(ctx, []models.CommandAck{ack}); err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		first, _, _ := strings.Cut(strings.TrimSpace(q), "\n")
		t.Run(fmt.Sprintf("%d %s", i+1, first), func(t *testing.T) {
			rows, err := w.Conn().Query(ctx, strings.ReplaceAll(q, "tether.", o.Database+"."))
			if err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Errorf("no rows from\n%s", q)
			}
			t.Logf("%d rows", n)
		})
	}
}
