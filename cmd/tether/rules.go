package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/atr"
	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/detector/scenario"
	"github.com/tetherhq/tether/detector/toolcap"
)

// runRules is `tether rules check|list|test`, promtool-style. check and
// list without file arguments work on the ruleset the daemon would load
// (the embedded defaults plus detectors.rules_files of --config); test
// runs scenario files or directories through engines built from the
// --config's detectors section.
func runRules(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: tether rules check|list|test [--config FILE] [FILE...]")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("rules "+sub, flag.ContinueOnError)
	cfgPath := fs.String("config", "", "daemon configuration whose detectors.rules_files to use when no FILE is given")
	atrDir := fs.String("atr", "", "Agent Threat Rules directory (bench/atr/setup.sh): test runs their own test cases, list lists them (default: the config's detectors.atr_dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	var dc detector.Config
	if *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath, os.Getenv)
		if err != nil {
			return err
		}
		dc = cfg.Detectors.Config()
	}
	if sub == "test" {
		if *atrDir != "" {
			if err := atrTest(os.Stdout, *atrDir); err != nil {
				return err
			}
			if len(files) == 0 {
				return nil
			}
		}
		return rulesTest(os.Stdout, dc, files)
	}
	if len(files) == 0 {
		files = dc.RulesFiles
	}
	switch sub {
	case "check":
		return rulesCheck(os.Stdout, files)
	case "list":
		rs, err := rules.Load(files...)
		if err != nil {
			return err
		}
		rulesList(os.Stdout, rs)
		if dir := cmp.Or(*atrDir, dc.ATRDir); dir != "" {
			return atrList(os.Stdout, dir, cmp.Or(dc.ATRLane, "stable"))
		}
		return nil
	}
	return fmt.Errorf("unknown subcommand %q (want check, list or test)", sub)
}

