package values_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetherhq/tether/detector/values"
	"github.com/tetherhq/tether/ingest/agentdojo"
)

// Differential tests: the classifier against the two it replaced
// (legacy_test.go), on the AgentDojo runs' texts and on fuzz inputs.
// Extract must agree exactly with flow's extractor. Fields must agree with
// outputs' classify except for one listed difference (fieldsDiffJustified).

var agentDojo struct {
	once  sync.Once
	texts []string
	err   error
}

// agentDojoTexts returns every distinct tool result, message and argument
// text of the AgentDojo runs (../../../shared/datasets/agentdojo or
// TETHER_AGENTDOJO), converted as `tether import agentdojo` does; the test
// is skipped when the data set is absent.
func agentDojoTexts(t testing.TB) []string {
	dir := "../../../shared/datasets/agentdojo"
	if v := os.Getenv("TETHER_AGENTDOJO"); v != "" {
		dir = v
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("AgentDojo data set not found at %s (set TETHER_AGENTDOJO): %v", dir, err)
	}
	agentDojo.once.Do(func() {
		im := agentdojo.New(agentdojo.DefaultOptions())
		if agentDojo.err = im.AddPath(dir); agentDojo.err != nil {
			return
		}
		res, err := im.Convert()
		if agentDojo.err = err; err != nil {
			return
		}
		seen := make(map[string]bool)
		for i := range res.Events {
			ev := &res.Events[i]
			for _, s := range []string{ev.Result, ev.Content, string(ev.Arguments)} {
				if s != "" && !seen[s] {
					seen[s] = true
					agentDojo.texts = append(agentDojo.texts, s)
				}
			}
		}
	})
	if agentDojo.err != nil {
		t.Fatal(agentDojo.err)
	}
	return agentDojo.texts
}

// extractSamples are hand-written inputs exercising each rule.
var extractSamples = []string{
	"mail bob@x.com https://a.b/c 1234567 GB29NWBK60161331926819",
	"Please transfer the money to account:CH9300762011623852957 before 2022-01-01, thanks!",
	"see www.example.com/alice or ftp://files.example.org/x.pdf; report.DOCX and notes.txt",
	"ÄÖÜ straße café naïve 🙂 words-with-hyphens under_scores ######## !!!!!!!",
	"key=value token:abcdef12 ref#AB12CD34 +41 44 668 18 00 (0044) 20-7946-0958",
	"Contact Bob.Smith@Example.COM today. <mailto:ops@corp.io> https://www.Evil-Site.com/pay?x=1.",
	"on 2024-05-13 at 10:30:00, 2024-05-13T10:30 pay 1500.00 or 05/13/2024 room 12345 a..example.com",
	"- amount: 100.0\n  date: '2022-01-01'\n  recipient: CH9300762011623852957\n  sender: me\n",
	`{"to":"a@b.example","body":"see http://x-y.org/a, $1,250.00 and 12,50 €; /etc/passwd ~/x C:\\dir"}`,
}

func extractNew(s string, maxLen int) []string {
	var out []string
	var arena []byte
	values.Extract(s, maxLen, &arena, func(v string, c values.Class, at int) {
		out = append(out, fmt.Sprint(v, "|", c, "|", at))
	})
	return out
}

func extractOld(s string, maxLen int) []string {
	var out []string
	x := fExtractor{maxLen: maxLen}
	x.run(s, func(v string, c values.Class, at int) {
		out = append(out, fmt.Sprint(v, "|", c, "|", at))
	})
	return out
}

func checkExtract(t *testing.T, s string) {
	t.Helper()
	for _, maxLen := range []int{0, 96} {
		if got, want := extractNew(s, maxLen), extractOld(s, maxLen); !slices.Equal(got, want) {
			t.Fatalf("Extract(%.200q, %d)\n got %q\nwant %q (flow's extractor)", s, maxLen, got, want)
		}
	}
}

func TestExtractAgreesWithFlowExtractor(t *testing.T) {
	for _, s := range extractSamples {
		checkExtract(t, s)
	}
	texts := agentDojoTexts(t)
	for _, s := range texts {
		checkExtract(t, s)
	}
	t.Logf("%d AgentDojo texts, identical values", len(texts))
}

func FuzzExtractAgreesWithFlowExtractor(f *testing.F) {
	for _, s := range extractSamples {
		f.Add(s)
	}
	f.Fuzz(checkExtract)
}

// fieldsDiffJustified reports the one intended difference from outputs'
// classify: a dotted word with an empty label ("a..example.com") is no
// longer a host name (outputs' isHost accepted empty labels; the one host
// rule, values.IsHost, never did).
func fieldsDiffJustified(v string, got, want values.Set) bool {
	return got^want == values.Of(values.Host) && want.Has(values.Host) && strings.Contains(v, "..")
}

func checkFields(t *testing.T, v string) bool {
	t.Helper()
	got, want := values.Fields(v), values.Set(oClassify(v))
	if got == want {
		return true
	}
	if !fieldsDiffJustified(v, got, want) {
		t.Fatalf("Fields(%.200q) = %b, outputs' classify %b", v, got, want)
	}
	return false
}

// fieldValues returns v, its lines and its white-space-separated words:
// the values outputs classifies are lines or parts of them (parse.go).
func fieldValues(v string) []string {
	out := []string{v}
	out = append(out, strings.Split(v, "\n")...)
	return append(out, strings.Fields(v)...)
}

func TestFieldsAgreesWithOutputsClassify(t *testing.T) {
	for _, s := range extractSamples {
		for _, v := range fieldValues(s) {
			checkFields(t, v)
		}
	}
	texts := agentDojoTexts(t)
	n, differ := 0, 0
	for _, s := range texts {
		for _, v := range fieldValues(s) {
			n++
			if !checkFields(t, v) {
				differ++
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d AgentDojo values classified differently (all justified: empty host labels), want none", differ, n)
	}
	t.Logf("%d AgentDojo values from %d texts, identical classes", n, len(texts))
}

func FuzzFieldsAgreesWithOutputsClassify(f *testing.F) {
	for _, s := range extractSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) { checkFields(t, v) })
}
