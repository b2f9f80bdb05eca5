// Package rules holds Tether's ruleset: the content of detection as data.
//
// The default ruleset (default.yaml, embedded) names one rule per finding
// kind of every detector, with its stable id, enabled flag, optional
// severity and confidence overrides and tags (OWASP Agentic Top 10 ASI
// ids, MITRE ATLAS technique ids), and the lists detectors read (the verb
// lexicons of detector/semantic). Operators add files, applied in order
// on top of the defaults (Falco's override model):
//
//	version: "acme-3"          # optional; appended to the ruleset version
//	rules:                     # custom rules: CEL conditions (cel.go)
//	  - id: ACME-001
//	    kind: shell_after_fetch
//	    severity: 70
//	    condition: event.tool == "shell" && "fetch_url" in session.tools
//	lists:                     # append to a list (replace: true replaces it)
//	  - list: semantic.public_sink_verbs
//	    items: [dispatch]
//	overrides:                 # change fields of a rule, by id
//	  - rule: TTH-risk-new_egress
//	    enabled: false
//	    severity: 30
//	exceptions:                # suppress matching findings until expiry
//	  - id: EXC-billing-egress
//	    rule: TTH-risk-new_egress  # or kind: risk/new_egress
//	    fields: {agent_id: [billing-bot]}
//	    expires: 2027-01-31T00:00:00Z
//	    comment: known partner endpoint (ticket SEC-42)
//
// Files are validated at load: unknown keys, unknown rule ids or lists,
// out-of-range values and duplicate exception ids are errors of the form
// "file:line:col: message" (ErrRuleset). Lookup tables are built once at
// load; Apply costs one map lookup per finding.
//
// The ruleset version stamped on findings is the default version, plus
// "+" and a short hash of the operator files' content when there are any,
// plus "+" and each file's own version when it declares one, so a retune
// is visible in every query.
package rules

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tetherhq/tether/models"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultFile is the name under which the embedded default ruleset is
// reported in errors and listings.
const DefaultFile = "<default>"

// ErrRuleset wraps every load and validation error.
var ErrRuleset = errors.New("rules: invalid ruleset")

// Rule governs the findings of one detector's kind.
type Rule struct {
	// ID is the stable rule id stamped on findings.
	ID string
	// Detector and Kind select the findings the rule governs.
	Detector, Kind string
	// Enabled false drops the kind's findings.
	Enabled bool
	// Severity, when HasSeverity, replaces the detector's severity.
	Severity    uint8
	HasSeverity bool
	// Confidence, when HasConfidence, replaces the detector's confidence.
	Confidence    float64
	HasConfidence bool
	// Tags are OWASP Agentic (ASInn) and MITRE ATLAS (AML.Tnnnn) ids.
	Tags []string
	// Source is where the rule was last defined or overridden (file:line).
	Source string
}

// Exception suppresses the findings of one rule whose fields match, until
// it expires. Suppressed findings are recorded with the exception's id
// (models.Finding.Exception), never dropped.
type Exception struct {
	// ID names the exception on the findings it suppresses.
	ID string
	// Rule is the id of the rule whose findings it suppresses.
	Rule string
	// Fields maps a finding field (see ExceptionFields) to the values that
	// match; every field listed must match.
	Fields map[string][]string
	// Expires ends the exception (compared with the finding's event time,
	// so a replay suppresses the same findings); zero never expires.
	Expires time.Time
	// Comment says why (audit).
	Comment string
	// Source is where the exception was defined (file:line).
	Source string

	hits atomic.Uint64
}

// Hits is the number of findings the exception has suppressed.
func (x *Exception) Hits() uint64 { return x.hits.Load() }

// ExceptionFields are the finding fields an exception can match on.
var ExceptionFields = []string{"agent_id", "root_agent_id", "session_id", "principal", "subject"}

func findingField(f *models.Finding, name string) string {
	switch name {
	case "agent_id":
		return f.AgentID
	case "root_agent_id":
		return f.RootAgentID
	case "session_id":
		return f.SessionID
	case "principal":
		return f.Principal
	case "subject":
		return f.Subject
	}
	return ""
}

