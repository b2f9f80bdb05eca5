package rules

import (
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pattern is one entry of a pattern list (the `patterns` section): a
// regular expression (RE2) a detector runs only on values that contain one
// of its keywords, so most values cost one keyword scan. The ruleset
// compiles every expression at load to report errors with file:line:col;
// detectors compile their own copies once when they are built.
type Pattern struct {
	// ID names the pattern on findings (for example cmd.rm_root).
	ID string
	// Severity is the danger of what the pattern matches (0-100; lists
	// whose detector grades severity elsewhere leave it 0).
	Severity uint8
	// Why is the human reason on the finding.
	Why string
	// Keywords are lower-case substrings one of which a value must hold.
	Keywords []string
	// Expr is the expression that must match.
	Expr string
	// Unless, when set, vetoes a match when it also matches (RE2 has no
	// negative look-ahead).
	Unless string
}

// Patterns returns the named pattern list (nil when unknown). Callers must
// not modify it.
func (r *Ruleset) Patterns(name string) []Pattern { return r.patterns[name] }

// PatternNames returns the names of the pattern lists, sorted.
func (r *Ruleset) PatternNames() []string {
	out := make([]string, 0, len(r.patterns))
	for n := range r.patterns {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func pattern(file string, n *yaml.Node) (Pattern, error) {
	var p Pattern
	err := mapping(file, n, []string{"id", "severity", "why", "keywords", "expr", "unless"}, func(key string, _, v *yaml.Node) error {
		var err error
		switch key {
		case "id":
			p.ID, err = scalar(file, v, key)
		case "severity":
			p.Severity, err = severity(file, v)
		case "why":
			p.Why, err = scalar(file, v, key)
		case "keywords":
			p.Keywords, err = strings_(file, v, key)
			for i, k := range p.Keywords {
				if err == nil && k != strings.ToLower(k) {
					err = posErr(file, v.Content[i], "keywords: %q is not lower case", k)
				}
			}
		case "expr", "unless":
			var s string
			if s, err = scalar(file, v, key); err == nil {
				if _, cerr := regexp.Compile(s); cerr != nil {
					err = posErr(file, v, "%s: %v", key, cerr)
				}
			}
			if key == "expr" {
				p.Expr = s
			} else {
				p.Unless = s
			}
		}
		return err
	})
	if err != nil {
		return p, err
	}
	if p.ID == "" || p.Expr == "" || len(p.Keywords) == 0 {
		return p, posErr(file, n, "pattern: id, keywords and expr are required")
	}
	return p, nil
}

func patternList(file string, n *yaml.Node, name string, have []Pattern) ([]Pattern, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, posErr(file, n, "%s: expected a list of patterns", name)
	}
	out := slices.Clip(have)
	for _, c := range n.Content {
		p, err := pattern(file, c)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(q Pattern) bool { return q.ID == p.ID }) {
			return nil, posErr(file, c, "%s: duplicate pattern id %q", name, p.ID)
		}
		out = append(out, p)
	}
	return out, nil
}

// definePatterns reads the default file's mapping of list name to patterns.
func (r *Ruleset) definePatterns(file string, n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return posErr(file, n, "patterns: expected a mapping of list name to patterns")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, err := scalar(file, n.Content[i], "pattern list name")
		if err != nil {
			return err
		}
		if r.patterns[name], err = patternList(file, n.Content[i+1], name, nil); err != nil {
			return err
		}
	}
	return nil
}

// appendPatterns reads an operator file's [{list, items, replace}].
func (r *Ruleset) appendPatterns(file string, n *yaml.Node) error {
	eds, err := listEdits(file, n, "patterns")
	if err != nil {
		return err
	}
	for _, ed := range eds {
		if ed.at == nil || ed.items == nil {
			return posErr(file, ed.entry, "pattern entry without \"list\" or \"items\"")
		}
		have, ok := r.patterns[ed.name]
		if !ok {
			return posErr(file, ed.at, "unknown pattern list %q (known: %s)", ed.name, strings.Join(r.PatternNames(), ", "))
		}
		if ed.replace {
			have = nil
		}
		if r.patterns[ed.name], err = patternList(file, ed.items, ed.name, have); err != nil {
			return err
		}
	}
	return nil
}
