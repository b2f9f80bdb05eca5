package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tetherhq/tether/bench/eval"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
)

// runEval replays a labelled stream through the production detectors and
// scores them (see bench/eval/README.md).
func runEval(args []string) error {
	if len(args) > 0 && args[0] == "combine" {
		return runEvalCombine(args[1:])
	}
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	events := fs.String("events", "", "events JSONL file (models.Event per line)")
	labels := fs.String("labels", "", "labels JSONL file (one line per session)")
	invPath := fs.String("inventory", "", "agent inventory YAML (optional; without it every agent is unregistered)")
	jsonOut := fs.String("json", "", "write the JSON report here")
	plotOut := fs.String("plot", "", "write the ROC curve PNG here (optional)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	atrDir := fs.String("atr", "", "also run the Agent Threat Rules under this directory (bench/atr/setup.sh)")
	atrLane := fs.String("atr-lane", "stable", "ATR rules to run by maturity: stable, test (stable+test) or all")
	atrExclude := fs.String("atr-exclude", "", "comma-separated benchmark names: ATR rules whose text names one are excluded (rules derived from the evaluation set)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *events == "" || *labels == "" || *jsonOut == "" {
		fs.Usage()
		return errors.New("--events, --labels and --json are required")
	}
	opts := eval.DefaultOptions()
	if *invPath != "" {
		inv, err := models.LoadInventoryFile(*invPath)
		if err != nil {
			return err
		}
		opts.Detector.Inventory = inv
	}
	if *atrDir != "" {
		n, err := detector.AddATR(&opts.Detector, *atrDir, *atrLane, strings.Split(*atrExclude, ","))
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "ATR: %d rules in lane %s (excluding rules naming %q)\n", n, *atrLane, *atrExclude)
	}
	if !*quiet {
		opts.Progress = os.Stderr
		fmt.Fprintf(os.Stderr, "loading %s and %s\n", *events, *labels)
	}
	evs, err := eval.ReadEventsFile(*events)
	if err != nil {
		return err
	}
	ls, err := eval.ReadLabelsFile(*labels)
	if err != nil {
		return err
	}
	rep, err := eval.Run(evs, ls, opts)
	if err != nil {
		return err
	}
	if err := rep.WriteJSONFile(*jsonOut); err != nil {
		return err
	}
	if *plotOut != "" {
		if err := rep.WritePlot(*plotOut); err != nil {
			return err
		}
	}
	return rep.WriteTable(os.Stdout)
}

// runEvalCombine writes the combined markdown tables of several JSON
// reports (tether eval combine [--md OUT] [--groups suite,template]
// NAME=REPORT.json ...).
func runEvalCombine(args []string) error {
	fs := flag.NewFlagSet("eval combine", flag.ContinueOnError)
	mdOut := fs.String("md", "", "also write the markdown here")
	groups := fs.String("groups", "suite,template", "group dimensions to tabulate, comma-separated")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tether eval combine [--md OUT] [--groups K,...] NAME=REPORT.json ...\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("at least one NAME=REPORT.json is required")
	}
	var reps []eval.NamedReport
	for _, a := range fs.Args() {
		name, path, ok := strings.Cut(a, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("eval combine: %q is not NAME=REPORT.json", a)
		}
		r, err := eval.ReadReportFile(path)
		if err != nil {
			return err
		}
		reps = append(reps, eval.NamedReport{Name: name, Report: r})
	}
	var buf bytes.Buffer
	if err := eval.WriteMarkdown(&buf, reps, strings.Split(*groups, ",")); err != nil {
		return err
	}
	if *mdOut != "" {
		if err := os.WriteFile(*mdOut, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("eval combine: %w", err)
		}
	}
	_, err := os.Stdout.Write(buf.Bytes())
	return err
}