// rulesCheck loads every file on top of the defaults, each alone and then
// all together in order, and reports each file's result.
func rulesCheck(w io.Writer, files []string) error {
	failed := 0
	for _, f := range files {
		if _, err := rules.Load(f); err != nil {
			fmt.Fprintf(w, "FAILED %v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(w, "OK     %s\n", f)
	}
	rs, err := rules.Load(files...)
	if err == nil {
		err = detector.ValidateRuleset(rs)
	}
	if err != nil {
		if failed == 0 {
			fmt.Fprintf(w, "FAILED together: %v\n", err)
		}
		return fmt.Errorf("%d of %d files invalid: %w", max(failed, 1), len(files), err)
	}
	fmt.Fprintf(w, "ruleset %s version %s: %d rules, %d exceptions, %d lists, %d pattern lists\n", rs.ID, rs.Version, len(rs.Rules()), len(rs.Exceptions()), len(rs.ListNames()), len(rs.PatternNames()))
	return nil
}

// rulesList prints one rule per line: id, ruleset version, kind, severity
// ("graded" when the detector computes it), enabled, source; then the
// exceptions.
func rulesList(w io.Writer, rs *rules.Ruleset) {
	for _, r := range rs.Rules() {
		sev := "graded"
		if r.HasSeverity {
			sev = fmt.Sprint(r.Severity)
		}
		state := "enabled"
		if !r.Enabled {
			state = "disabled"
		}
		fmt.Fprintf(w, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\n", r.ID, rs.Version, r.Detector, r.Kind, sev, state, strings.Join(r.Tags, ","), r.Source)
	}
	for _, x := range rs.Exceptions() {
		exp := "never"
		if !x.Expires.IsZero() {
			exp = x.Expires.UTC().Format(time.RFC3339)
		}
		keys := make([]string, 0, len(x.Fields))
		for k := range x.Fields {
			keys = append(keys, k+"="+strings.Join(x.Fields[k], "|"))
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "%s\texception\t%s\t%s\texpires %s\t%s\t%s\n", x.ID, x.Rule, strings.Join(keys, ","), exp, x.Comment, x.Source)
	}
}

// watchRules reloads the ruleset on SIGHUP and, every interval, when a
// rules file changed (size or modification time). A file that does not
// load keeps the old ruleset and logs why (file:line:col). Detector state
// is untouched: engines read the holder on every finding. Lists read when
// a detector is built (the verb lexicons) apply to engines built after the
// reload (a partition assigned later).
func watchRules(ctx context.Context, c detectorsConfig, h *rules.Holder, log zerolog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if c.ReloadInterval > 0 && len(c.RulesFiles) > 0 {
		t := time.NewTicker(c.ReloadInterval)
		defer t.Stop()
		tick = t.C
	}
	last := stamp(c.RulesFiles)
	reload := func(why string) {
		last = stamp(c.RulesFiles)
		rs, err := rules.Load(c.RulesFiles...)
		if err == nil {
			err = detector.ValidateRuleset(rs)
		}
		if err != nil {
			log.Error().Err(err).Str("trigger", why).Str("kept_version", h.Load().Version).Msg("ruleset reload rejected; the previous ruleset keeps running")
			return
		}
		h.Store(rs)
		_ = toolcap.Use(rs) // validated above
		log.Info().Str("trigger", why).Str("version", rs.Version).Int("rules", len(rs.Rules())).Int("exceptions", len(rs.Exceptions())).Msg("ruleset reloaded")
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload("SIGHUP")
		case <-tick:
			if s := stamp(c.RulesFiles); s != last {
				reload("file change")
			}
		}
	}
}

// stamp summarises the files' sizes and modification times.
func stamp(files []string) string {
	var b strings.Builder
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(&b, "%s:missing;", f)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d;", f, st.Size(), st.ModTime().UnixNano())
	}
	return b.String()
}

// rulesTest runs the scenario files (detector/scenario) of every
// directory or file in paths through fresh engines built as the daemon
// would (dc: the detectors section), and reports each scenario and the
// counts; it fails when one fails.
func rulesTest(w io.Writer, dc detector.Config, paths []string) error {
	if len(paths) == 0 {
		return errors.New("rules test: name scenario files or directories")
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*.yaml"))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	passed, failed := 0, 0
	for _, f := range files {
		errs := runScenarioFile(dc, f)
		if len(errs) == 0 {
			passed++
			fmt.Fprintf(w, "PASS %s\n", f)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s\n", f)
		for _, e := range errs {
			fmt.Fprintf(w, "     %s\n", e)
		}
	}
	fmt.Fprintf(w, "scenarios: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d scenarios failed", failed, len(files))
	}
	return nil
}

func runScenarioFile(dc detector.Config, path string) []string {
	sc, err := scenario.Load(path)
	if err != nil {
		return []string{err.Error()}
	}
	opts, err := dc.Options()
	if err != nil {
		return []string{err.Error()}
	}
	out, err := sc.Run(opts)
	if err != nil {
		return []string{err.Error()}
	}
	return sc.Check(out)
}

// atrTest loads the ATR rules under dir and runs their own test cases,
// reporting loaded/unsupported rules (by reason) and passed/failed cases.
func atrTest(w io.Writer, dir string) error {
	rs, st, err := atr.Load(dir)
	if err != nil {
		return err
	}
	res := atr.RunTests(rs)
	fmt.Fprintf(w, "ATR: %d files, %d rules loaded, %d unsupported\n", st.Files, st.Loaded, st.TotalUnsupported())
	reasons := make([]string, 0, len(st.Unsupported))
	for k := range st.Unsupported {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Fprintf(w, "  unsupported: %-50s %d\n", k, st.Unsupported[k])
	}
	failedRules := len(res.FailedRules)
	fmt.Fprintf(w, "ATR test cases: %d passed, %d failed (in %d rules), %d without an input Tether maps\n", res.Passed, res.Failed, failedRules, res.NoInput)
	for _, id := range res.FailedRules {
		fmt.Fprintf(w, "  failed: %s\n", id)
	}
	return nil
}

// rulesCollector exports the running ruleset's version, per exception the
// findings it has suppressed and per custom rule its failed evaluations,
// both since the ruleset was loaded (a reload starts the counts again,
// which Prometheus treats as a counter reset).
type rulesCollector struct {
	h                           *rules.Holder
	info, suppressed, customErr *prometheus.Desc
}

func newRulesCollector(h *rules.Holder) *rulesCollector {
	return &rulesCollector{h: h,
		info: prometheus.NewDesc("tether_ruleset_info", "Always 1; the labels identify the running ruleset.", []string{"id", "version"}, nil),
		suppressed: prometheus.NewDesc("tether_exception_suppressed_total",
			"Findings suppressed by each exception of the running ruleset (recorded with its id, never dropped).", []string{"exception", "rule"}, nil),
		customErr: prometheus.NewDesc("tether_custom_rule_errors_total",
			"Evaluations of each custom (CEL) rule of the running ruleset that failed (a missing key, a type error); the rule did not match.", []string{"rule"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *rulesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.info
	ch <- c.suppressed
	ch <- c.customErr
}

// Collect implements prometheus.Collector.
func (c *rulesCollector) Collect(ch chan<- prometheus.Metric) {
	rs := c.h.Load()
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, rs.ID, rs.Version)
	for _, x := range rs.Exceptions() {
		ch <- prometheus.MustNewConstMetric(c.suppressed, prometheus.CounterValue, float64(x.Hits()), x.ID, x.Rule)
	}
	for _, r := range rs.Custom() {
		ch <- prometheus.MustNewConstMetric(c.customErr, prometheus.CounterValue, float64(r.Errors()), r.Rule.ID)
	}
}

// atrList prints the ATR rules of lane under dir, one per line, in the
// format of rulesList (version: the rule's rule_version).
func atrList(w io.Writer, dir, lane string) error {
	rs, st, err := atr.Load(dir)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.InLane(lane) {
			fmt.Fprintf(w, "%s\t%d\tatr/%s\t%s\tenabled\t%s\t%s\n", r.ID, r.Version, r.ID, r.Severity,
				strings.Join(append(slices.Clone(r.OWASP), r.ATLAS...), ","), r.File)
		}
	}
	for _, u := range st.UnsupportedRules {
		fmt.Fprintf(w, "%s\tunsupported\n", u)
	}
	return nil
}
