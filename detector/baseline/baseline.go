// Package baseline answers the Agentic Trust Framework's second question,
// "What are you doing?", by learning each agent's own normal behaviour from
// its event stream and reporting departures from it:
//
//   - rate_spike: the agent emits far more events in one event-time window
//     than its exponentially weighted baseline of events per active window;
//   - new_tool: after warm-up, the agent calls a tool it has never called
//     before. A tool its manifest declares stays below models.AlertThreshold
//     (30–45 by labels and surprise): granted on purpose, its first use is a
//     deviation to record and to combine with others in the session, not an
//     alert on its own. An agent without a manifest keeps the higher scale
//     (55–70);
//   - tool_outside_manifest: a registered agent calls a tool its inventory
//     manifest does not declare. The manifest is a declaration, so this is
//     reported without warm-up, once per agent, tool and session;
//   - model_change (informational, severity 10): after warm-up the agent
//     reports a new gen_ai.request.model or gen_ai.agent.version. A new
//     model is a new behaviour profile, so the agent's rate and tool
//     baselines are discarded and warm up again (see observeProfile);
//   - new_destination (severity 35, off by default: Options.NewDestination):
//     after warm-up the agent sends to a host or mail domain its bounded
//     first-seen sketch has not seen (see observeDestinations).
//
// Cold start (peer.go): until an agent has 7 days or 1,000 events of
// history (Options.OwnMatureAge, Options.OwnMatureOps, the Agentic Trust
// Framework's defaults) it is in warm-up and is also judged against its
// peer group (models.AgentSpec.PeerGroup): a shared tool table and a
// per-agent window-rate baseline fed by every member. A tool no peer has
// called is new even before the agent's own table is warm; a tool its
// peers use commonly is not new; a burst is judged against the peer rate
// until the agent's own rate baseline is ready (Options.MinWindows and
// MinEvents), then against its own, young-baseline caution included.
//
// All time comes from the events (ev.Time), never from the wall clock, so a
// replay at any speed yields the same findings. State is bounded: the
// agents' and peer groups' bytes are accounted to the memory budget
// (SetMeter; least recently active evicted first when it is exceeded,
// counted), Options.MaxAgents and MaxPeerGroups are optional ceilings;
// each agent keeps at most Options.MaxToolsPerAgent tools (least used
// evicted first), each group Options.MaxToolsPerGroup.
package baseline

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on findings.
const Name = "baseline"

// Finding kinds.
const (
	KindRateSpike           = "rate_spike"
	KindNewTool             = "new_tool"
	KindToolOutsideManifest = "tool_outside_manifest"
	KindModelChange         = "model_change"
	KindNewDestination      = "new_destination"
)

