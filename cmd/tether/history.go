package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/clickhouse"
	"github.com/tetherhq/tether/sink/memstore"
)

// historySource is the daemon's console source when ClickHouse is
// enabled: the in-memory view first, and for a session or finding that
// left it (or was never in it, e.g. before a restart) the ClickHouse
// tables, loaded into a throw-away memstore so the pages look the same.
type historySource struct {
	*memstore.Store
	ch *clickhouse.Writer
}

// historyTimeout bounds one history lookup.
const historyTimeout = 10 * time.Second

// Session implements console.Source.
func (h historySource) Session(id string) (memstore.SessionDetail, error) {
	d, err := h.Store.Session(id)
	if !errors.Is(err, memstore.ErrNotFound) {
		return d, err
	}
	tmp, err := h.load(id)
	if err != nil {
		return memstore.SessionDetail{}, err
	}
	return tmp.Session(id)
}

// Finding implements console.Source.
func (h historySource) Finding(id string) (memstore.FindingDetail, error) {
	d, err := h.Store.Finding(id)
	if !errors.Is(err, memstore.ErrNotFound) {
		return d, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
	defer cancel()
	var session string
	q := fmt.Sprintf("SELECT session_id FROM %s.findings FINAL WHERE finding_id = ? LIMIT 1", h.ch.Database())
	if err := h.ch.Conn().QueryRow(ctx, q, id).Scan(&session); err != nil {
		return memstore.FindingDetail{}, fmt.Errorf("finding %s: %w", id, memstore.ErrNotFound)
	}
	tmp, err := h.load(session)
	if err != nil {
		return memstore.FindingDetail{}, err
	}
	return tmp.Finding(id)
}

// withMillis restores the milliseconds of a legacy DateTime column.
func withMillis(t time.Time, ms uint16) time.Time {
	return t.UTC().Truncate(time.Second).Add(time.Duration(ms) * time.Millisecond)
}

// load reads one session's events (at most the store's per-session cap),
// findings, commands and triage from ClickHouse into a fresh store.
func (h historySource) load(session string) (*memstore.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
	defer cancel()
	db := h.ch.Database()
	opts := memstore.DefaultOptions()
	opts.Inventory = h.Store.Inventory()
	b := &sink.Batch{}
	fail := func(what string, err error) (*memstore.Store, error) {
		return nil, fmt.Errorf("session %s: history from clickhouse: %s: %w", session, what, err)
	}

	rows, err := h.ch.Conn().Query(ctx, fmt.Sprintf(`SELECT event_id, time, time_ms, kind, root_agent_id, agent_id, step, role, tool_name,
    arguments, result, content, error, parent_agent_id, parent_session_id, child_agent_id, child_session_id, principal,
    autonomy_level, data_classes, resource, destination
FROM %s.events FINAL WHERE session_id = ? ORDER BY step, time, time_ms LIMIT %d`, db, opts.MaxEventsPerSession), session)
	if err != nil {
		return fail("events", err)
	}
	for rows.Next() {
		e := &models.Event{SessionID: session}
		var t time.Time
		var ms uint16
		var step int64
		var kind, args, autonomy string
		if err := rows.Scan(&e.ID, &t, &ms, &kind, &e.RootAgentID, &e.AgentID, &step, &e.Role, &e.ToolName, &args, &e.Result, &e.Content,
			&e.Error, &e.ParentAgentID, &e.ParentSessionID, &e.ChildAgentID, &e.ChildSessionID, &e.Principal, &autonomy, &e.DataClasses,
			&e.Resource, &e.Destination); err != nil {
			rows.Close()
			return fail("events", err)
		}
		e.Time, e.Kind, e.Step, e.Autonomy = withMillis(t, ms), models.Kind(kind), int(step), models.Autonomy(autonomy)
		if args != "" {
			e.Arguments = []byte(args)
		}
		b.Events = append(b.Events, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("events", err)
	}

	rows, err = h.ch.Conn().Query(ctx, fmt.Sprintf(`SELECT finding_id, time, time_ms, root_agent_id, agent_id, principal, detector, kind,
    severity, confidence, explanation, evidence_event_ids, feature_name, feature_observed, feature_baseline, feature_spread, step
FROM %s.findings FINAL WHERE session_id = ? ORDER BY step, time, time_ms`, db), session)
	if err != nil {
		return fail("findings", err)
	}
	for rows.Next() {
		f := models.Finding{SessionID: session}
		var t time.Time
		var ms uint16
		var step int64
		var names []string
		var obs, base, spread []float64
		if err := rows.Scan(&f.ID, &t, &ms, &f.RootAgentID, &f.AgentID, &f.Principal, &f.Detector, &f.Kind, &f.Severity, &f.Confidence,
			&f.Explanation, &f.EvidenceIDs, &names, &obs, &base, &spread, &step); err != nil {
			rows.Close()
			return fail("findings", err)
		}
		f.Time, f.Step = withMillis(t, ms), int(step)
		for i := range names {
			if i < len(obs) && i < len(base) && i < len(spread) {
				f.Features = append(f.Features, models.Feature{Name: names[i], Observed: obs[i], Baseline: base[i], Spread: spread[i]})
			}
		}
		b.Findings = append(b.Findings, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("findings", err)
	}

	rows, err = h.ch.Conn().Query(ctx, fmt.Sprintf(`SELECT command_id, issued_at, issued_at_ms, expires_at, agent_id, credential_id, action,
    target_autonomy, severity, reason, finding_ids
FROM %s.commands FINAL WHERE session_id = ? ORDER BY issued_at, issued_at_ms`, db), session)
	if err != nil {
		return fail("commands", err)
	}
	for rows.Next() {
		c := models.ContainmentCommand{SessionID: session}
		var t time.Time
		var ms uint16
		var action, target string
		if err := rows.Scan(&c.ID, &t, &ms, &c.ExpiresAt, &c.AgentID, &c.CredentialID, &action, &target, &c.Severity, &c.Reason, &c.FindingIDs); err != nil {
			rows.Close()
			return fail("commands", err)
		}
		c.IssuedAt, c.Action, c.TargetAutonomy = withMillis(t, ms), models.Action(action), models.Autonomy(target)
		b.Commands = append(b.Commands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("commands", err)
	}
	if b.Empty() {
		return nil, fmt.Errorf("session %s: %w (nor in clickhouse)", session, memstore.ErrNotFound)
	}
	tmp := memstore.New(opts)
	_ = tmp.Write(ctx, b)

	rows, err = h.ch.Conn().Query(ctx, fmt.Sprintf(`SELECT finding_id, status, comment, set_by, at_ms
FROM %s.triage WHERE finding_id IN (SELECT finding_id FROM %s.findings FINAL WHERE session_id = ?) ORDER BY at_ms`, db, db), session)
	if err != nil {
		return fail("triage", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r triage.Record
		var status string
		var at uint64
		if err := rows.Scan(&r.FindingID, &status, &r.Comment, &r.By, &at); err != nil {
			return fail("triage", err)
		}
		r.Status, r.At = triage.Status(status), time.UnixMilli(int64(at)).UTC()
		_ = tmp.SetTriage(ctx, r)
	}
	if err := rows.Err(); err != nil {
		return fail("triage", err)
	}
	return tmp, nil
}
