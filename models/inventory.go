package models

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Label is a capability label on a tool in an agent's manifest.
type Label string

// Capability labels.
const (
	// LabelPrivateData: the tool reads data that must not leave the organisation.
	LabelPrivateData Label = "private_data"
	// LabelUntrustedContent: the tool returns content an outsider can write.
	LabelUntrustedContent Label = "untrusted_content"
	// LabelPublicSink: the tool sends data where outsiders can read it.
	LabelPublicSink Label = "public_sink"
	// LabelDestructive: the tool deletes, pays, or changes state irreversibly.
	LabelDestructive Label = "destructive"
	// LabelExecution: the tool runs code or commands the agent supplies.
	LabelExecution Label = "execution"
	// LabelMoney: the tool moves or commits money.
	LabelMoney Label = "money"
)

// Labels lists every valid label. New labels are appended: detectors keep
// bit sets indexed by position in their state.
var Labels = []Label{LabelPrivateData, LabelUntrustedContent, LabelPublicSink, LabelDestructive, LabelExecution, LabelMoney}

// ToolSpec declares one tool an agent is granted. Labels, when present,
// are authoritative; otherwise detector/toolcap infers them from the
// optional description, input schema, MCP annotations and OTel tool type
// (and, last, from the name).
type ToolSpec struct {
	Name        string   `yaml:"name" json:"name"`
	Labels      []Label  `yaml:"labels,omitempty" json:"labels,omitempty"`
	DataClasses []string `yaml:"data_classes,omitempty" json:"data_classes,omitempty"`
	// Description is the tool's natural-language description (MCP
	// "description", OpenAI function "description").
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// InputSchema is the JSON Schema of the tool's arguments (MCP
	// "inputSchema", OpenAI function "parameters").
	InputSchema map[string]any `yaml:"input_schema,omitempty" json:"input_schema,omitempty"`
	// Annotations are the MCP tool annotations, when the server gives them.
	Annotations *ToolAnnotations `yaml:"annotations,omitempty" json:"annotations,omitempty"`
	// Type is the OpenTelemetry gen_ai.tool.type: "function", "extension"
	// (calls an external API) or "datastore" (retrieves from a data store).
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
}

// ToolAnnotations are the MCP tool annotation hints (names as in the MCP
// specification). They are hints from the tool's server, not guarantees;
// nil means the server did not say.
type ToolAnnotations struct {
	// ReadOnlyHint: the tool does not modify its environment.
	ReadOnlyHint *bool `yaml:"readOnlyHint,omitempty" json:"readOnlyHint,omitempty"`
	// DestructiveHint: the tool may perform destructive updates.
	DestructiveHint *bool `yaml:"destructiveHint,omitempty" json:"destructiveHint,omitempty"`
	// IdempotentHint: repeated calls with the same arguments have no extra effect.
	IdempotentHint *bool `yaml:"idempotentHint,omitempty" json:"idempotentHint,omitempty"`
	// OpenWorldHint: the tool interacts with an open world of external entities.
	OpenWorldHint *bool `yaml:"openWorldHint,omitempty" json:"openWorldHint,omitempty"`
}

// Has reports whether the tool carries label l.
func (t *ToolSpec) Has(l Label) bool { return slices.Contains(t.Labels, l) }

// AgentSpec is one agent's inventory entry: who it is, who authorised it,
// what it is for, how autonomous it may be, and what it may touch.
type AgentSpec struct {
	ID       string   `yaml:"id" json:"id"`
	Name     string   `yaml:"name,omitempty" json:"name,omitempty"`
	Owner    string   `yaml:"owner" json:"owner"`
	Purpose  string   `yaml:"purpose" json:"purpose"`
	Autonomy Autonomy `yaml:"autonomy" json:"autonomy"`
	// PeerGroup groups agents judged together during cold start; defaults to
	// the declared purpose.
	PeerGroup string     `yaml:"peer_group,omitempty" json:"peer_group,omitempty"`
	Tools     []ToolSpec `yaml:"tools" json:"tools"`
	// DesignedFlows lists capability paths the owner declared as intended,
	// e.g. "private_data->public_sink".
	DesignedFlows []string `yaml:"designed_flows,omitempty" json:"designed_flows,omitempty"`
}

// Tool returns the manifest entry for name, or nil.
func (a *AgentSpec) Tool(name string) *ToolSpec {
	for i := range a.Tools {
		if a.Tools[i].Name == name {
			return &a.Tools[i]
		}
	}
	return nil
}

// Inventory is the set of declared agents.
type Inventory struct {
	Agents []AgentSpec `yaml:"agents" json:"agents"`
	byID   map[string]*AgentSpec
}

// ErrInventory is wrapped by every inventory loading or validation error.
var ErrInventory = errors.New("invalid inventory")

// LoadInventoryFile reads and validates an inventory from a YAML or JSON file
// (JSON is valid YAML).
func LoadInventoryFile(path string) (*Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open inventory: %w", err)
	}
	defer f.Close()
	inv, err := ParseInventory(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

// ParseInventory reads and validates an inventory document.
func ParseInventory(r io.Reader) (*Inventory, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	var inv Inventory
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&inv); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %v", ErrInventory, err)
	}
	if err := inv.Index(); err != nil {
		return nil, err
	}
	return &inv, nil
}

// Index validates the entries and builds the id lookup. It must be called
// after Agents is modified.
func (inv *Inventory) Index() error {
	inv.byID = make(map[string]*AgentSpec, len(inv.Agents))
	for i := range inv.Agents {
		a := &inv.Agents[i]
		if a.ID == "" {
			return fmt.Errorf("%w: agent #%d has no id", ErrInventory, i+1)
		}
		if _, dup := inv.byID[a.ID]; dup {
			return fmt.Errorf("%w: agent %q declared twice", ErrInventory, a.ID)
		}
		lvl, err := ParseAutonomy(string(a.Autonomy))
		if err != nil {
			return fmt.Errorf("%w: agent %q: %v", ErrInventory, a.ID, err)
		}
		if lvl == "" {
			lvl = AutonomyIntern
		}
		a.Autonomy = lvl
		if a.PeerGroup == "" {
			a.PeerGroup = a.Purpose
		}
		for _, t := range a.Tools {
			if t.Name == "" {
				return fmt.Errorf("%w: agent %q has a tool without a name", ErrInventory, a.ID)
			}
			for _, l := range t.Labels {
				if !slices.Contains(Labels, l) {
					return fmt.Errorf("%w: agent %q tool %q: unknown label %q", ErrInventory, a.ID, t.Name, l)
				}
			}
		}
		inv.byID[a.ID] = a
	}
	return nil
}

// Agent returns the entry for id, or nil when the agent is not registered.
// A nil inventory has no agents.
func (inv *Inventory) Agent(id string) *AgentSpec {
	if inv == nil {
		return nil
	}
	return inv.byID[id]
}

// Marshal renders the inventory as YAML.
func (inv *Inventory) Marshal() ([]byte, error) { return yaml.Marshal(inv) }