func (x *Exception) matches(f *models.Finding) bool {
	if !x.Expires.IsZero() && !f.Time.Before(x.Expires) {
		return false
	}
	for name, vals := range x.Fields {
		if !slices.Contains(vals, findingField(f, name)) {
			return false
		}
	}
	return true
}

type ruleKey struct{ detector, kind string }

// Ruleset is a loaded, validated ruleset. It is immutable after Load and
// safe for concurrent use (exception hit counters are atomic).
type Ruleset struct {
	// ID, Version and Date identify the ruleset; Version is stamped on
	// findings (models.Finding.RulesetVersion).
	ID, Version, Date string
	// Files are the operator files applied on top of the defaults.
	Files []string

	rules      []*Rule
	byKey      map[ruleKey]*Rule
	byID       map[string]*Rule
	lists      map[string][]string
	patterns   map[string][]Pattern
	exceptions []*Exception
	byRule     map[*Rule][]*Exception

	custom        []*Custom
	enabledCustom []*Custom
}

// Rules returns the rules in definition order.
func (r *Ruleset) Rules() []*Rule { return r.rules }

// Rule returns the rule with id, or nil.
func (r *Ruleset) Rule(id string) *Rule { return r.byID[id] }

// List returns the named list (nil when unknown). Callers must not modify it.
func (r *Ruleset) List(name string) []string { return r.lists[name] }

// Exceptions returns the exceptions in definition order.
func (r *Ruleset) Exceptions() []*Exception { return r.exceptions }

// Apply stamps f with its rule id and the ruleset version, applies the
// rule's overrides and exceptions, and reports whether f is kept (false:
// its rule is disabled). A finding of a kind with no rule keeps its
// detector's judgement and gets the id "TTH-<detector>-<kind>".
func (r *Ruleset) Apply(f *models.Finding) bool {
	f.RulesetVersion = r.Version
	rule := r.byKey[ruleKey{f.Detector, f.Kind}]
	if rule == nil {
		f.RuleID = DefaultID(f.Detector, f.Kind)
		return true
	}
	if !rule.Enabled {
		return false
	}
	f.RuleID = rule.ID
	if rule.HasSeverity {
		f.Severity = rule.Severity
	}
	if rule.HasConfidence {
		f.Confidence = rule.Confidence
	}
	for _, x := range r.byRule[rule] {
		if x.matches(f) {
			f.Exception = x.ID
			x.hits.Add(1)
			break
		}
	}
	return true
}

// DefaultID is the id of the built-in rule of a detector's kind.
func DefaultID(detector, kind string) string { return "TTH-" + detector + "-" + kind }

var defaultRuleset = func() *Ruleset {
	r, err := parseDefault()
	if err != nil {
		panic(err) // the embedded file is tested
	}
	return r
}()

// Default returns the embedded default ruleset. It is shared: callers must
// not modify it.
func Default() *Ruleset { return defaultRuleset }

func parseDefault() (*Ruleset, error) {
	r := &Ruleset{byKey: map[ruleKey]*Rule{}, byID: map[string]*Rule{}, lists: map[string][]string{}, patterns: map[string][]Pattern{}}
	if err := r.parse(DefaultFile, defaultYAML, true); err != nil {
		return nil, err
	}
	r.index()
	return r, nil
}

// Load returns the default ruleset with the operator files applied in
// order. Errors wrap ErrRuleset and name the file, line and column.
func Load(files ...string) (*Ruleset, error) {
	r, err := parseDefault()
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return r, nil
	}
	h := sha256.New()
	var versions []string
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRuleset, err)
		}
		h.Write(b)
		h.Write([]byte{0})
		before := r.Version
		if err := r.parse(name, b, false); err != nil {
			return nil, err
		}
		if r.Version != before {
			versions = append(versions, r.Version)
			r.Version = before
		}
	}
	r.Files = files
	r.Version += "+" + hex.EncodeToString(h.Sum(nil)[:4])
	for _, v := range versions {
		r.Version += "+" + v
	}
	r.index()
	return r, nil
}

func (r *Ruleset) index() {
	r.enabledCustom = nil
	for _, c := range r.custom {
		c.Rule = r.byID[c.Rule.ID] // the latest override
		if c.Rule.Enabled {
			r.enabledCustom = append(r.enabledCustom, c)
		}
	}
	r.byRule = map[*Rule][]*Exception{}
	for _, x := range r.exceptions {
		rule := r.byID[x.Rule]
		r.byRule[rule] = append(r.byRule[rule], x)
	}
}

