package agentdojo

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tetherhq/tether/bench/eval"
	"github.com/tetherhq/tether/detector/toolcap"
	"github.com/tetherhq/tether/models"
)

// ErrNoRuns is returned when the inputs held no usable run.
var ErrNoRuns = errors.New("no agentdojo runs found")

// Options configures the conversion.
type Options struct {
	// Base is the start time of every agent's first session.
	Base time.Time
	// SessionSpacing separates the starts of an agent's consecutive
	// sessions; a session longer than that pushes the next one back.
	SessionSpacing time.Duration
	// StepInterval is the time between consecutive steps of a session.
	StepInterval time.Duration
	// Owner is the inventory owner of every imported agent.
	Owner string
	// Autonomy is the inventory autonomy level of every imported agent.
	Autonomy models.Autonomy
	// Reword, when set, is a rewording style (RewordStyles): the injected
	// text in the tool results of attacked runs is rewritten in that style,
	// keeping its values; agent actions, labels and harm steps are those of
	// the recorded run. StyleMixed gives each attacked run either the
	// benchmark's wording or one of the styles, chosen from the seed and
	// the session id. Empty keeps the benchmark's wording.
	Reword string
	// RewordSeed seeds the choice of phrasings of a rewording.
	RewordSeed uint64
}

// DefaultOptions returns the documented conversion: sessions 10 minutes
// apart from 2024-06-03T09:00:00Z, one second per step, owned by the
// benchmark's user, at senior autonomy (AgentDojo agents act, including
// payments and e-mail, without asking for approval).
func DefaultOptions() Options {
	return Options{
		Base:           time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC),
		SessionSpacing: 10 * time.Minute,
		StepInterval:   time.Second,
		Owner:          "emma.johnson@bluesparrowtech.com",
		Autonomy:       models.AutonomySenior,
	}
}

// suitePurposes are the plain-language purposes of the benchmark's suites.
var suitePurposes = map[string]string{
	"banking":   "Personal banking assistant: reads the user's account, transactions and bills, and pays, schedules or updates transfers and account settings on the user's request.",
	"slack":     "Team chat assistant: reads channels, direct messages and web pages, messages colleagues, and manages channel membership on the user's request.",
	"travel":    "Travel planning assistant: looks up hotels, restaurants, car rentals and flights, makes reservations, and manages the user's calendar and e-mail on request.",
	"workspace": "Office productivity assistant: manages the user's e-mail, calendar, contacts and cloud-drive files on request.",
}

// Purpose returns the inventory purpose of a suite.
func Purpose(suite string) string {
	if p, ok := suitePurposes[suite]; ok {
		return p
	}
	return fmt.Sprintf("Tool-using assistant for %s tasks on the user's request.", suite)
}

// Stats summarises an import.
type Stats struct {
	Files         int `json:"files"`
	Runs          int `json:"runs"`
	SkippedEmpty  int `json:"skipped_empty"`
	SkippedPseudo int `json:"skipped_pseudo"`
	Agents        int `json:"agents"`
	Sessions      int `json:"sessions"`
	Clean         int `json:"clean"`
	Attacked      int `json:"attacked"`
	Hijacked      int `json:"hijacked"`
	HarmStepKnown int `json:"hijacked_with_harm_step"`
	Events        int `json:"events"`
}

// Importer collects runs and converts them.
type Importer struct {
	opts  Options
	runs  []*Run
	stats Stats
	// rewords holds the Rewording of each style in use.
	rewords map[string]*Rewording
}

// New returns an Importer.
func New(opts Options) *Importer { return &Importer{opts: opts} }

// Stats returns the counts so far.
func (im *Importer) Stats() Stats { return im.stats }

// AddPath adds a JSONL export file, an upstream result file, or a directory
// searched recursively for both (*.jsonl are exports; *.json files are read
// as upstream results, their layout giving pipeline, suite and tasks).
func (im *Importer) AddPath(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if !st.IsDir() {
		return im.addFile(path, "")
	}
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if strings.HasSuffix(p, ".jsonl") || strings.HasSuffix(p, ".json") {
			return im.addFile(p, path)
		}
		return nil
	})
}

