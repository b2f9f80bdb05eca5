package atr

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tetherhq/tether/models"
)

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		pattern string
		want    [][]string // nil: no prefilter
	}{
		{`ignore previous instructions`, [][]string{{"IGNORE PREVIOUS INSTRUCTIONS"}}},
		{`(?i)ignore\s+(all\s+)?previous`, [][]string{{"PREVIOUS"}, {"IGNORE"}}},
		{`(?i)(ignore|disregard|forget)\s+.{0,20}instructions`, [][]string{{"INSTRUCTIONS"}, {"IGNORE", "DISREGARD", "FORGET"}}},
		{`(?i)(ignore|disregard)\s+`, [][]string{{"IGNORE", "DISREGARD"}}},
		{`(?i)ign[o0]re`, [][]string{{"IGN0RE", "IGNORE"}}},
		{`(?i)\bsystem\s*prompt\b`, [][]string{{"SYSTEM"}, {"PROMPT"}}},
		{`(?i)(a|bc)`, nil}, // literals too short
		{`(?i)(ignore|.*)instructions`, [][]string{{"INSTRUCTIONS"}}},
		{`(?i)(ignore)?`, nil},
		{`[a-z]+@[a-z]+\.com`, [][]string{{".COM"}}},
		{`(?i)straße`, [][]string{{"STRAßE"}}}, // ß (U+00DF) is the smallest rune of its orbit {ß, ẞ}
		{`\d{16}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			got := requiredLiterals(tt.pattern)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("literals %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPrefilterSound: for every pattern and text the regex matches, the
// prefilter lets the text through (it may only skip texts that cannot
// match), including case and Unicode folding variants.
func TestPrefilterSound(t *testing.T) {
	patterns := []string{`(?i)ignore\s+previous`, `(?i)(ignore|disregard)\s+all`, `(?i)ign[o0]re`, `(?i)KELVIN`, `(?i)sss`,
		`(?i)straße`, `secret_key`, `(?i)\bexfil(trate)?\b`, `(?i)send .{0,30} to https?://`}
	texts := []string{"please IGNORE   previous notes", "Disregard all of it", "ign0re me", "\u212Aelvin", "\u017Fs\u017F", "STRAẞE",
		"my secret_key=1", "we EXFIL now", "send the file to http://x", "nothing here", "\xffignore\xff previous", "ıgnore previous"}
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		lits := requiredLiterals(p)
		for _, s := range texts {
			if re.MatchString(s) && lits != nil && !mayMatch(lits, foldString(s)) {
				t.Errorf("pattern %q matches %q but its prefilter %q rejects it", p, s, lits)
			}
		}
	}
}

// TestPrefilterCorpus: with the fetched ATR corpus (ATR_DIR), every rule's
// own test cases give the same result with and without the prefilter,
// and it reports how many conditions have one.
func TestPrefilterCorpus(t *testing.T) {
	dir := os.Getenv("ATR_DIR")
	if dir == "" {
		t.Skip("ATR_DIR not set (bench/atr/setup.sh)")
	}
	rs, _, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	conds, filtered, cases := 0, 0, 0
	for _, r := range rs {
		for _, c := range r.Conditions {
			conds++
			if c.lits != nil {
				filtered++
			}
			for _, tc := range r.Tests {
				for _, text := range tc.Fields {
					cases++
					if c.Re.MatchString(text) && c.lits != nil && !mayMatch(c.lits, foldString(text)) {
						t.Errorf("%s: %q matches %.80q but the prefilter %q rejects it", r.ID, c.Re, text, c.lits)
					}
				}
			}
		}
	}
	t.Logf("%d of %d conditions have a prefilter; %d condition × test-case texts checked", filtered, conds, cases)
}

// FuzzPrefilter: no pattern and text the regex matches are rejected by
// the pattern's prefilter.
func FuzzPrefilter(f *testing.F) {
	f.Add(`(?i)ignore\s+(all\s+)?previous`, "IGNORE ALL PREVIOUS")
	f.Add(`(?i)ign[o0]re|forget`, "ign0re")
	f.Add(`(?i)\x{212A}elvin`, "kelvin")
	f.Add(`(ab|cd)(ef|gh)ij`, "cdefij")
	f.Fuzz(func(t *testing.T, pattern, text string) {
		re, err := regexp.Compile(pattern)
		if err != nil || !re.MatchString(text) {
			return
		}
		if lits := requiredLiterals(pattern); lits != nil && !mayMatch(lits, foldString(text)) {
			t.Fatalf("pattern %q matches %q but its prefilter %q rejects it", pattern, text, lits)
		}
	})
}

// BenchmarkObserve: the ATR detector on one 4 KiB tool result, with the
// fetched corpus (ATR_DIR) in lane ATR_LANE (default stable), with and
// without the prefilter.
func BenchmarkObserve(b *testing.B) {
	dir := os.Getenv("ATR_DIR")
	if dir == "" {
		b.Skip("ATR_DIR not set (bench/atr/setup.sh)")
	}
	lane := os.Getenv("ATR_LANE")
	if lane == "" {
		lane = "stable"
	}
	all, _, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	var rs []*Rule
	for _, r := range all {
		if r.InLane(lane) {
			rs = append(rs, r)
		}
	}
	text := strings.Repeat("- id: 42\n  subject: Quarterly report\n  sender: alice@example.com\n  body: Please find attached the figures for Q3; revenue grew 4% and the team met every milestone.\n", 30)[:4096]
	ev := &models.Event{Kind: models.KindToolResult, Result: text}
	for _, pf := range []bool{false, true} {
		b.Run(fmt.Sprintf("lane=%s/prefilter=%v", lane, pf), func(b *testing.B) {
			rules := rs
			if !pf {
				rules = make([]*Rule, len(rs))
				for i, r := range rs {
					c := *r
					c.Conditions = slices.Clone(r.Conditions)
					for j := range c.Conditions {
						c.Conditions[j].lits = nil
					}
					rules[i] = &c
				}
			}
			d := New(rules, 0)
			b.ReportAllocs()
			for b.Loop() {
				d.Observe(ev, nil, func(models.Finding) {})
			}
			b.ReportMetric(1e9*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "events/s")
		})
	}
}