// syntaxErr renders a YAML syntax error as "file:line: message" (the
// parser reports the line, not the column).
func syntaxErr(file string, err error) error {
	msg := err.Error()
	var line int
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if n, err := fmt.Sscanf(rest, "%d:", &line); n == 1 && err == nil {
			_, after, _ := strings.Cut(rest, ": ")
			return fmt.Errorf("%w: %s:%d: yaml syntax: %s", ErrRuleset, file, line, after)
		}
	}
	return fmt.Errorf("%w: %s: %s", ErrRuleset, file, msg)
}

// posErr is a validation error at a node.
func posErr(file string, n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%w: %s:%d:%d: %s", ErrRuleset, file, n.Line, n.Column, fmt.Sprintf(format, args...))
}

// mapping walks a mapping node's keys, rejecting keys not in allowed.
func mapping(file string, n *yaml.Node, allowed []string, fn func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return posErr(file, n, "expected a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			return posErr(file, k, "unknown key %q (want one of %s)", k.Value, strings.Join(allowed, ", "))
		}
		if seen[k.Value] {
			return posErr(file, k, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func scalar(file string, n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		return "", posErr(file, n, "%s: expected a non-empty string", what)
	}
	return n.Value, nil
}

func strings_(file string, n *yaml.Node, what string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, posErr(file, n, "%s: expected a list", what)
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		s, err := scalar(file, c, what)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func boolean(file string, n *yaml.Node, what string) (bool, error) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		return false, posErr(file, n, "%s: expected true or false", what)
	}
	return b, nil
}

func severity(file string, n *yaml.Node) (uint8, error) {
	var v int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil || v < 0 || v > 100 {
		return 0, posErr(file, n, "severity: expected an integer 0-100")
	}
	return uint8(v), nil
}

func confidence(file string, n *yaml.Node) (float64, error) {
	var v float64
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") || n.Decode(&v) != nil || !(v >= 0 && v <= 1) {
		return 0, posErr(file, n, "confidence: expected a number 0-1")
	}
	return v, nil
}

// parse applies one file to r. The default file defines rules and lists;
// operator files override, append and add exceptions.
func (r *Ruleset) parse(file string, data []byte, isDefault bool) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return syntaxErr(file, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	allowed := []string{"version", "lists", "patterns", "rules", "overrides", "exceptions"}
	if isDefault {
		allowed = []string{"id", "version", "date", "lists", "patterns", "rules"}
	}
	return mapping(file, root, allowed, func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "id":
			r.ID, err = scalar(file, v, key)
		case "version":
			r.Version, err = scalar(file, v, key)
		case "date":
			r.Date, err = scalar(file, v, key)
		case "lists":
			if isDefault {
				err = r.defineLists(file, v)
			} else {
				err = r.appendLists(file, v)
			}
		case "patterns":
			if isDefault {
				err = r.definePatterns(file, v)
			} else {
				err = r.appendPatterns(file, v)
			}
		case "rules":
			if isDefault {
				err = r.defineRules(file, v)
			} else {
				err = r.defineCustom(file, v)
			}
		case "overrides":
			err = r.overrides(file, v)
		case "exceptions":
			err = r.addExceptions(file, v)
		}
		return err
	})
}

func (r *Ruleset) defineLists(file string, n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return posErr(file, n, "lists: expected a mapping of list name to items")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, err := scalar(file, n.Content[i], "list name")
		if err != nil {
			return err
		}
		items, err := strings_(file, n.Content[i+1], name)
		if err != nil {
			return err
		}
		r.lists[name] = items
	}
	return nil
}

func (r *Ruleset) appendLists(file string, n *yaml.Node) error {
	eds, err := listEdits(file, n, "lists")
	if err != nil {
		return err
	}
	for _, ed := range eds {
		if ed.at == nil {
			return posErr(file, ed.entry, "list entry without \"list\"")
		}
		var items []string
		if ed.items != nil {
			if items, err = strings_(file, ed.items, "items"); err != nil {
				return err
			}
		}
		if _, ok := r.lists[ed.name]; !ok {
			return posErr(file, ed.at, "unknown list %q (known: %s)", ed.name, strings.Join(r.ListNames(), ", "))
		}
		if ed.replace {
			r.lists[ed.name] = items
		} else {
			r.lists[ed.name] = append(slices.Clip(r.lists[ed.name]), items...)
		}
	}
	return nil
}

