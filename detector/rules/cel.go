package rules

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

// CustomDetector is the detector name of operators' CEL rules
// (detector/custom evaluates them).
const CustomDetector = "custom"

// Custom is an operator's rule with a CEL condition, evaluated on every
// event by detector/custom. Its finding kind is Rule.Kind (detector
// "custom"); overrides and exceptions apply to it like to any rule.
//
// The condition sees four variables (documented in README "Custom
// rules"):
//
//	event    kind, agent_id, root_agent_id, session_id, step, time (Unix
//	         seconds), tool, args (the parsed call arguments), result,
//	         content, role, principal, autonomy, destination, resource,
//	         data_classes, bytes, model
//	agent    registered (bool), id, purpose, owner, autonomy, tools (declared
//	         tool names); empty strings and lists for an unregistered agent
//	session  tools (distinct tools called before this event, first 64),
//	         tool_step, tool_time and tool_calls (per tool, the step and
//	         time of its latest call: sequences "A then B within N steps
//	         or T seconds"; its call count: thresholds), calls, results,
//	         events (counts before this event)
//	lineage  the same over every session of the event's root agent (a
//	         delegation tree), except that tool_step is the lineage's call
//	         ordinal (this event's is lineage.calls + 1): "A then B within
//	         N steps" across sub-agents is
//	         lineage.calls + 1 - lineage.tool_step["A"] <= N
type Custom struct {
	Rule *Rule
	// Condition is the CEL source; Program its compiled form.
	Condition string
	Program   cel.Program
	// Description explains a match (the finding's explanation).
	Description string
	// Lineage is set when the condition names the lineage variable (the
	// detector builds it only then).
	Lineage bool
	// Threshold, when set, makes the rule a threshold rule: a finding when
	// Threshold.Count events matching the condition fall in one window of
	// one session, agent or lineage; nil: every matching event is a finding.
	Threshold *Threshold

	errs atomic.Uint64
}

// CountError records a failed evaluation of the condition (a missing key
// of event.args, a type error): the rule did not match.
func (c *Custom) CountError() { c.errs.Add(1) }

// Errors counts the condition's failed evaluations since the ruleset was
// loaded, over every engine (tether_custom_rule_errors_total).
func (c *Custom) Errors() uint64 { return c.errs.Load() }

// Threshold scopes.
const (
	PerSession = "session"
	PerAgent   = "agent"
	PerLineage = "lineage"
)

// MaxThresholdCount bounds Threshold.Count (the detector keeps up to Count
// matches per rule and scope key).
const MaxThresholdCount = 1000

// Threshold is a custom rule's window: "Count matching events within
// Within (event time) and/or within the last Steps events of one Per
// scope". A match fires the finding when, with it, Count matches lie in
// the window; the window is then emptied, so the next finding needs Count
// new matches.
type Threshold struct {
	// Count is the number of matching events (2..MaxThresholdCount).
	Count int
	// Within bounds the event-time span: the first and last counted
	// match are at most Within apart (0: no time bound).
	Within time.Duration
	// Steps bounds the span in events of the scope: every counted match is
	// among the scope's last Steps events, this one included (0: no bound).
	Steps int64
	// Per is the scope: PerSession (default), PerAgent or PerLineage.
	Per string
}

