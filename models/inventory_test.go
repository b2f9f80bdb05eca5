package models_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherhq/tether/models"
)

const validInventory = `
agents:
  - id: mailer
    owner: ops@example.com
    purpose: send newsletters
    autonomy: Senior
    tools:
      - {name: read_list, labels: [private_data]}
      - {name: send_mail, labels: [public_sink]}
  - id: helper
    owner: ops@example.com
    purpose: answer questions
    peer_group: assistants
`

func TestParseInventory(t *testing.T) {
	inv, err := models.ParseInventory(strings.NewReader(validInventory))
	if err != nil {
		t.Fatal(err)
	}
	mailer, helper := inv.Agent("mailer"), inv.Agent("helper")
	if mailer == nil || helper == nil {
		t.Fatalf("agents not indexed: %+v", inv.Agents)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"autonomy normalised", mailer.Autonomy, models.AutonomySenior},
		{"default autonomy is intern", helper.Autonomy, models.AutonomyIntern},
		{"peer group defaults to purpose", mailer.PeerGroup, "send newsletters"},
		{"explicit peer group kept", helper.PeerGroup, "assistants"},
		{"tool label", mailer.Tool("send_mail").Has(models.LabelPublicSink), true},
		{"tool without label", mailer.Tool("read_list").Has(models.LabelPublicSink), false},
		{"undeclared tool", mailer.Tool("rm") == nil, true},
		{"unknown agent", inv.Agent("nobody") == nil, true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	var nilInv *models.Inventory
	if nilInv.Agent("mailer") != nil {
		t.Error("nil inventory has an agent")
	}
}

func TestParseInventoryErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		msg  string // substring of the error
	}{
		{"not YAML", "agents: [", "invalid inventory"},
		{"unknown field", "agents:\n  - id: a\n    colour: red\n", "colour"},
		{"missing id", "agents:\n  - owner: x\n", "has no id"},
		{"duplicate id", "agents:\n  - id: a\n  - id: a\n", "declared twice"},
		{"bad autonomy", "agents:\n  - id: a\n    autonomy: boss\n", "autonomy level"},
		{"tool without name", "agents:\n  - id: a\n    tools: [{labels: [destructive]}]\n", "tool without a name"},
		{"unknown label", "agents:\n  - id: a\n    tools: [{name: t, labels: [radioactive]}]\n", "unknown label"},
		{"wrong type", "agents: 3\n", "invalid inventory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := models.ParseInventory(strings.NewReader(tt.doc))
			if !errors.Is(err, models.ErrInventory) {
				t.Fatalf("err = %v, want ErrInventory", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestLoadInventoryFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "inv.yaml")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(validInventory), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"agents":[{"id":"a"},{"id":"a"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr error
		agents  int
	}{
		{"yaml file", good, nil, 2},
		{"json file with duplicate", bad, models.ErrInventory, 0},
		{"missing file", filepath.Join(dir, "none.yaml"), os.ErrNotExist, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := models.LoadInventoryFile(tt.path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && len(inv.Agents) != tt.agents {
				t.Errorf("%d agents, want %d", len(inv.Agents), tt.agents)
			}
		})
	}
}

func TestInventoryMarshalRoundTrip(t *testing.T) {
	inv, err := models.ParseInventory(strings.NewReader(validInventory))
	if err != nil {
		t.Fatal(err)
	}
	b, err := inv.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := models.ParseInventory(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("marshalled inventory does not parse: %v\n%s", err, b)
	}
	if got := again.Agent("mailer").Tool("send_mail"); got == nil || !got.Has(models.LabelPublicSink) {
		t.Errorf("round trip lost the manifest: %s", b)
	}
}
