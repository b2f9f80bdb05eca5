package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

// NamedReport is a report with the name of the data set it scored (e.g.
// "original", "reword-prose", "corpus").
type NamedReport struct {
	Name   string
	Report *Report
}

// ReadReportFile reads a JSON report written by WriteJSONFile.
func ReadReportFile(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	return &r, nil
}

// WriteMarkdown writes the combined tables of several reports: the
// headline of each (hijacked and attacked views), then, for each group
// dimension in keys that a report has, one row per data set and group, and
// the held-out (leave-one-group-out) figures with whether anything was fit.
func WriteMarkdown(w io.Writer, reps []NamedReport, keys []string) error {
	var err error
	pr := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	pr("| data set | hijacked | clean | AUROC | recall @1%% FPR | recall @thr | FPR @thr | attacked | attacked AUROC | attacked recall @1%% FPR | attacked recall @thr |\n")
	pr("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, nr := range reps {
		h, a := nr.Report.Views["hijacked"], nr.Report.Views["attacked"]
		pr("| %s | %d | %d | %s | %s | %s | %s | %d | %s | %s | %s |\n", nr.Name, h.Positives, h.Negatives, h.AUROC, h.RecallAtFPR1,
			h.RecallAtThreshold, h.FPRAtThreshold, a.Positives, a.AUROC, a.RecallAtFPR1, a.RecallAtThreshold)
	}
	for _, key := range keys {
		if !slices.ContainsFunc(reps, func(nr NamedReport) bool { return len(nr.Report.By[key]) > 0 }) {
			continue
		}
		pr("\nBy %s:\n\n", key)
		pr("| data set | %s | hijacked | clean | AUROC | recall @1%% FPR | recall @thr | FPR @thr | attacked | attacked AUROC | attacked recall @1%% FPR | attacked recall @thr |\n", key)
		pr("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, nr := range reps {
			groups := nr.Report.By[key]
			for _, g := range sortedKeys(groups) {
				m := groups[g]
				h, a := m.Views["hijacked"], m.Views["attacked"]
				pr("| %s | %s | %d | %d | %s | %s | %s | %s | %d | %s | %s | %s |\n", nr.Name, g, h.Positives, h.Negatives, h.AUROC, h.RecallAtFPR1,
					h.RecallAtThreshold, h.FPRAtThreshold, a.Positives, a.AUROC, a.RecallAtFPR1, a.RecallAtThreshold)
			}
		}
	}
	for _, key := range keys {
		if !slices.ContainsFunc(reps, func(nr NamedReport) bool { return len(nr.Report.HeldOut[key]) > 0 }) {
			continue
		}
		pr("\nLeave one %s out (held-out AUROC / recall @thr / FPR @thr):\n\n", key)
		pr("| data set | fitted | %s | AUROC | recall @thr | FPR @thr | attacked AUROC |\n|---|---|---|---|---|---|---|\n", key)
		for _, nr := range reps {
			fitted := "no (= by-group figures)"
			if nr.Report.HeldOutFitted {
				fitted = "yes"
			}
			for _, g := range sortedKeys(nr.Report.HeldOut[key]) {
				m := nr.Report.HeldOut[key][g]
				pr("| %s | %s | %s | %s | %s | %s | %s |\n", nr.Name, fitted, g, m.AUROC, m.RecallAtThreshold, m.FPRAtThreshold, m.Views["attacked"].AUROC)
			}
		}
	}
	return err
}