// threshold parses a rule's `threshold:` mapping.
func threshold(file string, n *yaml.Node) (*Threshold, error) {
	t := &Threshold{Per: PerSession}
	hasCount := false
	err := mapping(file, n, []string{"count", "within", "steps", "per"}, func(key string, k, v *yaml.Node) error {
		switch key {
		case "count":
			c, err := integer(file, v, key, 2, MaxThresholdCount)
			t.Count, hasCount = int(c), true
			return err
		case "steps":
			var err error
			t.Steps, err = integer(file, v, key, 1, 1<<30)
			return err
		case "within":
			d, err := time.ParseDuration(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || d <= 0 {
				return posErr(file, v, "within: expected a positive duration (30s, 5m, 1h)")
			}
			t.Within = d
		case "per":
			switch v.Value {
			case PerSession, PerAgent, PerLineage:
				t.Per = v.Value
			default:
				return posErr(file, v, "per: expected session, agent or lineage")
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case !hasCount:
		return nil, posErr(file, n, "threshold: a count is required")
	case t.Within == 0 && t.Steps == 0:
		return nil, posErr(file, n, "threshold: a window is required (within, steps or both)")
	}
	return t, nil
}

// integer parses an integer scalar in [lo, hi].
func integer(file string, n *yaml.Node, what string, lo, hi int64) (int64, error) {
	var v int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil || v < lo || v > hi {
		return 0, posErr(file, n, "%s: expected an integer %d-%d", what, lo, hi)
	}
	return v, nil
}

// Custom returns the operator's CEL rules that are enabled, in order.
func (r *Ruleset) Custom() []*Custom { return r.enabledCustom }

var celEnv = func() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("agent", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("session", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("lineage", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		panic(err)
	}
	return env
}()

// compileCEL type-checks src as a boolean condition.
func compileCEL(file string, n *yaml.Node, src string) (cel.Program, error) {
	ast, iss := celEnv.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, posErr(file, n, "condition: %s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, posErr(file, n, "condition: evaluates to %s, want bool", ast.OutputType())
	}
	prg, err := celEnv.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, posErr(file, n, "condition: %v", err)
	}
	return prg, nil
}

// defineCustom adds an operator file's `rules:` entries: CEL rules.
func (r *Ruleset) defineCustom(file string, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return posErr(file, n, "rules: expected a list")
	}
	for _, e := range n.Content {
		rule := &Rule{Enabled: true, Detector: CustomDetector, Confidence: 0.5, HasConfidence: true, Source: fmt.Sprintf("%s:%d", file, e.Line)}
		c := &Custom{Rule: rule}
		var condNode, idNode *yaml.Node
		hasSev := false
		err := mapping(file, e, []string{"id", "kind", "description", "condition", "severity", "confidence", "enabled", "tags", "threshold"}, func(key string, k, v *yaml.Node) error {
			var err error
			switch key {
			case "id":
				rule.ID, err = scalar(file, v, key)
				idNode = v
			case "kind":
				rule.Kind, err = scalar(file, v, key)
			case "description":
				c.Description, err = scalar(file, v, key)
			case "condition":
				c.Condition, err = scalar(file, v, key)
				condNode = v
			case "severity":
				rule.Severity, err = severity(file, v)
				rule.HasSeverity, hasSev = true, true
			case "confidence":
				rule.Confidence, err = confidence(file, v)
			case "enabled":
				rule.Enabled, err = boolean(file, v, key)
			case "tags":
				rule.Tags, err = strings_(file, v, key)
			case "threshold":
				c.Threshold, err = threshold(file, v)
			}
			return err
		})
		if err != nil {
			return err
		}
		switch {
		case idNode == nil:
			return posErr(file, e, "rule without an id")
		case condNode == nil:
			return posErr(file, e, "rule %s: a condition is required", rule.ID)
		case !hasSev:
			return posErr(file, e, "rule %s: a severity is required", rule.ID)
		}
		if rule.Kind == "" {
			rule.Kind = rule.ID
		}
		if c.Description == "" {
			c.Description = "custom rule " + rule.ID + " matched"
		}
		if _, dup := r.byID[rule.ID]; dup {
			return posErr(file, idNode, "duplicate rule id %q", rule.ID)
		}
		key := ruleKey{rule.Detector, rule.Kind}
		if _, dup := r.byKey[key]; dup {
			return posErr(file, e, "two rules for %s/%s", rule.Detector, rule.Kind)
		}
		if c.Program, err = compileCEL(file, condNode, c.Condition); err != nil {
			return err
		}
		c.Lineage = strings.Contains(c.Condition, "lineage")
		r.rules = append(r.rules, rule)
		r.byID[rule.ID], r.byKey[key] = rule, rule
		r.custom = append(r.custom, c)
	}
	return nil
}