// Options configures the baseline detector.
type Options struct {
	// Window is the event-time bucket over which events are counted.
	Window time.Duration
	// Alpha is the smoothing factor of the per-window count baseline: each
	// completed window's weight decays by (1-Alpha) per later window.
	Alpha float64
	// MinWindows is how many completed active windows (windows in which the
	// agent emitted at least one event) form the baseline before a spike
	// may be reported.
	MinWindows int
	// MinEvents is how many events the completed windows must hold before a
	// spike may be reported.
	MinEvents int
	// SpikeZ is the z-score above the baseline mean at which a window's
	// count is a spike.
	SpikeZ float64
	// SpikeMinRatio additionally requires the count to be at least this
	// multiple of the baseline mean.
	SpikeMinRatio float64
	// SpikeMinEvents additionally requires at least this many events in the
	// window, so low-volume agents do not alarm on trivial bursts.
	SpikeMinEvents int
	// SpikeSeverity is the severity of a spike at exactly SpikeZ; it rises
	// linearly in log2(z/SpikeZ) to SpikeMaxSeverity at z = 4·SpikeZ.
	SpikeSeverity uint8
	// SpikeMaxSeverity caps the severity of a spike.
	SpikeMaxSeverity uint8
	// MatureWindows is the baseline age, in completed active windows, at
	// which a spike's z-score is taken at face value. A younger baseline of
	// n windows is scored on the predictive z of the window (Student's t
	// with n−1 degrees of freedom; see predictiveZ). 0 or less: no caution.
	MatureWindows int
	// SpikeEscalation is how many severity points a spike must grow within
	// the same window before it is reported again (reaching SpikeMaxSeverity
	// or first reaching models.AlertThreshold always counts).
	SpikeEscalation uint8
	// MinToolCalls is how many tool calls an agent must have made before a
	// never-seen tool is reported as new_tool.
	MinToolCalls int
	// OutsideManifestSeverity is the severity of tool_outside_manifest.
	OutsideManifestSeverity uint8
	// RequestedNewToolSeverity caps new_tool when the user's request of the
	// session asks for the kind of action the tool performs (a linked
	// RequestOracle, request.go): the first reservation of an agent the
	// user asked to book a hotel is its history growing as asked, recorded
	// in the info band, not a deviation. 0 disables the cap.
	RequestedNewToolSeverity uint8
	// MaxAgents bounds the tracked agents; the least recently active agent
	// is evicted (and must warm up again when it returns).
	MaxAgents int
	// MaxToolsPerAgent bounds each agent's tool table; the least used tool
	// is evicted (and would be new again when next called).
	MaxToolsPerAgent int
	// NewDestination enables new_destination (see observeDestinations). It
	// is off by default: on the AgentDojo replay it raised hijacked AUROC
	// (0.736 → 0.742) and recall at the threshold (0.579 → 0.591) but also
	// the false-positive rate at the threshold (0.091 → 0.105), through
	// compounding with other sub-threshold deviations of benign sessions.
	NewDestination bool
	// MaxDestinationsPerAgent bounds each agent's destination sketch; the
	// oldest destination is forgotten first.
	MaxDestinationsPerAgent int
	// DisableModelChange turns off re-baselining on a model or agent
	// version change (and the model_change finding).
	DisableModelChange bool

	// OwnMatureAge and OwnMatureOps end an agent's warm-up (the Agentic
	// Trust Framework's cold start): once its current baseline has lasted
	// OwnMatureAge of event time OR holds OwnMatureOps events, the agent is
	// judged on its own baseline alone; before, its peer group also judges
	// it (see peer.go). 0 disables the respective criterion; both 0: an
	// agent never leaves warm-up.
	OwnMatureAge time.Duration
	OwnMatureOps int
	// DisablePeerGroups turns off peer-group baselines.
	DisablePeerGroups bool
	// PeerMinPeers is how many other tracked agents a peer group needs
	// before it may judge a member.
	PeerMinPeers int
	// PeerMinToolCalls is how many tool calls a peer group's table must
	// hold before it may judge a member's tools.
	PeerMinToolCalls int
	// PeerMinWindows is how many member windows a peer group's rate
	// baseline must hold before it may judge a member's rate.
	PeerMinWindows int
	// PeerAlpha is the smoothing factor of the peer rate baseline (one
	// observation per member window).
	PeerAlpha float64
	// PeerPrior (α) is the weight, in tool calls, of the peer tool shares
	// in an agent's tool surprise: p = (own + α·peer_share) / (n + α).
	PeerPrior float64
	// PeerCommonShare is the peer share at or above which a tool is common
	// in the group, and so not new for an agent in warm-up.
	PeerCommonShare float64
	// MaxPeerGroups bounds the tracked peer groups (least recently active
	// evicted first; 0: the memory budget alone); MaxToolsPerGroup bounds
	// each group's tool table (least used evicted first).
	MaxPeerGroups    int
	MaxToolsPerGroup int
}

