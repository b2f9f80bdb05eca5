package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/tetherhq/tether/detector/containment"
	"github.com/tetherhq/tether/sink/control"
)

// containmentConfig is the `containment` section: the containment policy
// (see detector/containment and the README's "Containment policy"). It is
// reloaded on SIGHUP; a reload that does not validate is refused and the
// policy in force stays.
type containmentConfig struct {
	// Severity thresholds (0 disables an action), lowered by
	// autonomy_discount per level below principal.
	ReviewAt          uint8 `yaml:"review_at"`
	RequireApprovalAt uint8 `yaml:"require_approval_at"`
	SuspendAt         uint8 `yaml:"suspend_at"`
	RevokeAt          uint8 `yaml:"revoke_at"`
	HaltAt            uint8 `yaml:"halt_at"`
	AutonomyDiscount  uint8 `yaml:"autonomy_discount"`
	// TTL is how long a command stays in force.
	TTL time.Duration `yaml:"ttl"`
	// Rate limits in commands at once (burst) and per minute of event
	// time; a burst of 0 disables that limit.
	AgentBurst       int     `yaml:"agent_burst"`
	AgentPerMinute   float64 `yaml:"agent_per_minute"`
	LineageBurst     int     `yaml:"lineage_burst"`
	LineagePerMinute float64 `yaml:"lineage_per_minute"`
	FleetBurst       int     `yaml:"fleet_burst"`
	FleetPerMinute   float64 `yaml:"fleet_per_minute"`
	FleetReserve     int     `yaml:"fleet_reserve"`
	// BreakerHeld held-back commands within a minute trip the circuit
	// breaker (0 disables it).
	BreakerHeld int `yaml:"breaker_held"`
	// Rules add actions per finding kind, severity and autonomy level.
	Rules []containment.Rule `yaml:"rules"`
}

func defaultContainmentConfig() containmentConfig {
	o := containment.DefaultOptions()
	return containmentConfig{
		ReviewAt: o.ReviewAt, RequireApprovalAt: o.RequireApprovalAt, SuspendAt: o.SuspendAt, RevokeAt: o.RevokeAt,
		HaltAt: o.HaltAt, AutonomyDiscount: o.AutonomyDiscount, TTL: o.TTL,
		AgentBurst: o.AgentBurst, AgentPerMinute: o.AgentPerMinute, LineageBurst: o.LineageBurst, LineagePerMinute: o.LineagePerMinute,
		FleetBurst: o.FleetBurst, FleetPerMinute: o.FleetPerMinute, FleetReserve: o.FleetReserve, BreakerHeld: o.BreakerHeld,
	}
}

// options returns the policy options of the section, validated.
func (c containmentConfig) options() (containment.Options, error) {
	o := containment.DefaultOptions()
	o.ReviewAt, o.RequireApprovalAt, o.SuspendAt, o.RevokeAt, o.HaltAt = c.ReviewAt, c.RequireApprovalAt, c.SuspendAt, c.RevokeAt, c.HaltAt
	o.AutonomyDiscount, o.TTL = c.AutonomyDiscount, c.TTL
	o.AgentBurst, o.AgentPerMinute, o.LineageBurst, o.LineagePerMinute = c.AgentBurst, c.AgentPerMinute, c.LineageBurst, c.LineagePerMinute
	o.FleetBurst, o.FleetPerMinute, o.FleetReserve, o.BreakerHeld = c.FleetBurst, c.FleetPerMinute, c.FleetReserve, c.BreakerHeld
	o.Rules = c.Rules
	var errs []error
	for name, v := range map[string]uint8{"review_at": c.ReviewAt, "require_approval_at": c.RequireApprovalAt, "suspend_at": c.SuspendAt, "revoke_at": c.RevokeAt, "halt_at": c.HaltAt} {
		if v > 100 {
			errs = append(errs, fmt.Errorf("containment.%s %d exceeds 100", name, v))
		}
	}
	if c.TTL <= 0 {
		errs = append(errs, errors.New("containment.ttl must be positive"))
	}
	if c.AgentBurst < 0 || c.LineageBurst < 0 || c.FleetBurst < 0 || c.FleetReserve < 0 || c.BreakerHeld < 0 ||
		c.AgentPerMinute < 0 || c.LineagePerMinute < 0 || c.FleetPerMinute < 0 {
		errs = append(errs, errors.New("containment rate limits must not be negative"))
	}
	if err := o.Validate(); err != nil {
		errs = append(errs, err)
	}
	return o, errors.Join(errs...)
}

// signer loads the control signing key: control.signing_key (the PEM, from
// TETHER_CONTROL_SIGNING_KEY) or control.signing_key_file. Errors name
// the setting, never the key.
func (c *Config) signer() (*control.Signer, error) {
	switch {
	case c.Control.SigningKey != "" && c.Control.SigningKeyFile != "":
		return nil, errors.New("control.signing_key and control.signing_key_file are both set (use one)")
	case c.Control.SigningKey != "":
		s, err := control.ParseSigner([]byte(c.Control.SigningKey.Reveal()))
		if err != nil {
			return nil, fmt.Errorf("control.signing_key: %w", err)
		}
		return s, nil
	case c.Control.SigningKeyFile != "":
		s, err := control.LoadSignerFile(c.Control.SigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("control.signing_key_file: %w", err)
		}
		return s, nil
	}
	return nil, errors.New("control.signing is required but no signing key is configured: run `tether keygen` and set control.signing_key_file (or TETHER_CONTROL_SIGNING_KEY_FILE), or set control.signing: disabled")
}
