package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tetherhq/tether/ingest/agentdojo"
)

// runImport converts a dataset into Tether's labelled stream format
// (events.jsonl, labels.jsonl, inventory.yaml; see bench/eval/README.md).
// Only the agentdojo source exists.
func runImport(args []string) error {
	if len(args) == 0 || args[0] != "agentdojo" {
		return errors.New("usage: tether import agentdojo --out DIR [--reword STYLE [--seed N]] PATH [PATH ...]")
	}
	fs := flag.NewFlagSet("import agentdojo", flag.ContinueOnError)
	out := fs.String("out", "", "output directory for events.jsonl, labels.jsonl and inventory.yaml")
	reword := fs.String("reword", "", "rewrite the injected text of attacked runs in this style, keeping its values ("+strings.Join(agentdojo.RewordStyles, ", ")+")")
	seed := fs.Uint64("seed", 1, "seed of the rewording's choice of phrasings")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tether import agentdojo --out DIR [--reword STYLE [--seed N]] PATH...\n\nPATH is an Invariant Explorer JSONL export, an upstream runs/ result file, or a directory holding either.\n\n")
		fs.PrintDefaults()
	}
	// Accept flags before and after the paths.
	var paths []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		paths = append(paths, rest[0])
		rest = rest[1:]
	}
	if *out == "" || len(paths) == 0 {
		fs.Usage()
		return errors.New("--out and at least one PATH are required")
	}
	start := time.Now()
	opts := agentdojo.DefaultOptions()
	opts.Reword, opts.RewordSeed = *reword, *seed
	im := agentdojo.New(opts)
	for _, p := range paths {
		if err := im.AddPath(p); err != nil {
			return err
		}
	}
	st, err := im.Write(*out)
	if err != nil {
		return err
	}
	fmt.Printf("read %d files: %d runs (skipped %d with no messages, %d injection-goal pseudo-runs)\n", st.Files, st.Runs, st.SkippedEmpty, st.SkippedPseudo)
	fmt.Printf("wrote %d agents, %d sessions (%d clean, %d attacked, %d hijacked; harm step found for %d of the hijacked), %d events to %s in %s\n",
		st.Agents, st.Sessions, st.Clean, st.Attacked, st.Hijacked, st.HarmStepKnown, st.Events, *out, time.Since(start).Round(time.Millisecond))
	return nil
}
