package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/parquet"
)

// errQuery is wrapped by `tether query` usage errors.
var errQuery = errors.New("query")

const queryUsage = `tether query [--dir DIR] QUESTION [ID]: the cookbook's questions on Parquet output (no other tool needed)

  top-agents            agents by risk: highest severity, alerts, findings        (cookbook 01)
  session ID            a session's findings by step, and its commands             (cookbook 02, findings only)
  finding ID            a finding, its evidence chain, the commands it caused      (cookbook 03, 04)
  blast-radius ROOT     every agent of a root agent's lineage with its findings    (cookbook 05)
  detection-times       per alerted session: first alert, first command, delay     (cookbook 07)
  percentiles           time from first alert to first command: p50, p90, p99      (cookbook 08)
  noisiest              findings per detector/kind                                 (cookbook 09)

Parquet output holds findings and commands, not events: questions about
events (event timelines, autonomy levels, promotion review) need ClickHouse
(deploy/clickhouse/queries). Times are to the millisecond.
`

// runQuery is `tether query`.
func runQuery(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	dir := fs.String("dir", filepath.Join("out", "demo"), "directory of the Parquet series (findings-*.parquet, commands-*.parquet)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	fs.Usage = func() { fmt.Fprint(fs.Output(), queryUsage, "\nFlags:\n"); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: name a question", errQuery)
	}
	q, rest := fs.Arg(0), fs.Args()[1:]
	needID := map[string]bool{"session": true, "finding": true, "blast-radius": true}
	if needID[q] != (len(rest) == 1) || len(rest) > 1 {
		return fmt.Errorf("%w: %s takes %s", errQuery, q, map[bool]string{true: "one id", false: "no argument"}[needID[q]])
	}
	findings, err := parquet.ReadFindings(*dir)
	if err != nil {
		return err
	}
	commands, err := parquet.ReadCommands(*dir)
	if err != nil {
		return err
	}
	if len(findings) == 0 && len(commands) == 0 {
		return fmt.Errorf("%w: no findings or commands in %s (run tether demo first)", errQuery, *dir)
	}
	d := queryData{findings: findings, commands: commands}
	var tbl queryTable
	switch q {
	case "top-agents":
		tbl = d.topAgents()
	case "session":
		tbl = d.session(rest[0])
	case "finding":
		tbl, err = d.finding(rest[0])
	case "blast-radius":
		tbl = d.blastRadius(rest[0])
	case "detection-times":
		tbl = d.detectionTimes()
	case "percentiles":
		tbl = d.percentiles()
	case "noisiest":
		tbl = d.noisiest()
	default:
		fs.Usage()
		return fmt.Errorf("%w: unknown question %q", errQuery, q)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return tbl.writeJSON(stdout)
	}
	tbl.write(stdout)
	return nil
}

// queryTable is a question's answer: a header and rows of text cells.
type queryTable struct {
	header []string
	rows   [][]string
}

func (t *queryTable) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case time.Time:
			row[i] = v.UTC().Format("2006-01-02 15:04:05.000")
		case time.Duration:
			row[i] = fmt.Sprintf("%.3f", v.Seconds())
		case float64:
			row[i] = fmt.Sprintf("%.3f", v)
		default:
			row[i] = fmt.Sprint(v)
		}
	}
	t.rows = append(t.rows, row)
}

func (t *queryTable) write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "(%d rows)\n", len(t.rows))
}

