// Package toolcap infers a tool's capability labels (models.Label) from
// what the tool declares about itself and from how it is called, so that
// the flow, identity, semantic and risk detectors can judge tools that the
// inventory does not label.
//
// Evidence, strongest first:
//
//  1. inventory labels: when a manifest entry lists labels they are used
//     as they are and nothing is inferred (Resolve);
//  2. MCP tool annotations: readOnlyHint, destructiveHint, openWorldHint
//     (idempotentHint does not change a capability). An explicit hint also
//     vetoes weaker evidence: readOnlyHint true removes public_sink,
//     destructive, execution and money; destructiveHint false removes
//     destructive; openWorldHint false removes public_sink and
//     untrusted_content;
//  3. the OpenTelemetry gen_ai.tool.type: "datastore" reads private data,
//     "extension" reaches an outside system;
//  4. the argument names of the input schema, or of observed calls, and
//     the JSON types the schema gives them (argRules);
//  5. the description's words (the name table, see Vocabulary);
//  6. the tool name's words (the same table), the last fallback.
//
// Sources 3–6 are unioned (a capability any of them shows is kept) and then
// filtered by the annotation vetoes. Every label comes with the evidence
// that produced it, so an analyst can see why a tool counts as a sink.
// The vocabularies are general tool semantics (MCP servers, OpenAI
// function tools, shell and HTTP tools), not any benchmark's tool set.
package toolcap

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"weak"

	"github.com/tetherhq/tether/models"
)

// Source names where a label came from.
type Source string

// Sources of evidence.
const (
	SourceInventory   Source = "inventory"
	SourceAnnotations Source = "annotations"
	SourceToolType    Source = "tool_type"
	SourceArguments   Source = "arguments"
	SourceDescription Source = "description"
	SourceName        Source = "name"
)

// Evidence is one reason for a label.
type Evidence struct {
	Label  models.Label
	Source Source
	// Why names what matched, e.g. "argument amount + recipient".
	Why string
}

// Inference is the outcome for one tool.
type Inference struct {
	// Labels in models.Labels order.
	Labels []models.Label
	// Evidence, one entry per (label, source) that contributed.
	Evidence []Evidence
}

// Has reports whether l was inferred.
func (in *Inference) Has(l models.Label) bool { return slices.Contains(in.Labels, l) }

// Observed is what calls of the tool showed: the argument names used (in
// any order, repeats allowed). Observed calls stand in for a schema when
// the tool has none.
type Observed struct {
	ArgNames []string
}

// Resolve returns the labels of a manifest entry: its own labels when it
// has any (nil Labels means "not declared"; an explicit empty list means
// "no capability"), otherwise the inference from its declaration.
func Resolve(spec *models.ToolSpec) []models.Label {
	if spec.Labels != nil {
		return spec.Labels
	}
	in := Infer(spec, Observed{})
	return in.Labels
}

// Infer infers the labels of a tool from its declaration (description,
// input schema, annotations, type, name) and the argument names of
// observed calls. It ignores spec.Labels (see Resolve).
func Infer(spec *models.ToolSpec, obs Observed) Inference {
	var b builder
	if t := strings.ToLower(spec.Type); t != "" {
		switch t {
		case "datastore":
			b.add(models.LabelPrivateData, SourceToolType, "gen_ai.tool.type datastore")
		case "extension":
			b.add(models.LabelUntrustedContent, SourceToolType, "gen_ai.tool.type extension")
		}
	}
	args := schemaArgs(spec.InputSchema)
	for _, n := range obs.ArgNames {
		if !slices.ContainsFunc(args, func(a arg) bool { return a.name == n }) {
			args = append(args, arg{name: n})
		}
	}
	inferArgs(&b, args)
	inferText(&b, spec.Description, SourceDescription)
	inferText(&b, spec.Name, SourceName)
	readerDefault(&b)
	if a := spec.Annotations; a != nil {
		applyAnnotations(&b, a)
	}
	return b.result()
}

// FromCall infers labels for a tool known only from one call: its name and
// the argument object's keys (args may be nil or not an object).
func FromCall(name string, argNames []string) Inference {
	return Infer(&models.ToolSpec{Name: name}, Observed{ArgNames: argNames})
}

type builder struct {
	ev  []Evidence
	set uint16
	// veto removes labels after the union.
	veto uint16
	// reader: a reading verb in the name or description; selectors: the
	// arguments only select what to read; mutates: a mutating verb or a
	// payload argument. They decide the private_data default.
	reader, selectors, mutates bool
}

func bit(l models.Label) uint16 { return 1 << slices.Index(models.Labels, l) }

func (b *builder) add(l models.Label, s Source, why string) {
	for _, e := range b.ev {
		if e.Label == l && e.Source == s {
			return
		}
	}
	b.set |= bit(l)
	b.ev = append(b.ev, Evidence{Label: l, Source: s, Why: why})
}

func (b *builder) has(l models.Label) bool { return b.set&bit(l) != 0 }

func (b *builder) effect() bool {
	return b.has(models.LabelPublicSink) || b.has(models.LabelDestructive) || b.has(models.LabelExecution) || b.has(models.LabelMoney)
}

func (b *builder) result() Inference {
	set := b.set &^ b.veto
	in := Inference{}
	for _, l := range models.Labels {
		if set&bit(l) != 0 {
			in.Labels = append(in.Labels, l)
		}
	}
	for _, e := range b.ev {
		if set&bit(e.Label) != 0 {
			in.Evidence = append(in.Evidence, e)
		}
	}
	return in
}

