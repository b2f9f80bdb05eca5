package baseline

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/tetherhq/tether/models"
)

// windowOf returns the index of the event-time window holding t (unix ns).
func (d *Detector) windowOf(ns int64) int64 {
	w := int64(d.opts.Window)
	q := ns / w
	if ns%w < 0 {
		q--
	}
	return q
}

// spread is the baseline's standard deviation used for z-scores, floored at
// the Poisson spread sqrt(mean) and at 1 so that a perfectly regular agent
// (variance 0) does not turn one extra event into an infinite z-score.
func spread(s *EWStats) float64 {
	return max(s.StdDev(), math.Sqrt(s.Mean), 1)
}

// spikeThreshold is the smallest window count reported as a spike.
func (d *Detector) spikeThreshold(s *EWStats) float64 {
	return max(s.Mean+d.opts.SpikeZ*spread(s), s.Mean*d.opts.SpikeMinRatio, float64(d.opts.SpikeMinEvents))
}

// closeWindow folds the current window's count into the baseline. A window
// that was reported as a spike is folded in clipped to the spike threshold,
// so a burst cannot inflate the baseline it is judged against, while a
// lasting change of pace still moves the baseline (slowly) up.
func (d *Detector) closeWindow(st *agentState) {
	x := float64(st.winCount)
	if st.winSev > 0 {
		x = min(x, d.spikeThreshold(&st.rate))
	}
	st.rate.Add(x, d.opts.Alpha)
	st.baseEvents += st.winCount
	if g := st.grp; g != nil {
		// The peer baseline is a per-agent window rate: one observation
		// per member window, clipped like the member's own.
		g.rate.Add(x, d.opts.PeerAlpha)
		g.baseEvents += st.winCount
	}
}

// observeRate counts ev in its window and reports a spike when the count
// crosses the threshold (and again when its severity escalates).
func (d *Detector) observeRate(st *agentState, ev *models.Event, emit func(models.Finding)) {
	w := d.windowOf(ev.Time.UnixNano())
	switch {
	case !st.started:
		st.started, st.win = true, w
	case w > st.win:
		// Windows without events are not folded in: the baseline is the
		// pace while active, so session-shaped (bursty but normal) agents
		// do not look anomalous at every session start.
		d.closeWindow(st)
		st.win, st.winCount, st.winSev = w, 0, 0
	case w < st.win:
		// A late event (its window already closed) is not counted: adding
		// it to the current window would, after one event stamped a few
		// minutes ahead, pile several windows' worth of ordinary events
		// into one and fake a spike. Dropping it can only under-count.
		return
	}
	st.winCount++

	ownReady := int(st.rate.N) >= d.opts.MinWindows && st.baseEvents >= d.opts.MinEvents
	g := st.grp
	// Until the agent's own rate baseline is ready (and while the agent is
	// in warm-up), its peer group's per-agent window rate judges instead.
	// Once it is ready the agent's own history is the reference for what
	// is normal for this agent, with caution while it is young
	// (predictiveZ): the peers' verdict would override that
	// caution with other agents' pace.
	peerReady := g != nil && !ownReady && int(st.rate.N) < d.opts.MatureWindows && d.peerRateMature(g) && !d.ownMature(st, ev.Time)
	if !ownReady && !peerReady {
		return
	}
	count := float64(st.winCount)
	var sev, ps uint8
	ref, z, pz, usedPeer, peerJudged := &st.rate, 0.0, 0.0, false, false
	if ownReady {
		// Once the agent has its own history, a window ordinary for it is
		// not a spike whatever its peers do.
		if count < d.spikeThreshold(&st.rate) {
			return
		}
		z = (count - st.rate.Mean) / spread(&st.rate)
		// At face value first: an upper bound of the young baseline's
		// verdict (predictiveZ ≤ z), so the Student's t tail is computed
		// only for a window that may still be reported.
		sev = d.spikeSeverity(z, math.MaxInt32)
	}
	if peerReady && count >= d.spikeThreshold(&g.rate) {
		pz = (count - g.rate.Mean) / spread(&g.rate)
		ps, peerJudged = d.spikeSeverity(pz, int(g.rate.N)), true
		if !ownReady || ps > sev {
			sev, ref, z, usedPeer = ps, &g.rate, pz, true
		}
	} else if !ownReady {
		return
	}
	if d.quietSpike(st, sev) {
		return
	}
	if ownReady && !usedPeer && int(st.rate.N) < d.opts.MatureWindows {
		sev = d.spikeSeverity(z, int(st.rate.N))
		if peerJudged && ps > sev {
			sev, ref, z, usedPeer = ps, &g.rate, pz, true
		}
		if d.quietSpike(st, sev) {
			return
		}
	}
	st.winSev = max(sev, 1)
	mean, sd := ref.Mean, spread(ref)
	n := float64(ref.N)
	p := distuv.UnitNormal.Survival(z)
	var against string
	if usedPeer {
		against = fmt.Sprintf("its own baseline is in warm-up (%d windows, %d events), so it is judged against its peer group %q (%d other agents), whose per-agent baseline is %.1f ± %.1f events per active window over %d member windows",
			st.rate.N, st.ops, g.name, g.members-1, mean, sd, ref.N)
	} else {
		young := ""
		if int(st.rate.N) < d.opts.MatureWindows {
			young = fmt.Sprintf("; the baseline is young (%d of %d windows), so the severity is that of the predictive z = %.1f (Student's t, %d degrees of freedom)", st.rate.N, d.opts.MatureWindows, d.predictiveZ(z, int(st.rate.N)), st.rate.N-1)
		}
		against = fmt.Sprintf("its baseline is %.1f ± %.1f events per active window over %d windows%s", mean, sd, st.rate.N, young)
	}
	emit(models.Finding{
		Kind:       KindRateSpike,
		Severity:   sev,
		Confidence: n / (n + float64(d.opts.MinWindows)),
		Explanation: fmt.Sprintf("agent %q emitted %d events in the %s window starting %s; %s (z = %.1f, one-sided normal p ≈ %.1e). A burst like this is typical of a runaway loop, scripted misuse or bulk collection",
			ev.AgentID, st.winCount, d.opts.Window, windowStart(w, d.opts.Window).Format("2006-01-02T15:04:05Z07:00"), against, z, p),
		Features: []models.Feature{
			{Name: "events_per_window", Observed: count, Baseline: mean, Spread: sd},
			{Name: "rate_z", Observed: z, Baseline: d.opts.SpikeZ},
			{Name: "baseline_windows", Observed: n, Baseline: float64(d.opts.MinWindows)},
		},
	})
}

