// Package atr loads Agent Threat Rules (ATR: YAML rules with ids
// ATR-YYYY-NNNNN, regex conditions over LLM input/output, tool-call
// arguments and tool responses, their own test cases; npm package
// agent-threat-rules, fetched by bench/atr/setup.sh into .cache/atr) and
// evaluates them on the matching fields of Tether's events.
//
// Field mapping:
//
//	user_input        a message event with role user (or no role): its content
//	tool_response     a tool_result: its result text
//	tool_args         a tool_call: its JSON arguments
//	agent_output      reasoning, or a message with role assistant: its content
//	content           any of the above
//	tool_name         a tool_call: the tool's name
//
// Rules Tether cannot evaluate exactly are not loaded and are counted by
// reason (Stats.Unsupported): an operator other than regex, a field
// outside the mapping (tool_description, trace.*), a pattern Go's RE2
// engine rejects (look-around, back-references), a condition combinator
// other than any/all. Nothing is silently ignored.
package atr

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrATR wraps load errors.
var ErrATR = errors.New("atr: invalid rule")

// Fields Tether maps onto events.
const (
	FieldUserInput    = "user_input"
	FieldToolResponse = "tool_response"
	FieldToolArgs     = "tool_args"
	FieldAgentOutput  = "agent_output"
	FieldContent      = "content"
	FieldToolName     = "tool_name"
)

var supportedFields = map[string]bool{FieldUserInput: true, FieldToolResponse: true, FieldToolArgs: true,
	FieldAgentOutput: true, FieldContent: true, FieldToolName: true}

// Condition is one regex over one field.
type Condition struct {
	Field string
	Re    *regexp.Regexp
	// lits is the regex's prefilter (prefilter.go): a text lacking, case-
	// folded, every literal of one set cannot match; nil: always run the
	// regex.
	lits [][]string
}

// Prefilter returns sets of literals such that every match contains one
// literal of each, case-folded (nil: none derived, the regex always runs).
func (c Condition) Prefilter() [][]string { return c.lits }

// Rule is a loaded ATR rule.
type Rule struct {
	ID, Title, Severity, Maturity, Status string
	// Version is the rule's rule_version.
	Version int
	// All: every condition must match (condition: all); else any.
	All        bool
	Conditions []Condition
	// OWASP and ATLAS are the rule's owasp_agentic and mitre_atlas references.
	OWASP, ATLAS []string
	// Text is the rule file's text (for benchmark-derivation checks).
	Text string
	// File is the rule file.
	File  string
	Tests []TestCase
}

// TestCase is one of the rule's own test cases: Fields maps a field to its
// text ("input" sets every field).
type TestCase struct {
	Fields map[string]string
	Want   bool
}

// Stats counts what Load saw.
type Stats struct {
	Files, Loaded int
	// Unsupported counts rules not loaded, by reason.
	Unsupported map[string]int
	// UnsupportedRules lists them (id: reason).
	UnsupportedRules []string
}

// TotalUnsupported sums Unsupported.
func (s Stats) TotalUnsupported() int {
	n := 0
	for _, v := range s.Unsupported {
		n += v
	}
	return n
}

type fileYAML struct {
	Title       string `yaml:"title"`
	ID          string `yaml:"id"`
	RuleVersion int    `yaml:"rule_version"`
	Status      string `yaml:"status"`
	Maturity    string `yaml:"maturity"`
	Severity    string `yaml:"severity"`
	References  struct {
		OWASPAgentic []string `yaml:"owasp_agentic"`
		MITREATLAS   []string `yaml:"mitre_atlas"`
	} `yaml:"references"`
	Detection struct {
		Conditions yaml.Node `yaml:"conditions"`
		Condition  string    `yaml:"condition"`
	} `yaml:"detection"`
	TestCases struct {
		TruePositives []map[string]any `yaml:"true_positives"`
		TrueNegatives []map[string]any `yaml:"true_negatives"`
	} `yaml:"test_cases"`
}

type condYAML struct {
	Field    string `yaml:"field"`
	Operator string `yaml:"operator"`
	Value    any    `yaml:"value"`
}