func applyAnnotations(b *builder, a *models.ToolAnnotations) {
	ro := a.ReadOnlyHint != nil && *a.ReadOnlyHint
	if ro {
		b.veto |= bit(models.LabelPublicSink) | bit(models.LabelDestructive) | bit(models.LabelExecution) | bit(models.LabelMoney)
		if !b.has(models.LabelUntrustedContent) {
			b.add(models.LabelPrivateData, SourceAnnotations, "readOnlyHint")
		}
	}
	if a.DestructiveHint != nil {
		if *a.DestructiveHint && !ro {
			b.add(models.LabelDestructive, SourceAnnotations, "destructiveHint")
		} else if !*a.DestructiveHint {
			b.veto |= bit(models.LabelDestructive)
		}
	}
	if a.OpenWorldHint != nil {
		switch {
		case *a.OpenWorldHint && ro:
			b.add(models.LabelUntrustedContent, SourceAnnotations, "openWorldHint on a read-only tool")
			// it reads the outside world: private_data only on stronger
			// evidence than a reading verb
			if !slices.ContainsFunc(b.ev, func(e Evidence) bool {
				return e.Label == models.LabelPrivateData && (e.Source == SourceToolType || e.Source == SourceDescription)
			}) {
				b.veto |= bit(models.LabelPrivateData)
			}
		case *a.OpenWorldHint:
			b.add(models.LabelPublicSink, SourceAnnotations, "openWorldHint on a tool that changes its environment")
		default:
			b.veto |= bit(models.LabelPublicSink) | bit(models.LabelUntrustedContent)
		}
	}
}

// readerDefault labels a tool private_data when nothing shows a side
// effect and something says it reads: a reading verb in its name or
// description, or selector-only arguments.
func readerDefault(b *builder) {
	if b.effect() || b.has(models.LabelPrivateData) || b.has(models.LabelUntrustedContent) && !b.reader {
		return
	}
	switch {
	case b.reader:
		b.add(models.LabelPrivateData, SourceName, "reading verb without side effects")
	case b.selectors && !b.mutates:
		b.add(models.LabelPrivateData, SourceArguments, "selector arguments only")
	}
}

// Words splits an identifier or text into lower-case words: on anything
// that is not a letter or digit, and at lower-to-upper case changes
// (camelCase).
func Words(s string) []string {
	var out []string
	start := -1
	flush := func(i int) {
		if start >= 0 {
			out = append(out, strings.ToLower(s[start:i]))
			start = -1
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
		if !alnum {
			flush(i)
			continue
		}
		if start >= 0 && c >= 'A' && c <= 'Z' && s[i-1] >= 'a' && s[i-1] <= 'z' {
			flush(i)
		}
		if start < 0 {
			start = i
		}
	}
	flush(len(s))
	return out
}

// AppendArgNames appends the top-level keys of the JSON object args to
// names, skipping names already present, and returns the result. Anything
// that is not a JSON object adds nothing.
func AppendArgNames(names []string, args json.RawMessage) []string {
	var m map[string]json.RawMessage
	if json.Unmarshal(args, &m) != nil {
		return names
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	return names
}

// LabelInventory returns inv with every tool whose labels are not declared
// (nil) labelled by inference from its declaration (Resolve). inv itself
// is not modified: when some tool needs labels a copy is returned, else
// inv. A nil inventory stays nil. The copy made last is reused for the
// same inventory under the same vocabulary (Use), so the engines of one
// consumer (one per partition) share one copy instead of one each (about
// 1.3 KB per agent of a fleet-like manifest); neither inv nor the result
// may be modified.
func LabelInventory(inv *models.Inventory) *models.Inventory {
	if inv == nil {
		return nil
	}
	v := current.Load()
	lastLabelled.Lock()
	defer lastLabelled.Unlock()
	if lastLabelled.in.Value() == inv && lastLabelled.vocab == v {
		if out := lastLabelled.out.Value(); out != nil {
			return out
		}
	}
	out := labelInventory(inv)
	lastLabelled.in, lastLabelled.out, lastLabelled.vocab = weak.Make(inv), weak.Make(out), v
	return out
}

// lastLabelled memoises the last LabelInventory. Its pointers are weak: the
// memo keeps neither inventory alive once no engine uses them.
var lastLabelled struct {
	sync.Mutex
	in, out weak.Pointer[models.Inventory]
	vocab   *Vocabulary
}

// labelInventory is LabelInventory without the memo.
func labelInventory(inv *models.Inventory) *models.Inventory {
	need := false
	for i := range inv.Agents {
		for j := range inv.Agents[i].Tools {
			if inv.Agents[i].Tools[j].Labels == nil {
				need = true
			}
		}
	}
	if !need {
		return inv
	}
	out := &models.Inventory{Agents: make([]models.AgentSpec, len(inv.Agents))}
	for i, a := range inv.Agents {
		a.Tools = slices.Clone(a.Tools)
		for j := range a.Tools {
			if a.Tools[j].Labels == nil {
				a.Tools[j].Labels = Infer(&a.Tools[j], Observed{}).Labels
				if a.Tools[j].Labels == nil {
					a.Tools[j].Labels = []models.Label{}
				}
			}
		}
		out.Agents[i] = a
	}
	if err := out.Index(); err != nil {
		return inv // inv was valid; a copy with valid labels is too
	}
	return out
}
