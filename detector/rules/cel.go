package rules

import (
	"fmt"
	"strings"

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
		err := mapping(file, e, []string{"id", "kind", "description", "condition", "severity", "confidence", "enabled", "tags"}, func(key string, k, v *yaml.Node) error {
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
