package toolcap_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector/toolcap"
	"github.com/tetherhq/tether/ingest/agentdojo"
	"github.com/tetherhq/tether/models"
)

// TestAgentDojoCoverage reports label coverage on the AgentDojo tool set
// (../shared/datasets/agentdojo; skipped when absent): the number of tools
// with at least one label from the name table alone (before) and from
// toolcap's inference over the names and observed argument names (after).
// Run: go test ./detector/toolcap -run AgentDojoCoverage -v
func TestAgentDojoCoverage(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "datasets", "agentdojo")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("AgentDojo data not present:", err)
	}
	im := agentdojo.New(agentdojo.DefaultOptions())
	if err := im.AddPath(dir); err != nil {
		t.Fatal(err)
	}
	res, err := im.Convert()
	if err != nil {
		t.Fatal(err)
	}
	args := map[string][]string{}
	for i := range res.Events {
		ev := &res.Events[i]
		if ev.Kind == models.KindToolCall {
			args[ev.ToolName] = toolcap.AppendArgNames(args[ev.ToolName], json.RawMessage(ev.Arguments))
		}
	}
	var names []string
	for n := range args {
		names = append(names, n)
	}
	slices.Sort(names)
	before, after, nameOnly, argsOnly := 0, 0, 0, 0
	perLabel := map[models.Label][2]int{}
	for _, n := range names {
		old := agentdojo.ToolLabels(n)
		in := toolcap.Infer(&models.ToolSpec{Name: n}, toolcap.Observed{ArgNames: args[n]})
		no := toolcap.Infer(&models.ToolSpec{Name: n}, toolcap.Observed{})
		if blind := toolcap.Infer(&models.ToolSpec{Name: "tool"}, toolcap.Observed{ArgNames: args[n]}); len(blind.Labels) > 0 {
			argsOnly++
		}
		if len(old) > 0 {
			before++
		}
		if len(in.Labels) > 0 {
			after++
		}
		if len(no.Labels) > 0 {
			nameOnly++
		}
		for _, l := range models.Labels {
			c := perLabel[l]
			if slices.Contains(old, l) {
				c[0]++
			}
			if in.Has(l) {
				c[1]++
			}
			perLabel[l] = c
		}
		if !slices.Equal(old, in.Labels) {
			t.Logf("%-45s name table %v -> inferred %v (%v)", n, old, in.Labels, in.Evidence)
		}
	}
	t.Logf("AgentDojo tools: %d; labelled by the name table %d, by toolcap names only %d, by toolcap names + observed arguments %d, by observed arguments alone (names hidden) %d",
		len(names), before, nameOnly, after, argsOnly)
	for _, l := range models.Labels {
		t.Logf("  %-18s name table %3d  inferred %3d", l, perLabel[l][0], perLabel[l][1])
	}
	if after < before {
		t.Errorf("inference labels %d tools, fewer than the name table's %d", after, before)
	}
}

// TestAgentDojoDeclaredCoverage measures inference from published tool
// declarations (description + JSON Schema) on AgentDojo's own tool
// definitions, exported by bench/toolcap/agentdojo_tools.py into the file
// named by TOOLCAP_TOOLS (skipped when unset):
//
//	"$(bench/corpus/setup.sh)" bench/toolcap/agentdojo_tools.py > out/agentdojo-tools.jsonl
//	TOOLCAP_TOOLS=$PWD/out/agentdojo-tools.jsonl go test ./detector/toolcap -run DeclaredCoverage -v
func TestAgentDojoDeclaredCoverage(t *testing.T) {
	path := os.Getenv("TOOLCAP_TOOLS")
	if path == "" {
		t.Skip("TOOLCAP_TOOLS not set")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tools []models.ToolSpec
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var spec models.ToolSpec
		if err := json.Unmarshal([]byte(line), &spec); err != nil {
			t.Fatal(err)
		}
		tools = append(tools, spec)
	}
	var table, full, blind, agree int
	for i := range tools {
		spec := &tools[i]
		old := agentdojo.ToolLabels(spec.Name)
		in := toolcap.Infer(spec, toolcap.Observed{})
		hidden := *spec
		hidden.Name = "tool"
		bl := toolcap.Infer(&hidden, toolcap.Observed{})
		if len(old) > 0 {
			table++
		}
		if len(in.Labels) > 0 {
			full++
		}
		if len(bl.Labels) > 0 {
			blind++
		}
		covers := true
		for _, l := range old {
			covers = covers && bl.Has(l)
		}
		if covers {
			agree++
		} else {
			t.Logf("%-40s name table %v; from description + schema only %v (%q)", spec.Name, old, bl.Labels, spec.Description)
		}
	}
	t.Logf("AgentDojo declared tools: %d; labelled by the name table %d, by toolcap (declaration + name) %d, by description + schema alone (names hidden) %d; description + schema alone give every name-table label on %d",
		len(tools), table, full, blind, agree)
}

// TestEventsCoverage reports label coverage on any Tether events stream
// (bench/eval/README.md format) named by TOOLCAP_EVENTS (skipped when
// unset): distinct tool names, and how many get at least one capability
// label from toolcap.FromCall over the name and the argument names seen in
// the stream (what the detectors use when there is no inventory), per
// label. E.g. the harm development set:
//
//	python3 bench/harmset/generate.py --out out/harmset
//	TOOLCAP_EVENTS=$PWD/out/harmset/events.jsonl go test ./detector/toolcap -run EventsCoverage -v
func TestEventsCoverage(t *testing.T) {
	path := os.Getenv("TOOLCAP_EVENTS")
	if path == "" {
		t.Skip("TOOLCAP_EVENTS not set")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	args := map[string][]string{}
	for sc.Scan() {
		var ev models.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kind == models.KindToolCall {
			args[ev.ToolName] = toolcap.AppendArgNames(args[ev.ToolName], ev.Arguments)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	labelled := 0
	perLabel := map[models.Label]int{}
	for n, keys := range args {
		in := toolcap.FromCall(n, keys)
		if len(in.Labels) > 0 {
			labelled++
		}
		for _, l := range in.Labels {
			perLabel[l]++
		}
		t.Logf("%-32s %v", n, in.Labels)
	}
	t.Logf("%s: %d tool names, %d with a capability label", path, len(args), labelled)
	for _, l := range models.Labels {
		t.Logf("  %-18s %3d", l, perLabel[l])
	}
}
