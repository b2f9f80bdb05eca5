package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/control"
)

// runKeygen is `tether keygen`: a fresh Ed25519 control signing key.
func runKeygen(args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", filepath.Join(".cache", "keys", "control"), "path prefix: writes PREFIX.key (private, mode 0600) and PREFIX.pub")
	force := fs.Bool("force", false, "overwrite existing files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := control.GenerateSigner()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o700); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
		data []byte
	}{{*out + ".key", 0o600, s.PrivateKeyPEM()}, {*out + ".pub", 0o644, control.PublicKeyPEM(s.Public())}} {
		fh, err := os.OpenFile(f.path, flags, f.mode)
		if err != nil {
			return fmt.Errorf("write %s: %w (use --force to replace)", f.path, err)
		}
		_, err = fh.Write(f.data)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	fmt.Printf("key id %s\n  private: %s.key (set control.signing_key_file)\n  public:  %s.pub (give to containment consumers: control.TrustKey)\n", s.KeyID(), *out, *out)
	return nil
}

// runContain is `tether contain clear`: a human lifts a halt.
func runContain(args []string) error {
	if len(args) == 0 || args[0] != "clear" {
		return errors.New("usage: tether contain clear --agent ID [--lineage] --reason TEXT [--config FILE]")
	}
	fs := flag.NewFlagSet("contain clear", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration file (signing key, brokers, control topic)")
	agent := fs.String("agent", "", "agent whose halt is lifted")
	lineage := fs.Bool("lineage", false, "also lift the halts of the agent's sub-agents (clears a halt_lineage)")
	reason := fs.String("reason", "", "why (recorded in the command)")
	ttl := fs.Duration("ttl", time.Hour, "how long the clear stays valid for consumers that have not seen it yet")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *agent == "" || *reason == "" {
		return fmt.Errorf("%w: --agent and --reason are required", errConfig)
	}
	cfg, err := loadConfig(*cfgPath, os.Getenv)
	if err != nil {
		return err
	}
	c := clearCommand(*agent, *lineage, *reason, time.Now().UTC(), *ttl)
	sec, err := cfg.kafkaSecurity()
	if err != nil {
		return err
	}
	kopts, err := ingest.ClientOptions(sec)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Kafka.Brokers...)}, kopts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	pub := control.NewPublisher(cl, cfg.Kafka.ControlTopic)
	if cfg.Control.Signing != "disabled" {
		if pub.Signer, err = cfg.signer(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Write(ctx, &sink.Batch{Commands: []models.ContainmentCommand{c}}); err != nil {
		return err
	}
	fmt.Printf("published clear %s for %s (scope %s) on %s\n", c.ID, c.AgentID, c.Scope, pub.Topic())
	return nil
}

// clearCommand builds a human clear of agent's halt (its lineage's with
// lineage).
func clearCommand(agent string, lineage bool, reason string, now time.Time, ttl time.Duration) models.ContainmentCommand {
	c := models.ContainmentCommand{AgentID: agent, Action: models.ActionClear, Scope: models.ScopeAgent,
		Reason: "operator clear: " + reason, FindingIDs: []string{}, IssuedAt: now, ExpiresAt: now.Add(ttl)}
	if lineage {
		c.Scope = models.ScopeLineage
	}
	c.SetID()
	return c
}
