// Package scenario runs scenario files, in the spirit of Prometheus' promqltest: each YAML file in
// a directory declares an inventory, a compact event script and the
// findings and containment commands expected from an engine (detector.DefaultOptions, or the
// ruleset the daemon would load: `tether rules test`).
//
// Event script entries (all optional except kind and agent):
//
//	kind / kinds       event kind, or kinds cycled over a repeat
//	agent, session     gen_ai.agent.id, gen_ai.conversation.id (session defaults to "s1")
//	tool / tools       gen_ai.tool.name, or tools cycled over a repeat's tool calls
//	                   (a tool_result repeats the latest call's tool)
//	at                 offset from the scenario start (e.g. 30m)
//	after              offset from the previous event (default 1s)
//	repeat, every      generate repeat events spaced by every (default 1s);
//	                   "{i}" in agent or session is replaced by the repeat index
//	                   (a flood of distinct agents or sessions)
//	jitter             add a deterministic pseudo-random 0..jitter to each spacing
//	args               tool-call arguments (any YAML, encoded as JSON)
//	principal, credential, autonomy, destination, resource, data_classes, bytes, content
//	result             tool_result text (gen_ai.tool.call.result)
//	role               tether.role of a message or step (user, system, assistant, tool)
//	child_agent, child_session     the sub-agent an agent_spawn creates
//	parent_agent, parent_session   the spawning agent and session of a sub-agent's event
//	root_agent         top of the delegation lineage (defaults to agent)
//	credential_expires     tether.credential.expires_at, as an offset from the scenario start
//	principal_session_end  tether.principal.session_end, as an offset from the scenario start
//
// A scenario may set identity severities (identity: {expired, expired_risky,
// principal_ended, principal_ended_risky}) to exercise other calibrations,
// e.g. to make two deviations each sub-threshold.
//
// Expectations filter findings (detector, kind, agent, session, min_severity,
// max_severity; empty fields match anything) and commands (action, agent,
// session); count asserts an exact number of matches, none: true asserts
// zero, and otherwise at least one match is required. Posture findings
// (detector capability) describe the inventory rather than the events, so
// they match only expectations that name their detector: scenarios about
// run-time behaviour ("no finding in this session") keep their meaning.

package scenario

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/capability"
	"github.com/tetherhq/tether/detector/identity"
	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/detector/semantic"
	"github.com/tetherhq/tether/models"
)

// Scenario is one scenario file.
type Scenario struct {
	Description string            `yaml:"description"`
	Inventory   *models.Inventory `yaml:"inventory"`
	Identity    *IdentitySeverity `yaml:"identity"`
	Events      []EventSpec       `yaml:"events"`
	Expect      []Expectation     `yaml:"expect"`
	Commands    []Expectation     `yaml:"commands"`
	// RulesFiles are operator ruleset files (paths relative to the
	// scenario file) applied on top of the options' ruleset.
	RulesFiles []string `yaml:"rules_files"`

	dir string
}

// IdentitySeverity overrides the identity detector's severities (0 keeps
// the default).
type IdentitySeverity struct {
	Expired             uint8 `yaml:"expired"`
	ExpiredRisky        uint8 `yaml:"expired_risky"`
	PrincipalEnded      uint8 `yaml:"principal_ended"`
	PrincipalEndedRisky uint8 `yaml:"principal_ended_risky"`
}

// EventSpec is one entry of the event script (package doc).
type EventSpec struct {
	Kind        models.Kind     `yaml:"kind"`
	Kinds       []models.Kind   `yaml:"kinds"`
	Agent       string          `yaml:"agent"`
	Session     string          `yaml:"session"`
	Tool        string          `yaml:"tool"`
	Tools       []string        `yaml:"tools"`
	At          *time.Duration  `yaml:"at"`
	After       *time.Duration  `yaml:"after"`
	Repeat      int             `yaml:"repeat"`
	Every       time.Duration   `yaml:"every"`
	Jitter      time.Duration   `yaml:"jitter"`
	Args        any             `yaml:"args"`
	Principal   string          `yaml:"principal"`
	Credential  string          `yaml:"credential"`
	Autonomy    models.Autonomy `yaml:"autonomy"`
	Destination string          `yaml:"destination"`
	Resource    string          `yaml:"resource"`
	DataClasses []string        `yaml:"data_classes"`
	Bytes       int64           `yaml:"bytes"`
	Content     string          `yaml:"content"`
	Result      string          `yaml:"result"`
	Role        string          `yaml:"role"`
	ChildAgent  string          `yaml:"child_agent"`
	ChildSess   string          `yaml:"child_session"`
	ParentAgent string          `yaml:"parent_agent"`
	ParentSess  string          `yaml:"parent_session"`
	RootAgent   string          `yaml:"root_agent"`
	Model       string          `yaml:"model"`
	Version     string          `yaml:"agent_version"`
	// CredentialExpires and PrincipalSessionEnd are offsets from Start.
	CredentialExpires   *time.Duration `yaml:"credential_expires"`
	PrincipalSessionEnd *time.Duration `yaml:"principal_session_end"`
}

