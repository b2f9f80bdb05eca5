package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/tetherhq/tether/bench/eval"
	"github.com/tetherhq/tether/models"
)

// runEval replays a labelled stream through the production detectors and
// scores them (see bench/eval/README.md).
func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	events := fs.String("events", "", "events JSONL file (models.Event per line)")
	labels := fs.String("labels", "", "labels JSONL file (one line per session)")
	invPath := fs.String("inventory", "", "agent inventory YAML (optional; without it every agent is unregistered)")
	jsonOut := fs.String("json", "", "write the JSON report here")
	plotOut := fs.String("plot", "", "write the ROC curve PNG here (optional)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
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