// Load reads every *.yaml rule under dir. Rules whose status is
// "deprecated" are skipped (counted).
func Load(dir string) ([]*Rule, Stats, error) {
	st := Stats{Unsupported: map[string]int{}}
	var out []*Rule
	unsupported := func(id, reason string) {
		st.Unsupported[reason]++
		st.UnsupportedRules = append(st.UnsupportedRules, id+": "+reason)
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return nil
		}
		st.Files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var f fileYAML
		if err := yaml.Unmarshal(b, &f); err != nil {
			unsupported(path, "yaml")
			return nil
		}
		if f.ID == "" {
			unsupported(path, "no id")
			return nil
		}
		if f.Status == "deprecated" {
			unsupported(f.ID, "deprecated")
			return nil
		}
		r := &Rule{ID: f.ID, Title: f.Title, Severity: f.Severity, Maturity: f.Maturity, Status: f.Status, Version: f.RuleVersion,
			OWASP: f.References.OWASPAgentic, ATLAS: f.References.MITREATLAS, Text: string(b), File: path}
		switch f.Detection.Condition {
		case "any", "":
		case "all":
			r.All = true
		default:
			unsupported(f.ID, "condition "+f.Detection.Condition)
			return nil
		}
		var conds []condYAML
		if f.Detection.Conditions.Kind != yaml.SequenceNode || f.Detection.Conditions.Decode(&conds) != nil || len(conds) == 0 {
			unsupported(f.ID, "conditions not a list of field/operator/value")
			return nil
		}
		for _, c := range conds {
			if c.Operator != "regex" {
				unsupported(f.ID, "operator "+c.Operator)
				return nil
			}
			if !supportedFields[c.Field] {
				unsupported(f.ID, "field "+c.Field)
				return nil
			}
			s, ok := c.Value.(string)
			if !ok {
				unsupported(f.ID, "non-string pattern")
				return nil
			}
			re, err := regexp.Compile(s)
			if err != nil {
				unsupported(f.ID, "pattern not RE2 (look-around or back-reference)")
				return nil
			}
			r.Conditions = append(r.Conditions, Condition{Field: c.Field, Re: re, lits: requiredLiterals(s)})
		}
		for _, tc := range f.TestCases.TruePositives {
			r.Tests = append(r.Tests, testCase(tc, true))
		}
		for _, tc := range f.TestCases.TrueNegatives {
			r.Tests = append(r.Tests, testCase(tc, false))
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, st, fmt.Errorf("%w: %w", ErrATR, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	st.Loaded = len(out)
	return out, st, nil
}

func testCase(m map[string]any, want bool) TestCase {
	tc := TestCase{Fields: map[string]string{}, Want: want}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			continue
		}
		switch k {
		case "input":
			for f := range supportedFields {
				tc.Fields[f] = s
			}
		case FieldUserInput, FieldToolResponse, FieldToolArgs, FieldAgentOutput, FieldContent, FieldToolName:
			tc.Fields[k] = s
			if k != FieldToolName {
				tc.Fields[FieldContent] = s
			}
		}
	}
	return tc
}

// Match reports whether the rule fires on the fields (field name → text;
// absent fields never match).
func (r *Rule) Match(fields func(field string) (string, bool)) bool {
	return r.match(fields, new(folded))
}

// match is Match with the folded text cached across rules (fc).
func (r *Rule) match(fields func(field string) (string, bool), fc *folded) bool {
	for _, c := range r.Conditions {
		text, ok := fields(c.Field)
		hit := ok && (c.lits == nil || mayMatch(c.lits, fc.of(text))) && c.Re.MatchString(text)
		if r.All && !hit {
			return false
		}
		if !r.All && hit {
			return true
		}
	}
	return r.All
}

// TestResult counts a rule set's own test cases.
type TestResult struct {
	Passed, Failed, NoInput int
	// FailedRules names rules with a failing case.
	FailedRules []string
}

// RunTests runs every rule's own test cases. A case that sets none of the
// fields the rule reads counts as NoInput (neither passed nor failed).
func RunTests(rules []*Rule) TestResult {
	var res TestResult
	for _, r := range rules {
		bad := false
		for _, tc := range r.Tests {
			if len(tc.Fields) == 0 {
				res.NoInput++
				continue
			}
			got := r.Match(func(f string) (string, bool) { s, ok := tc.Fields[f]; return s, ok })
			if got == tc.Want {
				res.Passed++
			} else {
				res.Failed++
				bad = true
			}
		}
		if bad {
			res.FailedRules = append(res.FailedRules, r.ID)
		}
	}
	return res
}

// InLane reports whether the rule belongs to a lane: "stable" (maturity
// stable), "test" (maturity stable or test) or "all".
func (r *Rule) InLane(lane string) bool {
	switch lane {
	case "stable":
		return r.Maturity == "stable"
	case "test":
		return r.Maturity == "stable" || r.Maturity == "test"
	}
	return true
}

// DerivedFrom reports whether the rule names a benchmark corpus in its
// text (references, description, test cases): such a rule was written
// from that benchmark and must be excluded when evaluating on it. names
// are matched case-insensitively.
func (r *Rule) DerivedFrom(names ...string) bool {
	low := strings.ToLower(r.Text)
	for _, n := range names {
		if strings.Contains(low, strings.ToLower(n)) {
			return true
		}
	}
	return false
}
