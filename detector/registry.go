package detector

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tetherhq/tether/detector/atr"
	"github.com/tetherhq/tether/detector/baseline"
	"github.com/tetherhq/tether/detector/capability"
	"github.com/tetherhq/tether/detector/custom"
	"github.com/tetherhq/tether/detector/flow"
	"github.com/tetherhq/tether/detector/identity"
	"github.com/tetherhq/tether/detector/outputs"
	"github.com/tetherhq/tether/detector/profile"
	"github.com/tetherhq/tether/detector/risk"
	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/detector/semantic"
	"github.com/tetherhq/tether/detector/toolcap"
	"github.com/tetherhq/tether/models"
)

// Registration describes one detector for the registry.
type Registration struct {
	// Name is the detector's name (Detector.Name).
	Name string
	// Compounds: its findings are folded into the session's
	// compound_deviation. False for posture and weak behavioural signals
	// that, measured on AgentDojo, added more false alarms than detections
	// when compounded (DESIGN.md "Detectors").
	Compounds bool
	// Posture: its findings describe what an agent could do (configuration),
	// not what it did.
	Posture bool
	// Lists: Build reads lists of the ruleset (cues, lexicons, patterns),
	// so a running engine rebuilds the detector, carrying its state over,
	// when a reload stores a new ruleset (Engine.Process).
	Lists bool
	// Defaults returns a pointer to the detector's default Options, which
	// the `detectors:` configuration decodes onto.
	Defaults func() any
	// Build makes a detector from options returned by Defaults, for an
	// engine's inventory and the ruleset holder (lists the detector reads
	// when built; custom rules it reads on every event).
	Build func(inv *models.Inventory, opts any, rs *rules.Holder) Detector
}

// Registry lists the detectors in the order they run on every event.
var Registry = []Registration{
	{Name: identity.Name, Compounds: true,
		Defaults: func() any { o := identity.DefaultOptions(); return &o },
		Build: func(_ *models.Inventory, o any, _ *rules.Holder) Detector {
			return identity.New(*o.(*identity.Options))
		}},
	{Name: baseline.Name, Compounds: true,
		Defaults: func() any { o := baseline.DefaultOptions(); return &o },
		Build: func(_ *models.Inventory, o any, _ *rules.Holder) Detector {
			return baseline.New(*o.(*baseline.Options))
		}},
	{Name: flow.Name, Compounds: true, Lists: true,
		Defaults: func() any { o := flow.DefaultOptions(); return &o },
		Build: func(_ *models.Inventory, o any, h *rules.Holder) Detector {
			fo := *o.(*flow.Options)
			if c, err := flow.NewCues(h.Load()); err == nil { // validated by Config.Options and reloads
				fo.Cues = c
			}
			return flow.New(fo)
		}},
	{Name: capability.Name, Posture: true,
		Defaults: func() any { o := capability.DefaultOptions(); return &o },
		Build: func(inv *models.Inventory, o any, _ *rules.Holder) Detector {
			return capability.New(inv, *o.(*capability.Options))
		}},
	{Name: profile.Name, // informational profile deviations
		Defaults: func() any { o := profile.DefaultOptions(); return &o },
		Build:    func(_ *models.Inventory, o any, _ *rules.Holder) Detector { return profile.New(*o.(*profile.Options)) }},
	{Name: semantic.Name, Lists: true, // lexical judgements are informational
		Defaults: func() any { o := semantic.DefaultOptions(); return &o },
		Build: func(_ *models.Inventory, o any, rs *rules.Holder) Detector {
			so := *o.(*semantic.Options)
			so.Lexicon = semantic.LexiconFrom(rs.Load())
			return semantic.New(so)
		}},
	// risk: its alert-level findings (dangerous commands, secrets, public
	// shares) alert alone; compounding its sub-threshold novelty findings
	// cost recall at 1% FPR on AgentDojo (0.825 -> 0.599, DESIGN.md)
	{Name: risk.Name, Lists: true,
		Defaults: func() any { o := risk.DefaultOptions(); return &o },
		Build: func(_ *models.Inventory, o any, h *rules.Holder) Detector {
			ro := *o.(*risk.Options)
			if p, err := risk.NewPatterns(h.Load()); err == nil { // validated by Config.Options and reloads
				ro.Patterns = p
			}
			return risk.New(ro)
		}},
	// outputs: tool-output baselines; its own findings are informational
	// (not compounded); the flow detector reads its assessments (link)
	{Name: outputs.Name,
		Defaults: func() any { o := outputs.DefaultOptions(); return &o },
		Build: func(_ *models.Inventory, o any, _ *rules.Holder) Detector {
			return outputs.New(*o.(*outputs.Options))
		}},
	// custom: operators' CEL rules (detector/rules); they compound like
	// any deviation of the session
	{Name: custom.Name, Compounds: true,
		Defaults: func() any { o := custom.DefaultOptions(); return &o },
		Build: func(_ *models.Inventory, o any, h *rules.Holder) Detector {
			return custom.New(*o.(*custom.Options), h)
		}},
}