// Expectation filters findings or commands (package doc).
type Expectation struct {
	Detector    string        `yaml:"detector"`
	Kind        string        `yaml:"kind"`
	Action      models.Action `yaml:"action"`
	Agent       string        `yaml:"agent"`
	Session     string        `yaml:"session"`
	MinSeverity *uint8        `yaml:"min_severity"`
	MaxSeverity *uint8        `yaml:"max_severity"`
	// RuleID and Exception match the finding's rule id and the id of the
	// exception that suppressed it ("-" matches an unsuppressed finding).
	RuleID    string `yaml:"rule_id"`
	Exception string `yaml:"exception"`
	Count     *int   `yaml:"count"`
	None      bool   `yaml:"none"`
}

// Start is the event time of offset 0.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if sc.Inventory != nil {
		if err := sc.Inventory.Index(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	sc.dir = filepath.Dir(path)
	if len(sc.Expect)+len(sc.Commands) == 0 {
		return nil, fmt.Errorf("%s: no expectations", path)
	}
	return &sc, nil
}

// Expand turns the event script into validated events.
func (sc *Scenario) Expand() ([]*models.Event, error) {
	var out []*models.Event
	dec := models.NewDecoder(models.DefaultDecodeOptions())
	cur := Start
	steps := map[string]int{}
	rnd := uint64(0x9e3779b97f4a7c15)
	jitter := func(max time.Duration) time.Duration {
		if max <= 0 {
			return 0
		}
		rnd ^= rnd << 13
		rnd ^= rnd >> 7
		rnd ^= rnd << 17
		return time.Duration(rnd % uint64(max))
	}
	for i, s := range sc.Events {
		n := max(s.Repeat, 1)
		every := s.Every
		if every == 0 {
			every = time.Second
		}
		switch {
		case s.At != nil:
			cur = Start.Add(*s.At)
		case s.After != nil:
			cur = cur.Add(*s.After)
		case len(out) > 0:
			cur = cur.Add(time.Second)
		}
		var args json.RawMessage
		if s.Args != nil {
			b, err := json.Marshal(s.Args)
			if err != nil {
				return nil, fmt.Errorf("event #%d args: %w", i+1, err)
			}
			args = b
		}
		calls := 0
		for j := 0; j < n; j++ {
			if j > 0 {
				cur = cur.Add(every + jitter(s.Jitter))
			}
			ev := &models.Event{
				SchemaVersion:   models.SchemaVersion,
				ID:              fmt.Sprintf("ev-%05d", len(out)+1),
				Kind:            s.Kind,
				Time:            cur,
				AgentID:         strings.ReplaceAll(s.Agent, "{i}", strconv.Itoa(j)),
				SessionID:       strings.ReplaceAll(s.Session, "{i}", strconv.Itoa(j)),
				ToolName:        s.Tool,
				Arguments:       args,
				Principal:       s.Principal,
				CredentialID:    s.Credential,
				Autonomy:        s.Autonomy,
				Destination:     s.Destination,
				Resource:        s.Resource,
				DataClasses:     s.DataClasses,
				Bytes:           s.Bytes,
				Content:         s.Content,
				Result:          s.Result,
				Role:            s.Role,
				ChildAgentID:    s.ChildAgent,
				ChildSessionID:  s.ChildSess,
				ParentAgentID:   s.ParentAgent,
				ParentSessionID: s.ParentSess,
				RootAgentID:     s.RootAgent,
				Model:           s.Model,
				AgentVersion:    s.Version,
			}
			if s.CredentialExpires != nil {
				t := Start.Add(*s.CredentialExpires)
				ev.CredentialExpiry = &t
			}
			if s.PrincipalSessionEnd != nil {
				t := Start.Add(*s.PrincipalSessionEnd)
				ev.PrincipalSessionEnd = &t
			}
			if len(s.Kinds) > 0 {
				ev.Kind = s.Kinds[j%len(s.Kinds)]
			}
			switch {
			case ev.Kind != models.KindToolCall && ev.Kind != models.KindToolResult:
				ev.ToolName = ""
			case len(s.Tools) == 0:
			case ev.Kind == models.KindToolCall:
				ev.ToolName = s.Tools[calls%len(s.Tools)]
				calls++
			default: // a tool_result answers the latest call
				ev.ToolName = s.Tools[max(calls-1, 0)%len(s.Tools)]
			}
			if ev.SessionID == "" {
				ev.SessionID = "s1"
			}
			ev.Step = steps[ev.SessionID]
			steps[ev.SessionID]++
			if err := dec.Validate(ev, time.Time{}); err != nil {
				return nil, fmt.Errorf("event #%d (repeat %d): %w", i+1, j, err)
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

// PostureDetectors match only expectations that name them. The semantic
// detector's lexical judgements are informational (excluded from session
// compounding), so like posture they do not count against "no finding"
// expectations about other behaviour.
var PostureDetectors = []string{capability.Name, semantic.Name}

// MatchFinding reports whether f meets the expectation's filters.
func (x Expectation) MatchFinding(f *models.Finding) bool {
	if x.Detector == "" && slices.Contains(PostureDetectors, f.Detector) {
		return false
	}
	return (x.Detector == "" || x.Detector == f.Detector) &&
		(x.Kind == "" || x.Kind == f.Kind) &&
		(x.Agent == "" || x.Agent == f.AgentID) &&
		(x.Session == "" || x.Session == f.SessionID) &&
		(x.MinSeverity == nil || f.Severity >= *x.MinSeverity) &&
		(x.MaxSeverity == nil || f.Severity <= *x.MaxSeverity) &&
		(x.RuleID == "" || x.RuleID == f.RuleID) &&
		(x.Exception == "" || x.Exception == f.Exception || (x.Exception == "-" && f.Exception == ""))
}

// MatchCommand reports whether c meets the expectation's filters.
func (x Expectation) MatchCommand(c *models.ContainmentCommand) bool {
	return (x.Action == "" || x.Action == c.Action) &&
		(x.Agent == "" || x.Agent == c.AgentID) &&
		(x.Session == "" || x.Session == c.SessionID) &&
		(x.MinSeverity == nil || c.Severity >= *x.MinSeverity) &&
		(x.MaxSeverity == nil || c.Severity <= *x.MaxSeverity)
}

// Judge returns why matches violates the expectation, or "".
func (x Expectation) Judge(matches int) string {
	switch {
	case x.None && matches != 0:
		return fmt.Sprintf("want none, got %d", matches)
	case x.Count != nil && matches != *x.Count:
		return fmt.Sprintf("want exactly %d, got %d", *x.Count, matches)
	case !x.None && x.Count == nil && matches == 0:
		return "want at least one, got none"
	}
	return ""
}

// Check returns one message per unmet expectation.
func (sc *Scenario) Check(out *detector.Output) []string {
	var errs []string
	for _, x := range sc.Expect {
		n := 0
		for i := range out.Findings {
			if x.MatchFinding(&out.Findings[i]) {
				n++
			}
		}
		if msg := x.Judge(n); msg != "" {
			errs = append(errs, fmt.Sprintf("finding %+v: %s", x.Describe(), msg))
		}
	}
	for _, x := range sc.Commands {
		n := 0
		for i := range out.Commands {
			if x.MatchCommand(&out.Commands[i]) {
				n++
			}
		}
		if msg := x.Judge(n); msg != "" {
			errs = append(errs, fmt.Sprintf("command %+v: %s", x.Describe(), msg))
		}
	}
	return errs
}

// Describe renders the expectation's filters.
func (x Expectation) Describe() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("detector", x.Detector)
	add("kind", x.Kind)
	add("action", string(x.Action))
	add("agent", x.Agent)
	add("session", x.Session)
	if x.MinSeverity != nil {
		add("min_severity", fmt.Sprint(*x.MinSeverity))
	}
	if x.MaxSeverity != nil {
		add("max_severity", fmt.Sprint(*x.MaxSeverity))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Run replays the scenario through an engine built from opts (the
// scenario's inventory and identity severities replace opts' own) and
// returns what it produced. With rules_files it stores the resulting
// ruleset in opts.Rules: pass fresh options (detector.DefaultOptions,
// detector.Config.Options) to every run.
func (sc *Scenario) Run(opts detector.Options) (*detector.Output, error) {
	evs, err := sc.Expand()
	if err != nil {
		return nil, err
	}
	opts.Inventory = sc.Inventory
	if len(sc.RulesFiles) > 0 {
		base := rules.Default()
		if opts.Rules != nil {
			base = opts.Rules.Load()
		}
		files := slices.Clone(base.Files)
		for _, f := range sc.RulesFiles {
			files = append(files, filepath.Join(sc.dir, f))
		}
		rs, err := rules.Load(files...)
		if err != nil {
			return nil, err
		}
		if opts.Rules == nil {
			opts.Rules = rules.NewHolder(rs)
		} else {
			opts.Rules.Store(rs) // the detectors read their lists from it
		}
	}
	if o := sc.Identity; o != nil {
		io := identity.DefaultOptions()
		io.ExpiredSeverity = cmp.Or(o.Expired, io.ExpiredSeverity)
		io.ExpiredRiskySeverity = cmp.Or(o.ExpiredRisky, io.ExpiredRiskySeverity)
		io.PrincipalEndedSeverity = cmp.Or(o.PrincipalEnded, io.PrincipalEndedSeverity)
		io.PrincipalEndedRiskySeverity = cmp.Or(o.PrincipalEndedRisky, io.PrincipalEndedRiskySeverity)
		replaced := false
		for i, f := range opts.Detectors {
			if f(nil).Name() == identity.Name {
				opts.Detectors[i] = func(*models.Inventory) detector.Detector { return identity.New(io) }
				replaced = true
			}
		}
		if !replaced {
			return nil, fmt.Errorf("no identity detector in the default set")
		}
	}
	eng := detector.New(opts)
	out := &detector.Output{}
	for _, ev := range evs {
		eng.Process(ev, out)
	}
	return out, nil
}
