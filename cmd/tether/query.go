package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/parquet"
)

// errQuery is wrapped by `tether query` usage errors.
var errQuery = errors.New("query")

const queryUsage = `tether query [--dir DIR] [--json] QUESTION [ID]: the query cookbook's questions
(deploy/clickhouse/queries) on Parquet output, in Go, with no other tool installed

  top-agents            agents by risk: highest severity, alerts, findings               (cookbook 01)
  session ID            a session step by step: events and findings by step, commands     (02)
  finding ID            a finding, its evidence chain and the events behind it, commands  (03, 04)
  blast-radius ROOT     every agent of a root agent's lineage: tools, data, destinations  (05)
  autonomy              findings and alerts per autonomy level                            (06)
  detection-times       per alerted session: first harmful step, first alert, first
                        command, MTTD and MTTC in ms                                      (07)
  percentiles           MTTD and MTTC p50, p90, p99 in ms                                 (08)
  noisiest              findings per detector/kind (triage is in ClickHouse only)         (09)
  promotion-review      agents below principal, >= 5 sessions, no alert, no command       (10)
  agent-daily           per-agent daily events, tool calls, sessions, findings, alerts    (11)

The event questions need the events series (tether demo writes it; the
daemon's Parquet sink does not): without it, session and finding show
findings and commands only, and the detection times run from the first alert.
Times are event times, to the millisecond.
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
	events, err := parquet.ReadEvents(*dir)
	if err != nil {
		return err
	}
	if len(findings) == 0 && len(commands) == 0 && len(events) == 0 {
		return fmt.Errorf("%w: no Parquet output in %s (run tether demo first)", errQuery, *dir)
	}
	d := newQueryData(findings, commands, events)
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
	case "autonomy":
		tbl = d.byAutonomy()
	case "promotion-review":
		tbl = d.promotionReview()
	case "agent-daily":
		tbl = d.agentDaily()
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
	events   []*models.Event
	byID     map[string]*models.Event
}

func newQueryData(f []models.Finding, c []models.ContainmentCommand, e []*models.Event) *queryData {
	d := &queryData{findings: f, commands: c, events: e, byID: make(map[string]*models.Event, len(e))}
	for _, ev := range e {
		d.byID[ev.ID] = ev
	}
	return d
}

// eventDetail is an event's one-line description.
func eventDetail(e *models.Event) string {
	switch e.Kind {
	case models.KindToolCall:
		t := e.ToolName + " " + string(e.Arguments)
		if e.Destination != "" {
			t += " -> " + e.Destination
		}
		return clipText(t, 160)
	case models.KindToolResult:
		return clipText(e.ToolName+" result: "+e.Result, 160)
	case models.KindAgentSpawn:
		return "spawns " + e.ChildAgentID + " (" + e.ChildSessionID + ")"
	}
	return clipText(e.Role+" "+e.Content, 160)
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
	type row struct {
		step, ord int
		time      time.Time
		cells     []any
	}
	var rows []row
	for _, e := range d.events {
		if e.SessionID == id {
			rows = append(rows, row{e.Step, 0, e.Time, []any{e.Step, e.Time, "event", string(e.Kind), 0, e.ID, eventDetail(e)}})
		}
	}
	for _, f := range d.findings {
		if f.SessionID == id {
			rows = append(rows, row{f.Step, 1, f.Time, []any{f.Step, f.Time, "finding", f.Detector + "/" + f.Kind, f.Severity, f.ID, clipText(f.Explanation, 160)}})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.step, b.step), cmp.Compare(a.ord, b.ord), a.time.Compare(b.time))
	})
	for _, r := range rows {
		t.add(r.cells...)
	}
	for _, c := range d.commands {
		if c.SessionID == id {
			t.add("-", c.IssuedAt, "command", string(c.Action), c.Severity, c.ID, clipText(c.Reason, 160))
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
		if ev := d.byID[e]; ev != nil {
			t.add("evidence", j+1, e, ev.Time, fmt.Sprintf("%s: step %d %s %s", role, ev.Step, ev.Kind, eventDetail(ev)))
			continue
		}
		t.add("evidence", j+1, e, "", role+" event (not in the events series)")
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
		parent                string
		events, findings      int
		maxSev                uint8
		sessions              map[string]bool
		tools, classes, dests map[string]bool
	}
	by := map[string]*agg{}
	get := func(id string) *agg {
		if by[id] == nil {
			by[id] = &agg{sessions: map[string]bool{}, tools: map[string]bool{}, classes: map[string]bool{}, dests: map[string]bool{}}
		}
		return by[id]
	}
	for _, e := range d.events {
		if e.Root() != root {
			continue
		}
		a := get(e.AgentID)
		a.events++
		a.sessions[e.SessionID] = true
		a.parent = cmp.Or(a.parent, e.ParentAgentID)
		if e.ToolName != "" {
			a.tools[e.ToolName] = true
		}
		for _, c := range e.DataClasses {
			a.classes[c] = true
		}
		if e.Destination != "" {
			a.dests[e.Destination] = true
		}
	}
	for _, f := range d.findings {
		if f.RootAgentID != root {
			continue
		}
		a := get(f.AgentID)
		a.findings++
		a.sessions[f.SessionID] = true
		a.maxSev = max(a.maxSev, f.Severity)
	}
	join := func(m map[string]bool) string { return strings.Join(slices.Sorted(maps.Keys(m)), " ") }
	t := queryTable{header: []string{"agent_id", "parent_agent_id", "sessions", "events", "tools", "data_classes", "destinations", "findings", "max_severity"}}
	for _, id := range slices.Sorted(maps.Keys(by)) {
		a := by[id]
		t.add(id, a.parent, len(a.sessions), a.events, join(a.tools), join(a.classes), join(a.dests), a.findings, a.maxSev)
	}
	return t
}

// latestAutonomy is each agent's last observed autonomy level.
func (d *queryData) latestAutonomy() map[string]models.Autonomy {
	level, at := map[string]models.Autonomy{}, map[string]time.Time{}
	for _, e := range d.events {
		if e.Autonomy != "" && !e.Time.Before(at[e.AgentID]) {
			level[e.AgentID], at[e.AgentID] = e.Autonomy, e.Time
		}
	}
	return level
}

func (d *queryData) byAutonomy() queryTable {
	level := d.latestAutonomy()
	type agg struct {
		agents          map[string]bool
		findings, alert int
		sum             float64
	}
	by := map[string]*agg{}
	for _, f := range d.findings {
		l := string(level[f.AgentID])
		if by[l] == nil {
			by[l] = &agg{agents: map[string]bool{}}
		}
		a := by[l]
		a.agents[f.AgentID] = true
		a.findings++
		a.sum += float64(f.Severity)
		if f.Severity >= models.AlertThreshold {
			a.alert++
		}
	}
	keys := slices.Collect(maps.Keys(by))
	slices.SortFunc(keys, func(x, y string) int {
		return cmp.Or(cmp.Compare(by[y].alert, by[x].alert), cmp.Compare(by[y].findings, by[x].findings), cmp.Compare(x, y))
	})
	t := queryTable{header: []string{"autonomy_level", "agents", "findings", "alerts", "mean_severity"}}
	for _, k := range keys {
		a := by[k]
		t.add(cmp.Or(k, "(unknown)"), len(a.agents), a.findings, a.alert, fmt.Sprintf("%.1f", a.sum/float64(a.findings)))
	}
	return t
}

func (d *queryData) promotionReview() queryTable {
	level := d.latestAutonomy()
	sessions, events := map[string]map[string]bool{}, map[string]int{}
	for _, e := range d.events {
		if sessions[e.AgentID] == nil {
			sessions[e.AgentID] = map[string]bool{}
		}
		sessions[e.AgentID][e.SessionID] = true
		events[e.AgentID]++
	}
	alerts, findings, commands := map[string]int{}, map[string]int{}, map[string]int{}
	for _, f := range d.findings {
		findings[f.AgentID]++
		if f.Severity >= models.AlertThreshold {
			alerts[f.AgentID]++
		}
	}
	for _, c := range d.commands {
		commands[c.AgentID]++
	}
	ids := slices.Collect(maps.Keys(sessions))
	slices.SortFunc(ids, func(x, y string) int {
		return cmp.Or(cmp.Compare(len(sessions[y]), len(sessions[x])), cmp.Compare(x, y))
	})
	t := queryTable{header: []string{"agent_id", "autonomy_level", "sessions", "events", "findings"}}
	for _, id := range ids {
		l := level[id]
		if alerts[id] == 0 && commands[id] == 0 && len(sessions[id]) >= 5 && l.Rank() >= 1 && l.Rank() <= 3 {
			t.add(id, l, len(sessions[id]), events[id], findings[id])
		}
	}
	return t
}

func (d *queryData) agentDaily() queryTable {
	type key struct{ day, root, agent string }
	type agg struct{ events, tools, sessions, findings, alerts, critical int }
	by := map[key]*agg{}
	get := func(k key) *agg {
		if by[k] == nil {
			by[k] = &agg{}
		}
		return by[k]
	}
	for _, e := range d.events {
		a := get(key{e.Time.UTC().Format("2006-01-02"), e.Root(), e.AgentID})
		a.events++
		switch e.Kind {
		case models.KindToolCall:
			a.tools++
		case models.KindSessionStart:
			a.sessions++
		}
	}
	for _, f := range d.findings {
		a := get(key{f.Time.UTC().Format("2006-01-02"), f.RootAgentID, f.AgentID})
		a.findings++
		if f.Severity >= models.AlertThreshold {
			a.alerts++
		}
		if f.Severity >= models.SeverityCritical {
			a.critical++
		}
	}
	keys := slices.Collect(maps.Keys(by))
	slices.SortFunc(keys, func(x, y key) int {
		return cmp.Or(cmp.Compare(y.day, x.day), cmp.Compare(by[y].alerts, by[x].alerts), cmp.Compare(by[y].events, by[x].events), cmp.Compare(x.agent, y.agent))
	})
	t := queryTable{header: []string{"day", "root_agent_id", "agent_id", "events", "tool_calls", "sessions", "findings", "alerts", "critical"}}
	for _, k := range keys {
		a := by[k]
		t.add(k.day, k.root, k.agent, a.events, a.tools, a.sessions, a.findings, a.alerts, a.critical)
	}
	return t
}

// sessionTimes is one alerted session's detection times.
type sessionTimes struct {
	session, agent                         string
	firstStep                              int
	firstHarmful, firstAlert, firstCommand time.Time
}

// mttd and mttc run from the first harmful event to the first alert and
// the first command (-1 ms when there is none).
func (s sessionTimes) mttd() int64 { return s.firstAlert.Sub(s.firstHarmful).Milliseconds() }
func (s sessionTimes) mttc() int64 {
	if s.firstCommand.IsZero() {
		return -1
	}
	return s.firstCommand.Sub(s.firstHarmful).Milliseconds()
}

// alerted returns the detection times of every session with a finding at
// or above the alert threshold. The first harmful step is the earliest
// event in the evidence of those findings (their first alert when the
// events series is absent), as in the session_detection view.
func (d *queryData) alerted() []sessionTimes {
	by := map[string]*sessionTimes{}
	for _, f := range d.findings {
		if f.Severity < models.AlertThreshold || f.SessionID == "" {
			continue
		}
		s := by[f.SessionID]
		if s == nil {
			s = &sessionTimes{session: f.SessionID, agent: f.AgentID, firstStep: f.Step, firstHarmful: f.Time, firstAlert: f.Time}
			by[f.SessionID] = s
		}
		s.firstAlert = minTime(s.firstAlert, f.Time)
		if f.Time.Before(s.firstHarmful) {
			s.firstHarmful, s.firstStep = f.Time, f.Step
		}
		for _, id := range f.EvidenceIDs {
			if e := d.byID[id]; e != nil && e.Time.Before(s.firstHarmful) {
				s.firstHarmful, s.firstStep = e.Time, e.Step
			}
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

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (d *queryData) detectionTimes() queryTable {
	t := queryTable{header: []string{"session_id", "agent_id", "first_harmful_step", "first_harmful", "first_alert", "first_command", "mttd_ms", "mttc_ms"}}
	for _, s := range d.alerted() {
		cmd := "-"
		if !s.firstCommand.IsZero() {
			cmd = s.firstCommand.UTC().Format("2006-01-02 15:04:05.000")
		}
		t.add(s.session, s.agent, s.firstStep, s.firstHarmful, s.firstAlert, cmd, s.mttd(), s.mttc())
	}
	return t
}

func (d *queryData) percentiles() queryTable {
	var mttd, mttc []float64
	all := d.alerted()
	for _, s := range all {
		mttd = append(mttd, float64(s.mttd()))
		if v := s.mttc(); v >= 0 {
			mttc = append(mttc, float64(v))
		}
	}
	slices.Sort(mttd)
	slices.Sort(mttc)
	t := queryTable{header: []string{"alerted_sessions", "contained_sessions", "mttd_ms_p50", "mttd_ms_p90", "mttd_ms_p99", "mttc_ms_p50", "mttc_ms_p90", "mttc_ms_p99"}}
	q := func(xs []float64, p float64) string {
		if v := quantile(xs, p); !math.IsNaN(v) {
			return strconv.FormatInt(int64(v), 10)
		}
		return "-"
	}
	t.add(len(all), len(mttc), q(mttd, 0.5), q(mttd, 0.9), q(mttd, 0.99), q(mttc, 0.5), q(mttc, 0.9), q(mttc, 0.99))
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