// DefaultOptions returns the production settings: one-minute windows, a
// baseline of at least 8 active windows and 50 events with a smoothing
// factor of 0.1 (an effective memory of about 10 active windows), spikes at
// z ≥ 4 that also at least double the mean and hold at least 20 events,
// at severity 40 rising to 90 at z = 16 (a marginal spike, z below about
// 5.3, is a deviation recorded below models.AlertThreshold: a benign agent
// with a busy minute and a young baseline of 8 windows reaches z = 4, so a
// marginal spike alerts only together with another deviation of its
// session); a baseline younger than 32 active windows is scored on the
// predictive z of the window (its mean and spread are estimates from so
// few windows), so a benign burst against a young baseline of 8 windows
// stays below the alert threshold unless it is extreme (z ≥ 30 reaches 52;
// a long session at z = 10 against 9 windows stays at 40); new tools
// reported after 20 tool calls;
// 100 000 agents of up to 64 tools.
//
// Cold start follows the Agentic Trust Framework's defaults: an agent is in
// warm-up until 7 days or 1,000 events of history, and is meanwhile also
// judged against its peer group once the group has at least 2 other agents,
// 200 tool calls (for tools) and 32 member windows (for rates). Peer shares
// weigh as much as 20 of the agent's own calls; a tool with a peer share of
// at least 2% is common; the peer rate baseline has a smoothing factor of
// 0.02 (a memory of about 50 member windows); 1,024 groups of up to 256
// tools.
func DefaultOptions() Options {
	return Options{
		Window:                  time.Minute,
		Alpha:                   0.1,
		MinWindows:              8,
		MinEvents:               50,
		SpikeZ:                  4,
		SpikeMinRatio:           2,
		SpikeMinEvents:          20,
		SpikeSeverity:           models.SeverityLow + 10,
		SpikeMaxSeverity:        models.SeverityCritical,
		SpikeEscalation:         20,
		MatureWindows:           32,
		MinToolCalls:            20,
		OutsideManifestSeverity: models.SeverityHigh,
		// below models.SeverityLow: informational, neither scored nor
		// compounded as a deviation
		RequestedNewToolSeverity: models.SeverityLow - 10,
		MaxAgents:                0,
		MaxToolsPerAgent:         64,
		NewDestination:           false,
		MaxDestinationsPerAgent:  256,
		OwnMatureAge:             7 * 24 * time.Hour,
		OwnMatureOps:             1000,
		PeerMinPeers:             2,
		PeerMinToolCalls:         200,
		PeerMinWindows:           32,
		PeerAlpha:                0.02,
		PeerPrior:                20,
		PeerCommonShare:          0.02,
		MaxPeerGroups:            0,
		MaxToolsPerGroup:         256,
	}
}

// Detector is the per-agent streaming baseline. It is not safe for
// concurrent use (an Engine drives it from one goroutine).
//
// Memory: about 430 bytes per tracked agent with 6 tools (map entry, state,
// LRU links, tool table with 32-byte slots grown by doubling), plus the
// bytes of its id and tool names; an agent at the 64-tool cap costs about
// 2.2 KB plus names. TestStateBytesPerAgent measures it.
type Detector struct {
	opts Options
	// agents by event time of last activity (LRU).
	agents *lru.LRU[*agentState]
	// seed keys the session and destination hashes (keyedHash); it is
	// random per detector and part of its serialized state.
	seed uint64
	// Peer groups by activity (LRU).
	groups    *lru.LRU[*peerGroup]
	evictions *atomic.Uint64
	// requests, when linked, tells whether the user asked for a call's kind
	// of action (request.go).
	requests RequestOracle
}

// agentState is one agent's baseline (its id is the table's key: 192 B).
type agentState struct {
	rate       EWStats // events per completed active window
	win        int64   // index of the current window
	winCount   int     // events in the current window
	winSev     uint8   // highest rate_spike severity reported in this window
	baseEvents int     // events in completed windows
	started    bool
	toolCalls  int
	tools      []toolStat
	prof       profile    // models and version the baselines describe
	dests      destSketch // destinations sent to (new_destination)
	grp        *peerGroup // peer group (nil: none)
	ops        int        // events since the baselines (re)started
	firstNs    int64      // event time of the first of them (unix ns)
}

// toolStat counts one tool's calls by one agent.
type toolStat struct {
	name  string
	count uint32
	// outsideSession is the hash of the session in which the tool was last
	// reported outside the manifest (0: never).
	outsideSession uint64
}

// New returns a Detector. Zero or negative limits fall back to defaults.
func New(opts Options) *Detector {
	def := DefaultOptions()
	if opts.Window <= 0 {
		opts.Window = def.Window
	}
	if opts.Alpha <= 0 || opts.Alpha > 1 {
		opts.Alpha = def.Alpha
	}
	if opts.SpikeZ <= 0 {
		opts.SpikeZ = def.SpikeZ
	}
	if opts.MaxToolsPerAgent <= 0 {
		opts.MaxToolsPerAgent = def.MaxToolsPerAgent
	}
	if opts.MaxDestinationsPerAgent <= 0 {
		opts.MaxDestinationsPerAgent = def.MaxDestinationsPerAgent
	}
	if opts.MinWindows < 1 {
		opts.MinWindows = 1
	}
	if opts.PeerAlpha <= 0 || opts.PeerAlpha > 1 {
		opts.PeerAlpha = def.PeerAlpha
	}
	if opts.PeerPrior < 0 {
		opts.PeerPrior = 0
	}
	if opts.MaxPeerGroups <= 0 {
		opts.MaxPeerGroups = def.MaxPeerGroups
	}
	if opts.MaxToolsPerGroup <= 0 {
		opts.MaxToolsPerGroup = def.MaxToolsPerGroup
	}
	if opts.PeerMinWindows < 1 {
		opts.PeerMinWindows = 1
	}
	if opts.PeerMinPeers < 1 {
		opts.PeerMinPeers = 1
	}
	d := &Detector{opts: opts, seed: rand.Uint64(), evictions: new(atomic.Uint64)}
	d.agents, d.groups = d.tables(opts.MaxAgents, opts.MaxPeerGroups)
	return d
}

