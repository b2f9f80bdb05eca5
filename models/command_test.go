package models

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func sampleCommand() ContainmentCommand {
	at := time.Date(2026, 2, 2, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	c := ContainmentCommand{AgentID: "a", SessionID: "s", CredentialID: "c", RootAgentID: "r", Action: ActionHaltLineage,
		AutonomyBefore: AutonomySenior, TargetAutonomy: AutonomyIntern, Severity: 95, Reason: "why",
		FindingIDs: []string{"f1", "f2"}, IssuedAt: at, ExpiresAt: at.Add(time.Hour), KeyID: "k"}
	c.SetID()
	return c
}

// TestSigningBytesSurviveJSON: what a consumer decodes signs the same bytes
// as what the daemon encoded (time zones and nanoseconds included).
func TestSigningBytesSurviveJSON(t *testing.T) {
	c := sampleCommand()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var d ContainmentCommand
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.SigningBytes(), d.SigningBytes()) || d.ComputeID() != c.ID || c.Version != CommandVersion || c.Scope != ScopeLineage {
		t.Fatalf("decoded command signs different bytes or has another id:\n%q\n%q", c.SigningBytes(), d.SigningBytes())
	}
}

// TestSigningBytesCoverEveryField: changing any field but the signature
// changes the signed bytes; the signature itself is not signed.
func TestSigningBytesCoverEveryField(t *testing.T) {
	base := sampleCommand()
	tests := []struct {
		name string
		edit func(*ContainmentCommand)
	}{
		{"version", func(c *ContainmentCommand) { c.Version = 2 }},
		{"id", func(c *ContainmentCommand) { c.ID = "x" }},
		{"agent", func(c *ContainmentCommand) { c.AgentID = "b" }},
		{"session", func(c *ContainmentCommand) { c.SessionID = "t" }},
		{"credential", func(c *ContainmentCommand) { c.CredentialID = "d" }},
		{"root", func(c *ContainmentCommand) { c.RootAgentID = "q" }},
		{"scope", func(c *ContainmentCommand) { c.Scope = ScopeAgent }},
		{"action", func(c *ContainmentCommand) { c.Action = ActionReview }},
		{"before", func(c *ContainmentCommand) { c.AutonomyBefore = AutonomyJunior }},
		{"target", func(c *ContainmentCommand) { c.TargetAutonomy = AutonomyJunior }},
		{"severity", func(c *ContainmentCommand) { c.Severity = 94 }},
		{"reason", func(c *ContainmentCommand) { c.Reason = "other" }},
		{"finding moved between fields", func(c *ContainmentCommand) { c.FindingIDs = []string{"f1f2"} }},
		{"findings", func(c *ContainmentCommand) { c.FindingIDs = []string{"f1"} }},
		{"issued", func(c *ContainmentCommand) { c.IssuedAt = c.IssuedAt.Add(time.Nanosecond) }},
		{"expires", func(c *ContainmentCommand) { c.ExpiresAt = c.ExpiresAt.Add(time.Second) }},
		{"key", func(c *ContainmentCommand) { c.KeyID = "k2" }},
		{"field boundary", func(c *ContainmentCommand) { c.AgentID, c.SessionID = "as", "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			c.FindingIDs = append([]string(nil), base.FindingIDs...)
			tt.edit(&c)
			if bytes.Equal(c.SigningBytes(), base.SigningBytes()) {
				t.Fatal("the signed bytes did not change")
			}
		})
	}
	c := base
	c.Signature = "sig"
	if !bytes.Equal(c.SigningBytes(), base.SigningBytes()) {
		t.Fatal("the signature is part of the signed bytes")
	}
}

// TestCommandIDs: the id is content-derived and distinguishes what a
// consumer acts on; human clears without findings differ by time.
func TestCommandIDs(t *testing.T) {
	a := sampleCommand()
	b := sampleCommand()
	if a.ID != b.ID {
		t.Fatal("same content, different ids")
	}
	b.CredentialID = "other"
	if b.ComputeID() == a.ID {
		t.Fatal("the credential is not part of the id")
	}
	c1 := ContainmentCommand{AgentID: "a", Action: ActionClear, IssuedAt: a.IssuedAt}
	c2 := c1
	c2.IssuedAt = c2.IssuedAt.Add(time.Second)
	if c1.ComputeID() == c2.ComputeID() {
		t.Fatal("two clears of one agent share an id")
	}
	for _, act := range Actions {
		if !act.Known() {
			t.Errorf("%s not known", act)
		}
	}
	if Action("self_destruct").Known() {
		t.Error("an unknown action is known")
	}
}
