package baseline

import (
	"fmt"
	"strings"

	"github.com/tetherhq/tether/models"
)

// maxProfileModels bounds the models remembered per agent profile: an agent
// that routes requests between a few models (a large and a small one, say)
// keeps one profile for them instead of re-baselining at every switch.
const maxProfileModels = 4

// maxProfileString bounds the stored length of a model or version string.
const maxProfileString = 128

// modelChangeSeverity is the severity of model_change: informational, far
// below models.AlertThreshold. It says why the agent's baselines restarted,
// and that the new model's behaviour needs review; it is not an anomaly.
const modelChangeSeverity = 10

// profile identifies the behaviour profile an agent's baselines describe:
// the models (gen_ai.request.model) and the agent version
// (gen_ai.agent.version) seen since the baselines last (re)started.
type profile struct {
	models  []string
	version string
}

// hasModel reports whether m belongs to the profile.
func (p *profile) hasModel(m string) bool {
	for _, x := range p.models {
		if x == m {
			return true
		}
	}
	return false
}

// clip returns a copy of s of at most maxProfileString bytes, so stored
// strings neither pin the decoder's buffers nor grow without bound.
func clip(s string) string { return strings.Clone(truncate(s)) }

// truncate returns the first maxProfileString bytes of s without copying:
// the key under which clip stores s, for look-ups that must not allocate.
func truncate(s string) string {
	if len(s) > maxProfileString {
		return s[:maxProfileString]
	}
	return s
}

// warm reports whether the agent's baselines have passed warm-up: the rate
// baseline may report spikes or the tool table may report new tools.
func (d *Detector) warm(st *agentState) bool {
	return (int(st.rate.N) >= d.opts.MinWindows && st.baseEvents >= d.opts.MinEvents) ||
		st.toolCalls >= d.opts.MinToolCalls
}

// observeProfile re-baselines the agent when ev shows a new model or agent
// version. Empty values carry no information and are ignored.
//
// The rule: during warm-up, models join the profile (up to
// maxProfileModels) and a version change silently restarts the young
// baselines. After warm-up, a model outside the profile, or a different
// version, means a new behaviour profile (the Agentic Trust Framework
// requires review on a model change): the agent's rate and tool baselines
// are discarded, warm-up starts again with ev, and an informational
// model_change finding (severity 10) records what changed and how many
// events the discarded baseline held. Switching back and forth between
// models already in the profile is not a change.
func (d *Detector) observeProfile(st *agentState, ev *models.Event, emit func(models.Finding)) {
	if d.opts.DisableModelChange {
		return
	}
	m, v := ev.Model, ev.AgentVersion
	if len(m) > maxProfileString {
		m = m[:maxProfileString]
	}
	if len(v) > maxProfileString {
		v = v[:maxProfileString]
	}
	newModel := m != "" && !st.prof.hasModel(m)
	newVersion := v != "" && st.prof.version != "" && v != st.prof.version
	if !newModel && !newVersion {
		if v != "" && st.prof.version == "" {
			st.prof.version = clip(v)
		}
		return
	}
	warm := d.warm(st)
	if !newVersion && (!warm || len(st.prof.models) == 0) {
		// A model seen during warm-up, or the first model an agent ever
		// reports, joins the profile.
		if len(st.prof.models) < maxProfileModels {
			st.prof.models = append(st.prof.models, clip(m))
			if v != "" && st.prof.version == "" {
				st.prof.version = clip(v)
			}
			return
		}
		if !warm {
			// A full profile during warm-up: the last slot follows the
			// newest model rather than restarting the baselines.
			st.prof.models[len(st.prof.models)-1] = clip(m)
			return
		}
	}
	oldModels, oldVersion := strings.Join(st.prof.models, ", "), st.prof.version
	discarded := st.baseEvents + st.winCount
	tools := len(st.tools)
	d.resetBaselines(st)
	if m != "" {
		// (A version change without a model keeps the known models.)
		clear(st.prof.models)
		st.prof.models = append(st.prof.models[:0], clip(m))
	}
	if v != "" {
		st.prof.version = clip(v)
	}
	if !warm {
		return
	}
	what := make([]string, 0, 2)
	if newModel {
		what = append(what, fmt.Sprintf("model %s → %s", orNone(oldModels), m))
	}
	if newVersion {
		what = append(what, fmt.Sprintf("agent version %s → %s", orNone(oldVersion), v))
	}
	emit(models.Finding{
		Kind:       KindModelChange,
		Severity:   modelChangeSeverity,
		Confidence: 1,
		Explanation: fmt.Sprintf("agent %q changed %s; a new model or version is a new behaviour profile, so its rate and tool baselines (%d events, %d tools) were discarded and warm-up starts again. Review the change: the agent's past behaviour no longer vouches for it",
			ev.AgentID, strings.Join(what, " and "), discarded, tools),
		Features: []models.Feature{
			{Name: "discarded_baseline_events", Observed: float64(discarded)},
			{Name: "discarded_tools", Observed: float64(tools)},
		},
	})
}

// resetBaselines discards the agent's rate and tool baselines (keeping the
// tool table's capacity); the next event starts a new window.
func (d *Detector) resetBaselines(st *agentState) {
	st.rate = EWStats{}
	st.win, st.winCount, st.winSev, st.baseEvents, st.started = 0, 0, 0, 0, false
	st.toolCalls = 0
	st.ops, st.firstNs = 0, 0
	clear(st.tools)
	st.tools = st.tools[:0]
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
