// Command tether is Tether's command line: the detection daemon (run), the
// embedded demo (demo), the dataset importer (import) and the evaluation
// harness (eval).
package main

import (
	"fmt"
	"os"
)

const usage = `tether: streaming behavioural anomaly detection for AI agents

Usage:
  tether --version                            print the version, commit and Go version
  tether run    --config FILE                 run the detection daemon (Kafka in, ClickHouse + control topic out)
  tether demo   [--duration 30s] [--out DIR]  run the embedded demo: in-process broker, simulated fleet, Parquet findings
  tether import agentdojo --out DIR [--reword STYLE] PATH...
                                              convert AgentDojo runs into Tether's labelled stream format
  tether query  [--dir DIR] QUESTION [ID]     the query cookbook's questions on Parquet output (top-agents, session, finding, ...)
  tether triage set --finding ID --status S [--comment C] --by WHO [--config FILE]
                                              record a triage decision in ClickHouse (new, acknowledged, false_positive, accepted_risk, resolved)
  tether export incident (--finding ID | --agent ID) [--console URL] [--out DIR]
                                              incident timeline as JSON and print-ready HTML (NIS2 early warning, oversight log)
  tether export inventory (--inventory FILE | --console URL) [--out FILE]
                                              AI-agent asset catalogue: agents, owners, purposes, autonomy, tools, toxic paths
  tether eval   --events FILE --labels FILE [--inventory FILE] --json OUT [--plot OUT.png]
                                              replay a labelled stream through the detectors and score them
  tether eval combine [--md OUT] NAME=REPORT.json ...
                                              combined markdown tables of several reports
  tether produce (--fleet | --events FILE | --stream DIR) [--rate N] [--rebase-time] [--config FILE]
                                              replay events into the Kafka events topic, keyed as the daemon expects
  tether keygen [--out .cache/keys/control]   create the Ed25519 key that signs containment commands
  tether contain clear --agent ID [--lineage] --reason TEXT [--config FILE]
                                              publish a signed human clear that lifts a halt
  tether autonomy report [--agent ID] [--since 30d] [--json] [--config FILE]
                                              evidence for the autonomy promotion gates, per agent, from ClickHouse
  tether rules check|list|test [--config FILE] [FILE|DIR...]
                                              validate, list or test the ruleset (defaults + operator files)

Run 'tether COMMAND -h' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = runDaemon(args)
	case "demo":
		err = runDemo(args)
	case "import":
		err = runImport(args)
	case "eval":
		err = runEval(args)
	case "query":
		err = runQuery(args, os.Stdout)
	case "triage":
		err = runTriage(args)
	case "export":
		err = runExport(args, os.Stdout)
	case "--version", "-version", "version":
		if len(args) > 0 {
			fmt.Fprintf(os.Stderr, "tether: unexpected arguments after %s: %q\n", cmd, args)
			os.Exit(2)
		}
		fmt.Println(currentBuild())
		return
	case "produce":
		err = runProduce(args)
	case "keygen":
		err = runKeygen(args)
	case "contain":
		err = runContain(args)
	case "autonomy":
		err = runAutonomy(args)
	case "rules":
		err = runRules(args)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "tether: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tether %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