// listEdit is one operator entry {list, items, replace} of `lists:` or
// `patterns:`.
type listEdit struct {
	entry, at, items *yaml.Node // the entry, its list name and its items (nil when absent)
	name             string
	replace          bool
}

// listEdits reads an operator file's [{list, items, replace}] under
// section; the caller checks the names and converts the items.
func listEdits(file string, n *yaml.Node, section string) ([]listEdit, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, posErr(file, n, "%s: expected a list of {list, items, replace}", section)
	}
	eds := make([]listEdit, 0, len(n.Content))
	for _, e := range n.Content {
		ed := listEdit{entry: e}
		err := mapping(file, e, []string{"list", "items", "replace"}, func(key string, _, v *yaml.Node) error {
			var err error
			switch key {
			case "list":
				ed.name, err = scalar(file, v, key)
				ed.at = v
			case "items":
				ed.items = v
			case "replace":
				ed.replace, err = boolean(file, v, key)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		eds = append(eds, ed)
	}
	return eds, nil
}

// ListNames returns the names of the lists, sorted.
func (r *Ruleset) ListNames() []string {
	names := make([]string, 0, len(r.lists))
	for n := range r.lists {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ruleFields parses the overridable fields of a rule (and, for the
// default file, its identity).
func ruleFields(file string, n *yaml.Node, rule *Rule, allowed []string) (*yaml.Node, error) {
	var idNode *yaml.Node
	err := mapping(file, n, allowed, func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "id", "rule":
			rule.ID, err = scalar(file, v, key)
			idNode = v
		case "detector":
			rule.Detector, err = scalar(file, v, key)
		case "kind":
			rule.Kind, err = scalar(file, v, key)
		case "enabled":
			rule.Enabled, err = boolean(file, v, key)
		case "severity":
			rule.Severity, err = severity(file, v)
			rule.HasSeverity = true
		case "confidence":
			rule.Confidence, err = confidence(file, v)
			rule.HasConfidence = true
		case "tags":
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				rule.Tags = nil
				return nil
			}
			rule.Tags, err = strings_(file, v, key)
		}
		return err
	})
	if err == nil && idNode == nil {
		err = posErr(file, n, "rule without an id")
	}
	return idNode, err
}

func (r *Ruleset) defineRules(file string, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return posErr(file, n, "rules: expected a list")
	}
	for _, e := range n.Content {
		rule := &Rule{Enabled: true, Source: fmt.Sprintf("%s:%d", file, e.Line)}
		idNode, err := ruleFields(file, e, rule, []string{"id", "detector", "kind", "enabled", "severity", "confidence", "tags"})
		if err != nil {
			return err
		}
		if rule.Detector == "" || rule.Kind == "" {
			return posErr(file, e, "rule %s: detector and kind are required", rule.ID)
		}
		if _, dup := r.byID[rule.ID]; dup {
			return posErr(file, idNode, "duplicate rule id %q", rule.ID)
		}
		key := ruleKey{rule.Detector, rule.Kind}
		if _, dup := r.byKey[key]; dup {
			return posErr(file, e, "two rules for %s/%s", rule.Detector, rule.Kind)
		}
		r.rules = append(r.rules, rule)
		r.byID[rule.ID], r.byKey[key] = rule, rule
	}
	return nil
}

func (r *Ruleset) overrides(file string, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return posErr(file, n, "overrides: expected a list")
	}
	for _, e := range n.Content {
		// parse into a scratch copy of the rule named by "rule"
		var id string
		for i := 0; i+1 < len(e.Content); i += 2 {
			if e.Content[i].Value == "rule" {
				id = e.Content[i+1].Value
			}
		}
		old := r.byID[id]
		if old == nil {
			at := e
			for i := 0; i+1 < len(e.Content); i += 2 {
				if e.Content[i].Value == "rule" {
					at = e.Content[i+1]
				}
			}
			if e.Kind != yaml.MappingNode {
				return posErr(file, e, "override: expected a mapping")
			}
			return posErr(file, at, "override of unknown rule %q", id)
		}
		next := *old
		next.Tags = slices.Clone(old.Tags)
		if _, err := ruleFields(file, e, &next, []string{"rule", "enabled", "severity", "confidence", "tags"}); err != nil {
			return err
		}
		next.Source = fmt.Sprintf("%s:%d", file, e.Line)
		// replace in place: the tables point at the new copy
		idx := slices.Index(r.rules, old)
		cp := next
		r.rules[idx] = &cp
		r.byID[cp.ID], r.byKey[ruleKey{cp.Detector, cp.Kind}] = &cp, &cp
	}
	return nil
}

