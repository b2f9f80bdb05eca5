package eval

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// WriteJSONFile writes the report as indented JSON.
func (r *Report) WriteJSONFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteTable prints a readable summary: the headline under both labels,
// then one row per group value of every breakdown dimension.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "alert threshold: severity >= %d; score: max finding severity per session\n\n", r.AlertThreshold)
	fmt.Fprint(tw, "label\tpositives\tnegatives\tAUROC\trecall@1pctFPR\trecall@5pctFPR\trecall@thr\tFPR@thr\t\n")
	for _, name := range []string{"hijacked", "attacked"} {
		v := r.Views[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", name, v.Positives, v.Negatives, v.AUROC, v.RecallAtFPR1, v.RecallAtFPR5, v.RecallAtThreshold, v.FPRAtThreshold)
	}
	fmt.Fprintf(tw, "\nearly detection (first flag at or before harm step): %s (%d of %d flagged hijacked sessions with a known harm step)\n",
		r.EarlyDetectionRate, r.EarlyDetected, r.DetectedWithHarmStep)
	fmt.Fprintf(tw, "attacked but not hijacked, share flagged: %s (of %d)\n", r.AttackedNotHijackedFlagged, r.AttackedNotHijacked)
	for _, key := range sortedKeys(r.By) {
		fmt.Fprintf(tw, "\nby %s\tsessions\thijacked\tclean\tAUROC\trecall@1pctFPR\trecall@thr\tFPR@thr\tearly\tattacked AUROC\tattacked recall@1pctFPR\tattacked recall@thr\tattacked-not-hijacked flagged\t\n", key)
		groups := r.By[key]
		for _, v := range sortedKeys(groups) {
			m := groups[v]
			a := m.Views["attacked"]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", v, m.Sessions, m.MaliciousSessions, m.BenignSessions,
				m.AUROC, m.RecallAtFPR1, m.RecallAtThreshold, m.FPRAtThreshold, m.EarlyDetectionRate, a.AUROC, a.RecallAtFPR1, a.RecallAtThreshold, m.AttackedNotHijackedFlagged)
		}
	}
	if len(r.HeldOut) > 0 {
		note := "nothing is fit on labels: equal to the by-group figures"
		if r.HeldOutFitted {
			note = "fit on the other groups, scored on the one left out"
		}
		fmt.Fprintf(tw, "\nheld out (%s)\n", note)
		for _, key := range sortedKeys(r.HeldOut) {
			fmt.Fprintf(tw, "leave one %s out\tAUROC\trecall@1pctFPR\trecall@thr\tFPR@thr\tattacked AUROC\tattacked recall@thr\t\n", key)
			for _, v := range sortedKeys(r.HeldOut[key]) {
				m := r.HeldOut[key][v]
				a := m.Views["attacked"]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", v, m.AUROC, m.RecallAtFPR1, m.RecallAtThreshold, m.FPRAtThreshold, a.AUROC, a.RecallAtThreshold)
			}
		}
	}
	if len(r.FindingKinds) > 0 {
		fmt.Fprintf(tw, "\nfinding kind\tmalicious sessions\tclean sessions\tattacked-not-hijacked sessions\t\n")
		for _, k := range sortedKeys(r.FindingKinds) {
			c := r.FindingKinds[k]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", k, c[ClassMalicious], c[ClassBenign], c[ClassAttackedNotHijacked])
		}
	}
	s := r.Replay
	fmt.Fprintf(tw, "\nreplay: %d events (%d in labelled sessions), %d findings (%d after their session ended, not scored), %d commands, replay %.2fs, %.0f events/s\n",
		s.Events, s.LabelledEvents, s.Findings, s.LateFindings, s.Commands, s.ElapsedSeconds, s.EventsPerSecond)
	if s.UnlabelledSessions > 0 || s.LabelsWithoutEvents > 0 {
		fmt.Fprintf(tw, "warning: %d sessions without labels, %d labels without events\n", s.UnlabelledSessions, s.LabelsWithoutEvents)
	}
	return tw.Flush()
}

// WritePlot draws the ROC curves of both labels, the chance diagonal and the
// operating point at the alert threshold, as a PNG (or any format gonum/plot
// infers from the file extension).
func (r *Report) WritePlot(path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Tether ROC (score = max severity, %d sessions)", r.Sessions)
	p.X.Label.Text = "false positive rate (sessions without attack)"
	p.Y.Label.Text = "true positive rate"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Legend.Top, p.Legend.Left = false, false
	p.Add(plotter.NewGrid())

	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	diag.Color = color.Gray{Y: 160}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(diag)
	p.Legend.Add("chance", diag)

	colors := map[string]color.Color{"hijacked": color.RGBA{R: 200, G: 30, B: 30, A: 255}, "attacked": color.RGBA{R: 30, G: 80, B: 200, A: 255}}
	for _, name := range []string{"hijacked", "attacked"} {
		v := r.Views[name]
		if len(v.ROC) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, len(v.ROC)+1)
		for _, pt := range v.ROC {
			xys = append(xys, plotter.XY{X: pt.FPR, Y: pt.TPR})
		}
		if last := xys[len(xys)-1]; last.X != 1 || last.Y != 1 {
			xys = append(xys, plotter.XY{X: 1, Y: 1})
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		line.Color, line.Width = colors[name], vg.Points(2)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (AUROC %s, %d pos / %d neg)", name, v.AUROC, v.Positives, v.Negatives), line)

		op, err := plotter.NewScatter(plotter.XYs{{X: float64(v.FPRAtThreshold), Y: float64(v.RecallAtThreshold)}})
		if err == nil {
			op.GlyphStyle.Shape = draw.CircleGlyph{}
			op.GlyphStyle.Radius = vg.Points(4)
			op.GlyphStyle.Color = colors[name]
			p.Add(op)
			p.Legend.Add(fmt.Sprintf("%s at severity >= %d", name, r.AlertThreshold), op)
		}
	}
	if err := p.Save(6*vg.Inch, 6*vg.Inch, path); err != nil {
		return fmt.Errorf("save plot: %w", err)
	}
	return nil
}