// quietSpike reports whether a spike of severity sev in the current window
// is not reported: one was reported already and sev neither escalates by
// SpikeEscalation (nor hits the cap) nor first reaches the alert threshold.
func (d *Detector) quietSpike(st *agentState, sev uint8) bool {
	crossed := st.winSev < models.AlertThreshold && sev >= models.AlertThreshold
	return st.winSev > 0 && !crossed && (sev <= st.winSev || int(sev) < min(int(st.winSev)+int(d.opts.SpikeEscalation), int(d.opts.SpikeMaxSeverity)))
}

// predictiveZ is the young-baseline caution. A baseline of windows <
// MatureWindows completed active windows estimates the agent's mean and
// spread poorly (a benign busy minute against 9 windows easily reaches
// z = 10), so the z-score of its own-baseline spikes is replaced by the
// normal z-score of the same tail probability under the predictive
// distribution: with mean and spread estimated from n windows, a new
// window's standardised count follows Student's t with n−1 degrees of
// freedom, scaled by sqrt(1+1/n). z = 10.4 against 9 windows becomes 4.4
// (p ≈ 5·10⁻⁶ instead of 10⁻²⁵), z = 123 against 10 windows (a burst of
// 40× the pace) 7.9. A mature baseline's z is used as it is.
func (d *Detector) predictiveZ(z float64, windows int) float64 {
	n := float64(windows)
	if windows >= d.opts.MatureWindows || n < 2 || z <= 0 {
		return z
	}
	p := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Survival(z / math.Sqrt(1+1/n))
	if p <= 0 || math.IsNaN(p) {
		return z // beyond float precision: as extreme as it gets
	}
	return min(z, -distuv.UnitNormal.Quantile(p))
}

// spikeSeverity maps the z-score of a window against a baseline of windows
// completed windows onto the severity scale: SpikeSeverity at SpikeZ,
// rising linearly in log2(z/SpikeZ) to SpikeMaxSeverity at 4·SpikeZ. A
// young baseline's z is first replaced by its predictive z (predictiveZ),
// so a spike reaches the alert threshold on its own only when it is extreme
// for so short a history; it is still recorded at SpikeSeverity (and
// compounds with other deviations of its session).
func (d *Detector) spikeSeverity(z float64, windows int) uint8 {
	lo, hi := float64(d.opts.SpikeSeverity), float64(d.opts.SpikeMaxSeverity)
	if hi < lo {
		hi = lo
	}
	z = d.predictiveZ(z, windows)
	f := math.Log2(z/d.opts.SpikeZ) / 2
	f = min(max(f, 0), 1)
	return uint8(math.Round(lo + (hi-lo)*f))
}