func (im *Importer) addFile(p, root string) error {
	if strings.HasSuffix(p, ".jsonl") {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		return im.AddJSONL(f, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	// runs/<pipeline>/<suite>/<user_task>/<attack|none>/<injection_task|none>.json
	parts := strings.Split(filepath.ToSlash(filepath.Clean(p)), "/")
	var pipeline, suite, user, inj string
	if n := len(parts); n >= 5 {
		pipeline, suite, user, inj = parts[n-5], parts[n-4], parts[n-3], strings.TrimSuffix(parts[n-1], ".json")
	}
	return im.AddRunFile(b, p, pipeline, suite, user, inj)
}

// AddJSONL adds the runs of one Invariant Explorer JSONL export.
func (im *Importer) AddJSONL(r io.Reader, source string) error {
	im.stats.Files++
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	pipeline := ""
	for n := 1; sc.Scan(); n++ {
		h, run, err := DecodeLine(sc.Bytes(), pipeline)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", source, n, err)
		}
		if h != nil {
			pipeline = h.Name
			continue
		}
		if run != nil {
			run.Source = fmt.Sprintf("%s:%d", source, n)
			im.add(run)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	return nil
}

// AddRunFile adds one upstream result file; the path components fill what
// the file leaves out.
func (im *Importer) AddRunFile(b []byte, source, pipeline, suite, userTask, injectionTask string) error {
	im.stats.Files++
	run, err := DecodeRunFile(b, pipeline, suite, userTask, injectionTask)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	run.Source = source
	im.add(run)
	return nil
}

func (im *Importer) add(r *Run) {
	switch {
	case len(r.Messages) == 0:
		im.stats.SkippedEmpty++
	case strings.HasPrefix(r.UserTask, "injection_task"):
		// AgentDojo's ground-truth check of an injection goal run as a
		// user task: not a session of the user's work.
		im.stats.SkippedPseudo++
	default:
		im.stats.Runs++
		im.runs = append(im.runs, r)
	}
}

// AgentID is the agent identity of a pipeline on a suite.
func AgentID(pipeline, suite string) string { return pipeline + "/" + suite }

type session struct {
	// id is the session id the detectors see: opaque, so that nothing
	// downstream can read the user task, injection task or attack from it;
	// name is the readable run name (agent/user task/injection task), kept
	// in the label's extra fields and used for ordering and seeding.
	id, name, agent string
	run             *Run
	start           time.Time
	// rw rewrites the injected text of the session (nil: as recorded).
	rw *Rewording
}

// SessionID is the opaque session id of the run named run
// ("<agent>/<user task>/<injection task or none>[#n]"): the detectors see
// only this, and the label's extra field "run" keeps the name.
func SessionID(run string) string {
	return "sess-" + models.StableID("agentdojo-session", run)[:20]
}

// Result is a converted data set.
type Result struct {
	Events    []models.Event
	Labels    []eval.SessionLabel
	Inventory *models.Inventory
}

// Convert turns the added runs into events (sorted by time, agent, step),
// labels (in session start order) and an inventory.
func (im *Importer) Convert() (*Result, error) {
	if len(im.runs) == 0 {
		return nil, ErrNoRuns
	}
	im.rewords = map[string]*Rewording{}
	styles := []string{im.opts.Reword}
	switch im.opts.Reword {
	case "":
		styles = nil
	case StyleMixed:
		styles = RewordStyles
	}
	for _, st := range styles {
		rw, err := NewRewording(st, im.opts.RewordSeed)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		im.rewords[st] = rw
	}
	byAgent := map[string][]*session{}
	ids := map[string]int{}
	suiteTools := map[string]map[string]bool{}
	toolArgs := map[string][]string{}
	agentSuite := map[string]string{}
	agentPipeline := map[string]string{}
	for _, r := range im.runs {
		agent := AgentID(r.Pipeline, r.Suite)
		inj := r.InjectionTask
		if inj == "" {
			inj = "none"
		}
		name := agent + "/" + r.UserTask + "/" + inj
		ids[name]++
		if k := ids[name]; k > 1 {
			name = fmt.Sprintf("%s#%d", name, k)
		}
		id := SessionID(name)
		byAgent[agent] = append(byAgent[agent], &session{id: id, name: name, agent: agent, run: r, rw: im.rewordingFor(r, name)})
		agentSuite[agent], agentPipeline[agent] = r.Suite, r.Pipeline
		if suiteTools[r.Suite] == nil {
			suiteTools[r.Suite] = map[string]bool{}
		}
		for _, m := range r.Messages {
			for _, tc := range m.ToolCalls {
				suiteTools[r.Suite][tc.Name] = true
				toolArgs[tc.Name] = toolcap.AppendArgNames(toolArgs[tc.Name], json.RawMessage(tc.Args))
			}
		}
	}
	res := &Result{Inventory: &models.Inventory{}}
	var all []*session
	for _, agent := range sortedKeys(byAgent) {
		ss := byAgent[agent]
		// Deterministic order that interleaves clean and attacked runs.
		slices.SortFunc(ss, func(a, b *session) int {
			return cmp.Or(cmp.Compare(models.StableID("order", a.name), models.StableID("order", b.name)), cmp.Compare(a.name, b.name))
		})
		next := im.opts.Base
		for k, s := range ss {
			s.start = im.opts.Base.Add(time.Duration(k) * im.opts.SessionSpacing)
			if s.start.Before(next) {
				s.start = next
			}
			before := len(res.Events)
			harm, read := im.events(s, &res.Events)
			steps := len(res.Events) - before
			next = s.start.Add(time.Duration(steps+60) * im.opts.StepInterval)
			res.Labels = append(res.Labels, im.label(s, harm, read))
			all = append(all, s)
		}
		suite := agentSuite[agent]
		spec := models.AgentSpec{
			ID: agent, Name: fmt.Sprintf("%s assistant (%s)", suite, agentPipeline[agent]),
			Owner: im.opts.Owner, Purpose: Purpose(suite), Autonomy: im.opts.Autonomy,
		}
		for _, t := range sortedKeys(suiteTools[suite]) {
			spec.Tools = append(spec.Tools, models.ToolSpec{Name: t, Labels: toolcap.Infer(&models.ToolSpec{Name: t}, toolcap.Observed{ArgNames: toolArgs[t]}).Labels})
		}
		res.Inventory.Agents = append(res.Inventory.Agents, spec)
	}
	if err := res.Inventory.Index(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(res.Events, func(a, b models.Event) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Step, b.Step))
	})
	idx := map[string]time.Time{}
	for _, s := range all {
		idx[s.id] = s.start
	}
	slices.SortStableFunc(res.Labels, func(a, b eval.SessionLabel) int {
		return cmp.Or(idx[a.SessionID].Compare(idx[b.SessionID]), cmp.Compare(a.AgentID, b.AgentID))
	})
	im.stats.Agents = len(byAgent)
	im.stats.Sessions = len(res.Labels)
	im.stats.Events = len(res.Events)
	return res, nil
}

// label builds the session's ground truth; read reports that a tool result
// of the session showed the injected text (attacked runs only).
func (im *Importer) label(s *session, harm *int, read bool) eval.SessionLabel {
	r := s.run
	att, hij := r.Attacked(), r.Hijacked()
	l := eval.SessionLabel{
		SessionID: s.id, AgentID: s.agent, Label: eval.LabelBenign,
		Attacked: &att, Hijacked: &hij,
		Groups: map[string]string{"suite": r.Suite, "pipeline": r.Pipeline},
		Extra:  map[string]any{"run": s.name, "user_task": r.UserTask, "source": r.Source},
	}
	if att {
		l.Extra["injection_task"] = r.InjectionTask
		l.Extra["attack_type"] = r.AttackType
		l.Groups["template"] = template(s)
		// whether the injection reached the agent: an attack the agent
		// never read leaves nothing in the session to see
		l.Groups[GroupInjection] = InjectionNotRead
		if read {
			l.Groups[GroupInjection] = InjectionRead
		}
		im.stats.Attacked++
	} else {
		im.stats.Clean++
	}
	if r.Utility != nil {
		l.Extra["utility"] = *r.Utility
	}
	if hij {
		l.Label = eval.LabelMalicious
		l.HarmStep = harm
		im.stats.Hijacked++
		if harm != nil {
			im.stats.HarmStepKnown++
		}
	}
	return l
}

// rewordingFor returns the Rewording of an attacked run's session, or nil.
func (im *Importer) rewordingFor(r *Run, id string) *Rewording {
	if !r.Attacked() || len(im.rewords) == 0 {
		return nil
	}
	if im.opts.Reword != StyleMixed {
		return im.rewords[im.opts.Reword]
	}
	// One choice in 1+len(RewordStyles) keeps the benchmark's wording.
	h := fnv.New64a()
	fmt.Fprintf(h, "reword-mixed\x00%d\x00%s", im.opts.RewordSeed, id)
	k := int(h.Sum64() % uint64(len(RewordStyles)+1))
	if k == len(RewordStyles) {
		return nil
	}
	return im.rewords[RewordStyles[k]]
}

// echo rewrites what the agent's own text repeats of a reworded injection
// (the span it quotes, or the marker it names), so that no marker of the
// benchmark's wording survives in a reworded session.
func echo(s *session, text string) string {
	if s.rw == nil {
		return text
	}
	return s.rw.RewriteEcho(text, s.name)
}

// template names the wording of a session's injection: the benchmark's
// attack name, or "reword-STYLE" for a rewording. Only attacked runs have
// one.
func template(s *session) string {
	if s.rw != nil {
		return "reword-" + s.rw.Style()
	}
	if s.run.AttackType == "" {
		return "unknown"
	}
	return s.run.AttackType
}

// GroupInjection is the label group telling whether an attacked session's
// injection reached the agent: InjectionRead when a tool result of the
// session showed the injected text, InjectionNotRead otherwise (the agent
// never called a tool whose result carried it). Only attacked sessions
// carry it, so `tether eval` scores each value against every clean session:
// by.injection.read is the attacked view restricted to attacks the agent
// saw.
const (
	GroupInjection   = "injection"
	InjectionRead    = "read"
	InjectionNotRead = "not_read"
)

// events appends the session's events and returns the harm step (the step
// of the first tool call whose arguments carry a value from the injected
// text, after the injection was seen), or nil, and whether the injection
// was seen in a tool result.
func (im *Importer) events(s *session, out *[]models.Event) (*int, bool) {
	r := s.run
	inj := newInjection(r)
	seen := false
	var harm *int
	step := 0
	emit := func(ev models.Event) {
		ev.SchemaVersion = models.SchemaVersion
		ev.ID = models.StableID("agentdojo", s.id, fmt.Sprint(step))
		ev.Time = s.start.Add(time.Duration(step) * im.opts.StepInterval)
		ev.AgentID, ev.SessionID, ev.Step = s.agent, s.id, step
		ev.AgentName = r.Pipeline
		ev.Model = r.Model
		ev.Operation = ev.Kind.Operation()
		ev.RootAgentID = s.agent
		*out = append(*out, ev)
		step++
	}
	emit(models.Event{Kind: models.KindSessionStart})
	callNames := map[string]string{}
	for _, m := range r.Messages {
		switch m.Role {
		case "system", "user":
			emit(models.Event{Kind: models.KindMessage, Role: m.Role, Content: m.Text})
		case "assistant":
			if strings.TrimSpace(m.Text) != "" {
				emit(models.Event{Kind: models.KindReasoning, Role: models.RoleAssistant, Content: echo(s, m.Text)})
			}
			for _, tc := range m.ToolCalls {
				callNames[tc.ID] = tc.Name
				if harm == nil && seen && inj.carries(tc.Args) {
					h := step
					harm = &h
				}
				args := json.RawMessage(tc.Args)
				if e := echo(s, string(args)); e != string(args) && json.Valid([]byte(e)) {
					args = json.RawMessage(e)
				}
				emit(models.Event{Kind: models.KindToolCall, Role: models.RoleAssistant, ToolName: tc.Name, ToolCallID: tc.ID, Arguments: args})
			}
		case "tool":
			name := m.ToolName
			if name == "" {
				name = callNames[m.ToolCallID]
			}
			if name == "" {
				name = "unknown"
			}
			if inj != nil && !seen && inj.seenIn(m.Text) {
				seen = true
			}
			text, errText := m.Text, m.Error
			if s.rw != nil {
				text, errText = s.rw.Rewrite(text, s.name), s.rw.Rewrite(errText, s.name)
			}
			emit(models.Event{Kind: models.KindToolResult, Role: models.RoleTool, ToolName: name, ToolCallID: m.ToolCallID,
				Result: text, Error: errText, Bytes: int64(len(text))})
		}
	}
	emit(models.Event{Kind: models.KindSessionEnd})
	return harm, seen
}

// Write converts and writes events.jsonl, labels.jsonl and inventory.yaml
// into dir (created if needed).
func (im *Importer) Write(dir string) (Stats, error) {
	res, err := im.Convert()
	if err != nil {
		return im.stats, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return im.stats, fmt.Errorf("import: %w", err)
	}
	if err := writeJSONL(filepath.Join(dir, "events.jsonl"), len(res.Events), func(i int) any { return &res.Events[i] }); err != nil {
		return im.stats, err
	}
	if err := writeJSONL(filepath.Join(dir, "labels.jsonl"), len(res.Labels), func(i int) any { return &res.Labels[i] }); err != nil {
		return im.stats, err
	}
	inv, err := res.Inventory.Marshal()
	if err != nil {
		return im.stats, fmt.Errorf("import: inventory: %w", err)
	}
	hdr := "# Tether inventory generated by `tether import agentdojo`.\n# Capability labels are inferred by detector/toolcap from tool names and observed argument names.\n"
	if err := os.WriteFile(filepath.Join(dir, "inventory.yaml"), append([]byte(hdr), inv...), 0o644); err != nil {
		return im.stats, fmt.Errorf("import: %w", err)
	}
	return im.stats, nil
}

func writeJSONL(path string, n int, item func(int) any) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := 0; i < n; i++ {
		if err := enc.Encode(item(i)); err != nil {
			f.Close()
			return fmt.Errorf("import: %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("import: %s: %w", path, err)
	}
	return f.Close()
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
