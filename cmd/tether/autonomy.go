package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/clickhouse"
)

// Promotion gates Tether measures (Agentic Trust Framework: promotion
// only through human-approved gates). They are set once and documented in
// the README; a recommendation is never an action.
const (
	// gateMinOperations: tool calls observed in the window.
	gateMinOperations = 1000
	// gateMaxErrorRate: failed tool results over tool results.
	gateMaxErrorRate = 0.02
	// gateMinTimeAtLevel: time since the agent reached its level (its
	// first event at that level, or its last demotion).
	gateMinTimeAtLevel = 14 * 24 * time.Hour
)

// Recommendations.
const (
	recPromotionReview = "eligible for promotion review"
	recHold            = "hold"
	recDemote          = "demote"
)

// agentEvidence is one agent's line of `tether autonomy report`.
type agentEvidence struct {
	AgentID  string          `json:"agent_id"`
	Autonomy models.Autonomy `json:"autonomy"`
	// Operations are tool calls; Events all events observed.
	Events     uint64    `json:"events"`
	Operations uint64    `json:"operations"`
	Errors     uint64    `json:"errors"`
	ErrorRate  float64   `json:"error_rate"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	// AtLevelSince is when the agent reached its level: its last demotion,
	// else its first event in the window at that level.
	AtLevelSince time.Time `json:"at_level_since"`
	TimeAtLevel  string    `json:"time_at_level"`
	// Findings by models.Band: info (<30), low (<50), medium (<70), high
	// (<90), critical (>=90); CriticalIncidents = critical.
	Findings          [5]uint64 `json:"findings_by_severity"`
	CriticalIncidents uint64    `json:"critical_incidents"`
	// Containment counts commands by action.
	Containment map[models.Action]uint64 `json:"containment"`
	// Acked commands applied by a consumer; AckP50Ms and AckMaxMs their
	// time-to-contain.
	Acked    uint64  `json:"acked"`
	AckP50Ms float64 `json:"ack_p50_ms"`
	AckMaxMs float64 `json:"ack_max_ms"`
	// Recommendation and the reasons behind it.
	Recommendation string   `json:"recommendation"`
	Reasons        []string `json:"reasons"`
}

// recommend applies the documented triggers: demote on a critical
// incident or a suspension, revocation or halt in the window; a promotion
// review when every gate passes (no finding at or above the alert
// threshold, no containment, enough operations, few errors, enough time at
// the level, not already principal); hold otherwise.
func (a *agentEvidence) recommend(now time.Time) {
	a.Reasons = nil
	var demote []string
	if a.CriticalIncidents > 0 {
		demote = append(demote, fmt.Sprintf("%d critical incidents", a.CriticalIncidents))
	}
	for _, act := range []models.Action{models.ActionSuspendSession, models.ActionRevokeCredential, models.ActionHaltAgent, models.ActionHaltLineage} {
		if n := a.Containment[act]; n > 0 {
			demote = append(demote, fmt.Sprintf("%s×%d", act, n))
		}
	}
	if len(demote) > 0 {
		a.Recommendation, a.Reasons = recDemote, demote
		return
	}
	var hold []string
	if alerts := a.Findings[models.BandMedium] + a.Findings[models.BandHigh]; alerts > 0 {
		hold = append(hold, fmt.Sprintf("%d findings at or above severity %d", alerts, models.AlertThreshold))
	}
	var commands uint64
	for _, n := range a.Containment {
		commands += n
	}
	if commands > 0 {
		hold = append(hold, fmt.Sprintf("%d containment commands", commands))
	}
	if a.Operations < gateMinOperations {
		hold = append(hold, fmt.Sprintf("%d operations (gate %d)", a.Operations, gateMinOperations))
	}
	if a.ErrorRate > gateMaxErrorRate {
		hold = append(hold, fmt.Sprintf("error rate %.1f%% (gate %.0f%%)", 100*a.ErrorRate, 100*gateMaxErrorRate))
	}
	if d := now.Sub(a.AtLevelSince); a.AtLevelSince.IsZero() || d < gateMinTimeAtLevel {
		hold = append(hold, fmt.Sprintf("%s at level (gate %s)", a.TimeAtLevel, days(gateMinTimeAtLevel)))
	}
	if a.Autonomy == models.AutonomyPrincipal {
		hold = append(hold, "already principal")
	}
	if len(hold) > 0 {
		a.Recommendation, a.Reasons = recHold, hold
		return
	}
	a.Recommendation, a.Reasons = recPromotionReview, []string{"every measured gate passes; promotion needs a human decision"}
}

func days(d time.Duration) string {
	return strconv.FormatFloat(d.Hours()/24, 'f', 1, 64) + "d"
}

// runAutonomy is `tether autonomy report`.
func runAutonomy(args []string) error {
	if len(args) == 0 || args[0] != "report" {
		return errors.New("usage: tether autonomy report [--agent ID] [--since 30d] [--json] [--config FILE]")
	}
	fs := flag.NewFlagSet("autonomy report", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration file (ClickHouse address and database)")
	agent := fs.String("agent", "", "only this agent")
	sinceFlag := fs.String("since", "30d", "window: a Go duration or a number of days (30d)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	since, err := parseSince(*sinceFlag)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, os.Getenv)
	if err != nil {
		return err
	}
	o := clickhouse.DefaultOptions()
	o.Addr, o.Database, o.Username = cfg.ClickHouse.Addr, cfg.ClickHouse.Database, cfg.ClickHouse.Username
	if o.Password, err = cfg.clickHousePassword(); err != nil {
		return err
	}
	if o.TLS, err = cfg.ClickHouse.TLS.build("clickhouse.tls"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := clickhouse.Open(ctx, o, zerolog.Nop())
	if err != nil {
		return err
	}
	defer w.Close()
	now := time.Now().UTC()
	ev, err := autonomyReport(ctx, w.Conn(), o.Database, now.Add(-since), *agent, now)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ev)
	}
	printAutonomy(os.Stdout, ev, since)
	return nil
}

// parseSince accepts "30d" or a Go duration.
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%w: --since %q", errConfig, s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: --since %q", errConfig, s)
	}
	return d, nil
}

// autonomyReport reads the evidence of every agent with events since from
// the database (agent: only that one).
func autonomyReport(ctx context.Context, conn driver.Conn, db string, since time.Time, agent string, now time.Time) ([]agentEvidence, error) {
	filter, args := "", []any{since}
	if agent != "" {
		filter, args = " AND agent_id = ?", append(args, agent)
	}
	byID := map[string]*agentEvidence{}
	get := func(id string) *agentEvidence {
		if a := byID[id]; a != nil {
			return a
		}
		byID[id] = &agentEvidence{AgentID: id, Containment: map[models.Action]uint64{}}
		return byID[id]
	}
	scan := func(q string, row func(driver.Rows) error) error {
		rows, err := conn.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("autonomy report: %s: %w", strings.SplitN(q, " FROM ", 2)[0], err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := row(rows); err != nil {
				return fmt.Errorf("autonomy report: scan: %w", err)
			}
		}
		return rows.Err()
	}
	err := scan("SELECT agent_id, count(), countIf(kind = 'tool_call'), countIf(kind = 'tool_result'), countIf(kind = 'tool_result' AND error != ''), min(time), max(time), argMax(autonomy_level, time) FROM "+db+".events FINAL WHERE time >= ?"+filter+" GROUP BY agent_id",
		func(r driver.Rows) error {
			var id, level string
			var n, calls, results, errs uint64
			var first, last time.Time
			if err := r.Scan(&id, &n, &calls, &results, &errs, &first, &last, &level); err != nil {
				return err
			}
			a := get(id)
			a.Events, a.Operations, a.Errors, a.FirstSeen, a.LastSeen, a.Autonomy = n, calls, errs, first.UTC(), last.UTC(), models.Autonomy(level)
			if results > 0 {
				a.ErrorRate = float64(errs) / float64(results)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	// When the agent reached its current level: its first event at it.
	err = scan("SELECT agent_id, autonomy_level, min(time) FROM "+db+".events FINAL WHERE time >= ?"+filter+" GROUP BY agent_id, autonomy_level",
		func(r driver.Rows) error {
			var id, level string
			var first time.Time
			if err := r.Scan(&id, &level, &first); err != nil {
				return err
			}
			if a := byID[id]; a != nil && models.Autonomy(level) == a.Autonomy {
				a.AtLevelSince = first.UTC()
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = scan("SELECT agent_id, "+clickhouse.BandCounts("severity")+" FROM "+db+".findings FINAL WHERE time >= ?"+filter+" GROUP BY agent_id",
		func(r driver.Rows) error {
			var id string
			var b [5]uint64
			if err := r.Scan(&id, &b[0], &b[1], &b[2], &b[3], &b[4]); err != nil {
				return err
			}
			a := get(id)
			a.Findings, a.CriticalIncidents = b, b[models.BandCritical]
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = scan("SELECT agent_id, action, count(), max(issued_at), anyIf(target_autonomy, target_autonomy != '') FROM "+db+".commands FINAL WHERE issued_at >= ?"+filter+" GROUP BY agent_id, action",
		func(r driver.Rows) error {
			var id, action, target string
			var n uint64
			var last time.Time
			if err := r.Scan(&id, &action, &n, &last, &target); err != nil {
				return err
			}
			a := get(id)
			a.Containment[models.Action(action)] = n
			if target != "" && last.After(a.AtLevelSince) { // a demotion resets the time at level
				a.AtLevelSince = last.UTC()
				if lvl := models.Autonomy(target); lvl.Rank() > 0 && (a.Autonomy.Rank() == 0 || lvl.Rank() < a.Autonomy.Rank()) {
					a.Autonomy = lvl
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = scan("SELECT agent_id, count(), quantile(0.5)(time_to_contain_ms), max(time_to_contain_ms) FROM "+db+".command_acks FINAL WHERE acked_at >= ? AND status = 'applied'"+filter+" GROUP BY agent_id",
		func(r driver.Rows) error {
			var id string
			var n uint64
			var p50, mx float64
			if err := r.Scan(&id, &n, &p50, &mx); err != nil {
				return err
			}
			a := get(id)
			a.Acked, a.AckP50Ms, a.AckMaxMs = n, p50, mx
			return nil
		})
	if err != nil {
		return nil, err
	}
	out := make([]agentEvidence, 0, len(byID))
	for _, a := range byID {
		if !a.AtLevelSince.IsZero() {
			a.TimeAtLevel = days(now.Sub(a.AtLevelSince))
		} else {
			a.TimeAtLevel = "unknown"
		}
		a.recommend(now)
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b agentEvidence) int { return strings.Compare(a.AgentID, b.AgentID) })
	return out, nil
}

// printAutonomy writes the report as a table.
func printAutonomy(w io.Writer, ev []agentEvidence, since time.Duration) {
	fmt.Fprintf(w, "Autonomy evidence over the last %s (promotion is a recommendation for a human; demotion triggers: a critical incident, or a suspension, revocation or halt)\n\n", days(since))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tLEVEL\tAT LEVEL\tOPS\tERR%\tFINDINGS i/l/m/h/c\tCONTAINMENT\tACKED\tACK p50/max ms\tRECOMMENDATION\tWHY")
	for _, a := range ev {
		var cmds []string
		for _, act := range models.Actions {
			if n := a.Containment[act]; n > 0 {
				cmds = append(cmds, fmt.Sprintf("%s×%d", act, n))
			}
		}
		f := a.Findings
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%d/%d/%d/%d/%d\t%s\t%d\t%.0f/%.0f\t%s\t%s\n", a.AgentID, orNone(string(a.Autonomy)), a.TimeAtLevel,
			a.Operations, 100*a.ErrorRate, f[0], f[1], f[2], f[3], f[4], orNone(strings.Join(cmds, " ")), a.Acked, a.AckP50Ms, a.AckMaxMs,
			a.Recommendation, strings.Join(a.Reasons, "; "))
	}
	_ = tw.Flush()
}