func (r *Ruleset) addExceptions(file string, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return posErr(file, n, "exceptions: expected a list")
	}
	for _, e := range n.Content {
		x := &Exception{Fields: map[string][]string{}, Source: fmt.Sprintf("%s:%d", file, e.Line)}
		var idNode, ruleNode *yaml.Node
		err := mapping(file, e, []string{"id", "rule", "kind", "fields", "expires", "comment"}, func(key string, k, v *yaml.Node) error {
			var err error
			switch key {
			case "id":
				x.ID, err = scalar(file, v, key)
				idNode = v
			case "rule":
				if ruleNode != nil {
					return posErr(file, k, "exception: give rule or kind, not both")
				}
				x.Rule, err = scalar(file, v, key)
				ruleNode = v
			case "kind": // detector/kind, resolved to its rule
				if ruleNode != nil {
					return posErr(file, k, "exception: give rule or kind, not both")
				}
				var dk string
				if dk, err = scalar(file, v, key); err == nil {
					det, kind, _ := strings.Cut(dk, "/")
					rule := r.byKey[ruleKey{det, kind}]
					if rule == nil {
						return posErr(file, v, "exception: no rule for kind %q (want detector/kind)", dk)
					}
					x.Rule = rule.ID
				}
				ruleNode = v
			case "comment":
				x.Comment, err = scalar(file, v, key)
			case "expires":
				var s string
				if s, err = scalar(file, v, key); err == nil {
					if x.Expires, err = time.Parse(time.RFC3339, s); err != nil {
						err = posErr(file, v, "expires: expected an RFC 3339 time (2027-01-31T00:00:00Z)")
					}
				}
			case "fields":
				err = mapping(file, v, ExceptionFields, func(name string, _, fv *yaml.Node) error {
					if fv.Kind == yaml.ScalarNode {
						s, err := scalar(file, fv, name)
						x.Fields[name] = []string{s}
						return err
					}
					vals, err := strings_(file, fv, name)
					x.Fields[name] = vals
					return err
				})
			}
			return err
		})
		if err != nil {
			return err
		}
		switch {
		case idNode == nil:
			return posErr(file, e, "exception without an id")
		case ruleNode == nil:
			return posErr(file, e, "exception %s without a rule or kind", x.ID)
		case r.byID[x.Rule] == nil:
			return posErr(file, ruleNode, "exception %s: unknown rule %q", x.ID, x.Rule)
		case x.Comment == "":
			return posErr(file, e, "exception %s: a comment is required (why)", x.ID)
		}
		for _, y := range r.exceptions {
			if y.ID == x.ID {
				return posErr(file, idNode, "duplicate exception id %q (first at %s)", x.ID, y.Source)
			}
		}
		r.exceptions = append(r.exceptions, x)
	}
	return nil
}

// Holder holds the current ruleset of a running daemon: engines read it on
// every finding and a reload swaps it, without touching detector state.
// It is safe for concurrent use.
type Holder struct{ p atomic.Pointer[Ruleset] }

// NewHolder holds r (nil: the default ruleset).
func NewHolder(r *Ruleset) *Holder {
	h := &Holder{}
	h.Store(r)
	return h
}

// Load returns the current ruleset.
func (h *Holder) Load() *Ruleset { return h.p.Load() }

// Store makes r current (nil: the default ruleset).
func (h *Holder) Store(r *Ruleset) {
	if r == nil {
		r = Default()
	}
	h.p.Store(r)
}
