package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink/clickhouse"
)

// runTriage is `tether triage set`: record an analyst's triage decision in
// the ClickHouse triage table (the same triage.Record the console writes).
func runTriage(args []string) error {
	if len(args) == 0 || args[0] != "set" {
		return fmt.Errorf("%w: usage: tether triage set --finding ID --status S [--comment C] --by WHO [--config FILE]", errConfig)
	}
	fs := flag.NewFlagSet("triage set", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration file (its clickhouse section; TETHER_* overrides apply)")
	finding := fs.String("finding", "", "finding id")
	status := fs.String("status", "", "new, acknowledged, false_positive, accepted_risk or resolved")
	comment := fs.String("comment", "", "why")
	by := fs.String("by", "", "who decides (recorded in the audit trail)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errConfig, fs.Arg(0))
	}
	st, err := triage.ParseStatus(*status)
	if err != nil {
		return err
	}
	rec := triage.Record{FindingID: *finding, Status: st, Comment: *comment, By: *by, At: time.Now().UTC().Truncate(time.Millisecond)}
	if err := rec.Validate(); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, os.Getenv)
	if err != nil {
		return err
	}
	o := clickhouse.DefaultOptions()
	o.Addr, o.Database, o.Username = cfg.ClickHouse.Addr, cfg.ClickHouse.Database, cfg.ClickHouse.Username
	if o.Password, err = cfg.clickHousePassword(); err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	if o.TLS, err = cfg.ClickHouse.TLS.build("clickhouse.tls"); err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := clickhouse.Open(ctx, o, zerolog.Nop())
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.SetTriage(ctx, rec); err != nil {
		return err
	}
	fmt.Printf("finding %s: %s by %s at %s\n", rec.FindingID, rec.Status, rec.By, rec.At.Format(time.RFC3339Nano))
	return nil
}