// tables returns empty agent and group tables of the given caps: an
// evicted agent leaves its group, an evicted group is marked so its
// members rejoin by name; evictions are counted.
func (d *Detector) tables(agents, groups int) (*lru.LRU[*agentState], *lru.LRU[*peerGroup]) {
	a, g := lru.New[*agentState](agents), lru.New[*peerGroup](groups)
	a.OnEvict(func(_ string, st **agentState) { d.leaveGroup(*st) })
	g.OnEvict(func(_ string, grp **peerGroup) { (*grp).evicted = true })
	a.CountInto(d.evictions)
	g.CountInto(d.evictions)
	return a, g
}

// SetMeter implements detector.Bounded.
func (d *Detector) SetMeter(m *lru.Meter) {
	d.agents.Metered(m, Name+"/agents", agentBytes)
	d.groups.Metered(m, Name+"/groups", groupBytes)
}

// agentBytes is the heap one agent's baseline holds: the state, its id,
// tool table with names, model profile and destination sketch.
func agentBytes(id string, a **agentState) int {
	st := *a
	if st == nil {
		return lru.String(id)
	}
	n := lru.Alloc(int(unsafe.Sizeof(*st))) + lru.String(id) + toolsBytes(st.tools) +
		lru.Slice(st.prof.models) + lru.String(st.prof.version) + lru.Slice(st.dests.hashes)
	for _, m := range st.prof.models {
		n += lru.String(m)
	}
	return n
}

// groupBytes is the heap one peer group holds: the group, its name and
// tool table.
func groupBytes(name string, g **peerGroup) int {
	if *g == nil {
		return lru.String(name)
	}
	return lru.Alloc(int(unsafe.Sizeof(**g))) + lru.String(name) + toolsBytes((*g).tools)
}

func toolsBytes(ts []toolStat) int {
	n := lru.Slice(ts)
	for i := range ts {
		n += lru.String(ts[i].name)
	}
	return n
}

// Evictions implements detector.Bounded.
func (d *Detector) Evictions() uint64 { return d.evictions.Load() }

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// Tracked returns the number of agents currently tracked.
func (d *Detector) Tracked() int { return d.agents.Len() }

// Groups returns the number of peer groups currently tracked.
func (d *Detector) Groups() int { return d.groups.Len() }

// Observe implements detector.Detector.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	st := d.state(ev.AgentID)
	d.joinGroup(st, agent)
	d.observeProfile(st, ev, emit)
	if st.ops == 0 {
		st.firstNs = ev.Time.UnixNano()
	}
	st.ops++
	d.observeRate(st, ev, emit)
	if ev.Kind == models.KindToolCall && ev.ToolName != "" {
		d.observeTool(st, ev, agent, emit)
	}
	if d.opts.NewDestination {
		d.observeDestinations(st, ev, emit)
	}
}

// state returns the agent's state, creating it (and evicting the least
// recently active agent when full) and moving it to the LRU head.
func (d *Detector) state(id string) *agentState {
	st, created := d.agents.Put(id)
	if created {
		*st = &agentState{}
	}
	return *st
}

// sessionHash maps a session id to a non-zero 64-bit value.
func (d *Detector) sessionHash(s string) uint64 {
	h := keyedHash(d.seed, s)
	if h == 0 {
		h = 1
	}
	return h
}

// windowStart returns the start time of window w.
func windowStart(w int64, win time.Duration) time.Time {
	return time.Unix(0, w*int64(win)).UTC()
}