// link connects detectors that read each other's judgements: the flow
// detector reads the outputs detector's assessment of each tool result
// (flow.OutputBaseline), and the baseline detector reads the flow
// detector's judgement of the user's request (baseline.RequestOracle),
// when both of a pair run.
func link(ds []Detector) {
	var base flow.OutputBaseline
	for _, d := range ds {
		if b, ok := d.(*outputs.Detector); ok {
			base = b
		}
	}
	var fl *flow.Detector
	for _, d := range ds {
		if f, ok := d.(*flow.Detector); ok {
			fl = f
			if base != nil {
				f.SetOutputBaseline(base)
			}
		}
	}
	if fl == nil {
		return
	}
	for _, d := range ds {
		if b, ok := d.(*baseline.Detector); ok {
			b.SetRequestOracle(fl)
		}
	}
}

// ErrConfig wraps every error of Config validation.
var ErrConfig = errors.New("detector: invalid configuration")

// Config is the daemon's `detectors:` section: which detectors run, their
// thresholds and state limits, and the operator's ruleset files (per
// finding kind enabled flags, severities, confidences, exceptions: see
// detector/rules). It is validated in one place, Options.
type Config struct {
	// Disabled names detectors that do not run.
	Disabled []string `yaml:"disabled"`
	// Tune maps a detector name to fields of its Options (the Go field
	// names, lower-cased: `maxsessions: 1000`), decoded onto its defaults;
	// unknown fields are errors.
	Tune map[string]yaml.Node `yaml:"tune"`
	// RulesFiles are operator ruleset files applied, in order, on top of
	// the embedded default ruleset.
	RulesFiles []string `yaml:"rules_files"`
	// ATRDir, when set, runs the Agent Threat Rules under it (detector/atr)
	// of lane ATRLane (stable, test or all; empty: stable).
	ATRDir  string `yaml:"atr_dir"`
	ATRLane string `yaml:"atr_lane"`
}

// Options validates c and returns the engine options it selects, with the
// ruleset loaded from c.RulesFiles (held in Options.Rules, for reloads).
func (c Config) Options() (Options, error) {
	known := make([]string, len(Registry))
	for i, r := range Registry {
		known[i] = r.Name
	}
	var errs []string
	for _, d := range c.Disabled {
		if !slices.Contains(known, d) {
			errs = append(errs, fmt.Sprintf("detectors.disabled: unknown detector %q (known: %s)", d, strings.Join(known, ", ")))
		}
	}
	tuned := make(map[string]any, len(c.Tune))
	names := make([]string, 0, len(c.Tune))
	for n := range c.Tune {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		i := slices.Index(known, n)
		if i < 0 {
			errs = append(errs, fmt.Sprintf("detectors.tune: unknown detector %q (known: %s)", n, strings.Join(known, ", ")))
			continue
		}
		o := Registry[i].Defaults()
		node := c.Tune[n]
		if err := decodeStrict(&node, o); err != nil {
			errs = append(errs, fmt.Sprintf("detectors.tune.%s: line %d: %v", n, node.Line, err))
		} else if v, ok := o.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				errs = append(errs, fmt.Sprintf("detectors.tune.%s: %v", n, err))
			}
		}
		tuned[n] = o
	}
	rs, err := rules.Load(c.RulesFiles...)
	if err != nil {
		errs = append(errs, err.Error())
	} else if err := ValidateRuleset(rs); err != nil {
		errs = append(errs, err.Error())
	} else if len(c.RulesFiles) > 0 {
		// tool labelling is process-wide: operator appends to the
		// toolcap.* lists apply to tools labelled from now on
		_ = toolcap.Use(rs) // validated just above
	}
	if len(errs) > 0 {
		return Options{}, fmt.Errorf("%w: %s", ErrConfig, strings.Join(errs, "; "))
	}
	opts := build(c.Disabled, tuned, rs)
	if c.ATRDir != "" {
		if _, err := AddATR(&opts, c.ATRDir, cmp.Or(c.ATRLane, "stable"), nil); err != nil {
			return Options{}, err
		}
	}
	return opts, nil
}

// decodeStrict decodes n onto out, rejecting fields out does not have.
func decodeStrict(n *yaml.Node, out any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(out)
}

// AddATR appends a detector of the Agent Threat Rules under dir (detector/atr)
// in lane (stable, test or all), without those whose text names one of
// the benchmarks in exclude (rules derived from an evaluation set), and
// returns how many it runs. Its findings alert alone and are not
// compounded.
func AddATR(opts *Options, dir, lane string, exclude []string) (int, error) {
	if lane != "stable" && lane != "test" && lane != "all" {
		return 0, fmt.Errorf("%w: atr lane %q: want stable, test or all", ErrConfig, lane)
	}
	all, _, err := atr.Load(dir)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var names []string
	for _, n := range exclude {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	var rs []*atr.Rule
	for _, r := range all {
		if r.InLane(lane) && !(len(names) > 0 && r.DerivedFrom(names...)) {
			rs = append(rs, r)
		}
	}
	opts.Detectors = append(opts.Detectors, func(*models.Inventory) Detector { return atr.New(rs, 0) })
	opts.Session.ExcludeDetectors = append(opts.Session.ExcludeDetectors, atr.Name)
	return len(rs), nil
}

// ValidateRuleset checks what the rules package cannot: that the
// detectors can build their lexicons from the ruleset's lists. The
// daemon's reload rejects a ruleset that fails it.
func ValidateRuleset(rs *rules.Ruleset) error {
	if _, err := flow.NewCues(rs); err != nil {
		return err
	}
	if _, err := risk.NewPatterns(rs); err != nil {
		return err
	}
	_, err := toolcap.NewVocabulary(rs)
	return err
}