func (t *queryTable) writeJSON(w io.Writer) error {
	out := make([]map[string]string, 0, len(t.rows))
	for _, r := range t.rows {
		m := map[string]string{}
		for i, h := range t.header {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

type queryData struct {
	findings []models.Finding
	commands []models.ContainmentCommand
}

func (d *queryData) topAgents() queryTable {
	type agg struct {
		root, agent     string
		risk            uint8
		alerts, n, cmds int
		last            time.Time
	}
	by := map[string]*agg{}
	for _, f := range d.findings {
		a := by[f.AgentID]
		if a == nil {
			a = &agg{root: f.RootAgentID, agent: f.AgentID}
			by[f.AgentID] = a
		}
		a.risk, a.n = max(a.risk, f.Severity), a.n+1
		if f.Severity >= models.AlertThreshold {
			a.alerts++
		}
		if f.Time.After(a.last) {
			a.last = f.Time
		}
	}
	for _, c := range d.commands {
		if a := by[c.AgentID]; a != nil {
			a.cmds++
		}
	}
	list := make([]*agg, 0, len(by))
	for _, a := range by {
		list = append(list, a)
	}
	slices.SortFunc(list, func(x, y *agg) int {
		return cmp.Or(cmp.Compare(y.risk, x.risk), cmp.Compare(y.alerts, x.alerts), cmp.Compare(y.n, x.n), cmp.Compare(x.agent, y.agent))
	})
	t := queryTable{header: []string{"root_agent_id", "agent_id", "risk", "alerts", "findings", "commands", "last_finding"}}
	for _, a := range list {
		t.add(a.root, a.agent, a.risk, a.alerts, a.n, a.cmds, a.last)
	}
	return t
}

func (d *queryData) session(id string) queryTable {
	t := queryTable{header: []string{"step", "time", "source", "what", "severity", "id", "detail"}}
	var fs []models.Finding
	for _, f := range d.findings {
		if f.SessionID == id {
			fs = append(fs, f)
		}
	}
	slices.SortStableFunc(fs, func(a, b models.Finding) int { return cmp.Or(cmp.Compare(a.Step, b.Step), a.Time.Compare(b.Time)) })
	for _, f := range fs {
		t.add(f.Step, f.Time, "finding", f.Detector+"/"+f.Kind, f.Severity, f.ID, clipText(f.Explanation, 120))
	}
	for _, c := range d.commands {
		if c.SessionID == id {
			t.add("-", c.IssuedAt, "command", string(c.Action), c.Severity, c.ID, clipText(c.Reason, 120))
		}
	}
	return t
}

func (d *queryData) finding(id string) (queryTable, error) {
	i := slices.IndexFunc(d.findings, func(f models.Finding) bool { return f.ID == id })
	if i < 0 {
		return queryTable{}, fmt.Errorf("%w: finding %s is not in the Parquet output", errQuery, id)
	}
	f := d.findings[i]
	t := queryTable{header: []string{"part", "position", "id", "time", "detail"}}
	t.add("finding", 0, f.ID, f.Time, fmt.Sprintf("%s/%s severity %d step %d agent %s session %s: %s", f.Detector, f.Kind, f.Severity, f.Step, f.AgentID, f.SessionID, f.Explanation))
	for j, e := range f.EvidenceIDs {
		role := "source"
		if j == len(f.EvidenceIDs)-1 {
			role = "trigger"
		}
		t.add("evidence", j+1, e, "", role+" event (event details are in ClickHouse's events table)")
	}
	for _, c := range d.commands {
		if slices.Contains(c.FindingIDs, id) {
			t.add("command", "", c.ID, c.IssuedAt, fmt.Sprintf("%s %s, %.3f s after the finding's event: %s", c.Action, c.TargetAutonomy, c.IssuedAt.Sub(f.Time).Seconds(), clipText(c.Reason, 100)))
		}
	}
	return t, nil
}

func (d *queryData) blastRadius(root string) queryTable {
	type agg struct {
		n        int
		sessions map[string]bool
		maxSev   uint8
		kinds    map[string]bool
	}
	by := map[string]*agg{}
	for _, f := range d.findings {
		if f.RootAgentID != root {
			continue
		}
		a := by[f.AgentID]
		if a == nil {
			a = &agg{sessions: map[string]bool{}, kinds: map[string]bool{}}
			by[f.AgentID] = a
		}
		a.n++
		a.sessions[f.SessionID] = true
		a.maxSev = max(a.maxSev, f.Severity)
		a.kinds[f.Detector+"/"+f.Kind] = true
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range by {
			if !yield(id) {
				return
			}
		}
	})
	t := queryTable{header: []string{"agent_id", "findings", "sessions", "max_severity", "kinds"}}
	for _, id := range ids {
		a := by[id]
		kinds := make([]string, 0, len(a.kinds))
		for k := range a.kinds {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		t.add(id, a.n, len(a.sessions), a.maxSev, strings.Join(kinds, " "))
	}
	return t
}

// sessionTimes is one alerted session's detection times.
type sessionTimes struct {
	session, agent           string
	firstStep                int
	firstAlert, firstCommand time.Time
}

func (d *queryData) alerted() []sessionTimes {
	by := map[string]*sessionTimes{}
	for _, f := range d.findings {
		if f.Severity < models.AlertThreshold || f.SessionID == "" {
			continue
		}
		s := by[f.SessionID]
		if s == nil {
			s = &sessionTimes{session: f.SessionID, agent: f.AgentID, firstStep: f.Step, firstAlert: f.Time}
			by[f.SessionID] = s
		}
		if f.Time.Before(s.firstAlert) {
			s.firstAlert, s.firstStep = f.Time, f.Step
		}
	}
	for _, c := range d.commands {
		if s := by[c.SessionID]; s != nil && (s.firstCommand.IsZero() || c.IssuedAt.Before(s.firstCommand)) {
			s.firstCommand = c.IssuedAt
		}
	}
	out := make([]sessionTimes, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b sessionTimes) int {
		return cmp.Or(a.firstAlert.Compare(b.firstAlert), cmp.Compare(a.session, b.session))
	})
	return out
}

func (d *queryData) detectionTimes() queryTable {
	t := queryTable{header: []string{"session_id", "agent_id", "first_alert_step", "first_alert", "first_command", "alert_to_command_s"}}
	for _, s := range d.alerted() {
		if s.firstCommand.IsZero() {
			t.add(s.session, s.agent, s.firstStep, s.firstAlert, "-", "-")
			continue
		}
		t.add(s.session, s.agent, s.firstStep, s.firstAlert, s.firstCommand, s.firstCommand.Sub(s.firstAlert))
	}
	return t
}

func (d *queryData) percentiles() queryTable {
	var delays []float64
	all := d.alerted()
	for _, s := range all {
		if !s.firstCommand.IsZero() {
			delays = append(delays, s.firstCommand.Sub(s.firstAlert).Seconds())
		}
	}
	slices.Sort(delays)
	t := queryTable{header: []string{"alerted_sessions", "contained_sessions", "alert_to_command_p50_s", "p90_s", "p99_s"}}
	t.add(len(all), len(delays), quantile(delays, 0.5), quantile(delays, 0.9), quantile(delays, 0.99))
	return t
}

// quantile is the nearest-rank quantile of sorted xs (NaN when empty).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(i, 0)]
}

func (d *queryData) noisiest() queryTable {
	type agg struct {
		n, alerts int
		agents    map[string]bool
	}
	by := map[string]*agg{}
	for _, f := range d.findings {
		k := f.Detector + "\t" + f.Kind
		a := by[k]
		if a == nil {
			a = &agg{agents: map[string]bool{}}
			by[k] = a
		}
		a.n++
		a.agents[f.AgentID] = true
		if f.Severity >= models.AlertThreshold {
			a.alerts++
		}
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y string) int { return cmp.Or(cmp.Compare(by[y].n, by[x].n), cmp.Compare(x, y)) })
	t := queryTable{header: []string{"detector", "kind", "findings", "alerts", "agents"}}
	for _, k := range keys {
		det, kind, _ := strings.Cut(k, "\t")
		t.add(det, kind, by[k].n, by[k].alerts, len(by[k].agents))
	}
	return t
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
