// Package risk judges what a tool call does from its arguments and
// payloads, not from the tool's name: the command it runs, the secrets and
// credential files it carries, the money it moves, what it shares and with
// whom, what it deletes, and where it sends data. It also keeps per-agent
// and per-peer-group statistics of argument shapes and destinations, so a
// call can be judged without its tool result.
//
// Findings (severity is set once from the danger of the action, never per
// data set; explanations name the argument and the pattern id):
//
//	kind                   severity                                     when
//	dangerous_command      the pattern's (50–90, rules.go)              a command/code argument (the tool has the execution
//	                                                                    label, the argument is named like a command, or the
//	                                                                    value opens with a shell program) matches a pattern
//	secret_in_arguments    80 (60 for generic-api-key) in an outgoing   a gitleaks default rule matches an argument value
//	                       call; 45 (30) otherwise
//	sensitive_path         70 in an outgoing call; 40 otherwise         an argument names a credential store or system file
//	public_share           65; 35 when the call carries its own         a share/permission argument opens a resource to anyone;
//	                       content (a public post, whose content is     with a payload the call publishes that content, which
//	                       judged as outgoing instead)                  makes it outgoing for the secret/card/id judgements
//	external_share         45; 55 when the grant lets the grantee       a permission grant names an address outside the owner's and
//	                       write, own or administer (elevatedValues)    principal's domains, new to the agent and its peers
//	payment_card           75 out to a destination new to agent and     an argument holds a payment card number (network prefix,
//	                       peers; 45 out to a known one; 30 otherwise   length and Luhn check)
//	personal_id            70 out to a destination new to agent and     an argument holds a national identification number
//	                       peers or a public post with no named         (SSN-format ddd-dd-dddd with valid area, group and
//	                       recipient; 45 out to a known one; 30 else    serial)
//	system_file_change     the pattern's (60–75, rules.go)              a writing or destructive call names a start-up, cron,
//	                                                                    service, authorized_keys, account or hosts file
//	safety_device_change   55                                           a device call unlocks a door, disarms an alarm or camera,
//	                                                                    or switches off a smoke/gas/leak safety device
//	bulk_deletion          60                                           a destructive call targets everything (*, all, /, …)
//	                                                                    or sets recursive/force/purge, or one argument lists
//	                                                                    ≥ BulkItems values (ids of messages, records, files)
//	payment_anomaly        65 amount ≥ AmountZ above the agent's history to a new recipient; 45 amount alone;
//	                       30 new recipient alone (once the agent has MinPayments payments);
//	                       55 an amount ≥ ColdAmount while the agent has fewer than MinPayments payments (cold start)
//	new_egress             35 (20 while the agent has fewer than           an outgoing call or a fetch names a host, mail domain or
//	                       MinHistory calls; 45 for a raw IP or         address (in its arguments or tether.destination) new to
//	                       punycode host)                               the agent and its peer group
//	argument_novelty       40 for a destination-like argument           after MinToolCalls calls of a tool: an argument set, or
//	                       (recipient, url, path, command), 30 else     a value class of an argument, new to the agent and peers
//	payload_size           40                                           an outgoing call's arguments are ≥ SizeZ σ larger (log
//	                                                                    bytes) than the agent's earlier calls of the tool
//	first_capability_use   execution 45, money 40; +10 when the         the first execution or money call of an agent with
//	                       declared purpose does not mention it;        MinHistory calls of history
//	                       25 when the peer group uses it
//
// A call is outgoing when its tool is labelled public_sink, money or
// execution, or an argument is a web address with a payload. Tool labels
// come from the inventory, else from detector/toolcap (declaration, then
// the call's own argument names).
//
// Cost: one pass over the argument bytes (a small JSON walker), one
// keyword scan per string value (gitleaks-style prefilter: a rule's
// regular expression runs only on values containing one of its keywords),
// and bounded hash sets. State: agents and peer groups whose bytes the
// memory budget accounts (SetMeter; least recently active evicted first
// when it is exceeded, counted), MaxAgents and MaxPeerGroups optional
// ceilings; the labels inferred for unregistered tools are a cache of at
// most 4,096 entries (recomputed when evicted, not counted).
package risk

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/tetherhq/tether/detector/internal/ewstats"
	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/detector/toolcap"
	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on findings.
const Name = "risk"

// Finding kinds.
const (
	KindDangerousCommand   = "dangerous_command"
	KindSecretInArguments  = "secret_in_arguments"
	KindSensitivePath      = "sensitive_path"
	KindPublicShare        = "public_share"
	KindBulkDeletion       = "bulk_deletion"
	KindPaymentAnomaly     = "payment_anomaly"
	KindNewEgress          = "new_egress"
	KindArgumentNovelty    = "argument_novelty"
	KindFirstCapabilityUse = "first_capability_use"
	KindPaymentCard        = "payment_card"
	KindExternalShare      = "external_share"
	KindSystemFileChange   = "system_file_change"
	KindSafetyDeviceChange = "safety_device_change"
	KindPayloadSize        = "payload_size"
	KindPersonalID         = "personal_id"
)

// Severities, set once from the danger of the action (see the package doc).
const (
	SevSecretOutgoing        = 80
	SevSecretGenericOutgoing = 60
	SevSecret                = 45
	SevSecretGeneric         = 30
	SevPathOutgoing          = 70
	SevPath                  = 40
	SevPublicShare           = 65
	SevPublicPost            = 35
	SevBulkDeletion          = 60
	SevPaymentBoth           = 65
	SevPaymentAmount         = 45
	SevPaymentRecipient      = 30
	SevEgress                = 35
	SevEgressYoung           = 20
	SevNoveltyDestination    = 40
	SevNovelty               = 30
	SevFirstExecution        = 45
	SevFirstMoney            = 40
	SevFirstOffPurpose       = 10 // added when the purpose does not mention the capability
	SevFirstPeerUsed         = 25
	SevCardNewDestination    = 75
	SevCardKnownDestination  = 45
	SevCard                  = 30
	SevExternalShare         = 45
	SevExternalShareElevated = 55
	SevEgressSuspiciousHost  = 45
	SevPayloadSize           = 40
	SevIDNewDestination      = 70
	SevIDKnownDestination    = 45
	SevID                    = 30
	SevPaymentCold           = 55
)

// Options configures the detector.
type Options struct {
	// MaxAgents bounds per-agent state (least recently active evicted).
	MaxAgents int
	// MaxPeerGroups bounds per-peer-group state.
	MaxPeerGroups int
	// MaxTools bounds the tools whose argument shapes are kept per agent or group.
	MaxTools int
	// MaxDestinations bounds the destinations (and payment recipients)
	// remembered per agent; a peer group keeps four times as many.
	MaxDestinations int
	// MaxShapes bounds the argument sets and value classes kept per tool.
	MaxShapes int
	// MinHistory is how many tool calls an agent needs before new egress
	// and first capability use count at full severity.
	MinHistory int
	// MinToolCalls is how many calls of a tool (by the agent) precede
	// argument-novelty judgements of it.
	MinToolCalls int
	// MinPayments is how many payments form the amount baseline.
	MinPayments int
	// AmountZ is the z-score of log(1+amount) above the agent's EW mean at
	// which an amount is anomalous.
	AmountZ float64
	// AmountAlpha is the smoothing factor of the amount baseline.
	AmountAlpha float64
	// ColdAmount is the amount at or above which a payment by an agent with
	// fewer than MinPayments payments (no amount baseline yet) is reported
	// (payment_anomaly at SevPaymentCold); 0 disables the cold-start check.
	// It is in the payment's own units, set once for every data set.
	ColdAmount float64
	// BulkItems is how many values one argument of a destructive call must
	// list (e.g. message or record ids) to count as a bulk deletion; 0
	// disables the count (the "everything" values still apply).
	BulkItems int
	// SizeZ is the z-score of log(1+argument bytes) above a tool's EW mean
	// (per agent) at which an outgoing call's payload is unusually large.
	SizeZ float64
	// MaxValueBytes caps how much of one argument value is scanned.
	MaxValueBytes int
	// Patterns is the compiled command, path, system-file and safety-device
	// tables (nil: the default ruleset's, NewPatterns).
	Patterns *Patterns
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		MaxAgents:       0,
		MaxPeerGroups:   0,
		MaxTools:        32,
		MaxDestinations: 128,
		MaxShapes:       16,
		MinHistory:      20,
		MinToolCalls:    5,
		MinPayments:     5,
		AmountZ:         3,
		AmountAlpha:     0.1,
		ColdAmount:      5000,
		BulkItems:       20,
		SizeZ:           4,
		MaxValueBytes:   64 << 10,
	}
}

// Detector is the argument-risk detector. It is not safe for concurrent use.
type Detector struct {
	opts    Options
	secrets *secretSet
	agents  *lru.LRU[agentState]
	peers   *lru.LRU[peerState]
	labels  *lru.LRU[uint8] // labels inferred for tools known only from calls
	// evictions counts entries evicted from the bounded tables (read by
	// metrics from another goroutine).
	evictions *atomic.Uint64

	// roles caches toolcap.ArgRole by argument name (cleared when large).
	roles map[string]toolcap.Role

	// scratch
	w        argWalker
	sc       scanner
	lower    []byte // every string leaf in lower case, back to back
	lowerAt  []int  // leaf i's lower-case text is lower[lowerAt[i]:lowerAt[i+1]]
	dests    []string
	dstLower []byte
	phrase   []byte
	keyBuf   []string
}

// role returns toolcap.ArgRole(name), cached.
func (d *Detector) role(name string) toolcap.Role {
	if r, ok := d.roles[name]; ok {
		return r
	}
	if len(d.roles) >= 4096 {
		clear(d.roles)
	}
	r := toolcap.ArgRole(name, "")
	d.roles[strings.Clone(name)] = r // name may alias an event's arguments
	return r
}

// leafLower returns leaf i's value in ASCII lower case (clipped to
// MaxValueBytes).
func (d *Detector) leafLower(i int) []byte { return d.lower[d.lowerAt[i]:d.lowerAt[i+1]] }

// leafVal returns leaf i's value clipped to MaxValueBytes.
func (d *Detector) leafVal(i int) string {
	v := d.w.leaves[i].val
	if len(v) > d.opts.MaxValueBytes {
		v = v[:d.opts.MaxValueBytes]
	}
	return v
}

// agentState is what the detector remembers of one agent.
type agentState struct {
	Calls      int
	Caps       uint8 // capability labels used (bit i: models.Labels[i])
	Payments   int
	Amount     ewstats.Stats
	Recipients hashSet
	Egress     hashSet
	Tools      []toolShape
}

// peerState is what the detector remembers of one peer group.
type peerState struct {
	Caps       uint8
	Recipients hashSet
	Egress     hashSet
	Tools      []toolShape
}

// toolShape is the argument shapes seen for one tool.
type toolShape struct {
	Tool    string
	Calls   int
	Sigs    hashSet       // argument-name sets
	Classes hashSet       // (argument, value class) pairs
	Size    ewstats.Stats // log(1+argument bytes)
}

// New returns a detector. It panics if the embedded gitleaks rules do not
// compile (they are fixed data, checked by the tests).
func New(opts Options) *Detector {
	if opts.Patterns == nil {
		opts.Patterns = defaultPatterns
	}
	s, err := defaultSecrets()
	if err != nil {
		panic(err)
	}
	d := &Detector{
		opts:      opts,
		secrets:   s,
		agents:    lru.New[agentState](opts.MaxAgents),
		peers:     lru.New[peerState](opts.MaxPeerGroups),
		labels:    lru.New[uint8](4096),
		roles:     map[string]toolcap.Role{},
		evictions: new(atomic.Uint64),
	}
	d.agents.CountInto(d.evictions)
	d.peers.CountInto(d.evictions)
	return d
}

// SetMeter implements detector.Bounded: an agent or peer group is its id,
// hash sets and tool shapes.
func (d *Detector) SetMeter(m *lru.Meter) {
	d.agents.Metered(m, Name+"/agents", func(id string, a *agentState) int {
		return lru.String(id) + setsBytes(a.Recipients, a.Egress, a.Tools)
	})
	d.peers.Metered(m, Name+"/groups", func(id string, p *peerState) int {
		return lru.String(id) + setsBytes(p.Recipients, p.Egress, p.Tools)
	})
	d.labels.Metered(m, Name+"/tool-labels", func(key string, _ *uint8) int { return lru.String(key) })
}

func setsBytes(recipients, egress hashSet, tools []toolShape) int {
	n := lru.Slice(recipients) + lru.Slice(egress) + lru.Slice(tools)
	for i := range tools {
		n += lru.String(tools[i].Tool) + lru.Slice(tools[i].Sigs) + lru.Slice(tools[i].Classes)
	}
	return n
}

// Evictions implements detector.Bounded; safe for concurrent use.
func (d *Detector) Evictions() uint64 { return d.evictions.Load() }

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// call is the per-event judgement context.
type call struct {
	ev       *models.Event
	agent    *models.AgentSpec
	labels   uint8
	outgoing bool
	// cardArg names the argument carrying a payment card number;
	// elevated: a share-role argument grants more than reading
	// (elevatedValues: writer, editor, owner …).
	elevated bool
	// shareTo lists the e-mail addresses a permission grant names.
	cardArg string
	// idArg names the argument carrying a national identification number.
	idArg string
	// public: the call publishes its content to anyone (a public
	// visibility next to a payload).
	public  bool
	shareTo []string
}

// labelBitOf holds 1<<i for models.Labels[i].
var labelBitOf = func() map[models.Label]uint8 {
	m := map[models.Label]uint8{}
	for i, l := range models.Labels {
		m[l] = 1 << i
	}
	return m
}()

func labelBit(l models.Label) uint8 { return labelBitOf[l] }

func labelBits(ls []models.Label) uint8 {
	var b uint8
	for _, l := range ls {
		b |= labelBitOf[l]
	}
	return b
}

func (c *call) has(l models.Label) bool { return c.labels&labelBit(l) != 0 }

// toolLabels returns the tool's labels: the inventory's (or inferred from
// its declaration), else inferred from the call's argument names.
func (d *Detector) toolLabels(ev *models.Event, agent *models.AgentSpec) uint8 {
	if agent != nil {
		if spec := agent.Tool(ev.ToolName); spec != nil {
			return labelBits(toolcap.Resolve(spec))
		}
	}
	d.keyBuf = append(d.keyBuf[:0], d.w.keys...)
	slices.Sort(d.keyBuf)
	key := ev.ToolName + "\x00" + strings.Join(d.keyBuf, "\x00")
	if v := d.labels.Get(key); v != nil {
		return *v
	}
	in := toolcap.FromCall(ev.ToolName, d.keyBuf)
	v, _ := d.labels.Put(key)
	*v = labelBits(in.Labels)
	return *v
}

// Observe implements detector.Detector.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	if ev.Kind != models.KindToolCall {
		return
	}
	d.w.walk(ev.Arguments)
	d.lower, d.lowerAt = d.lower[:0], append(d.lowerAt[:0], 0)
	for i := range d.w.leaves {
		if d.w.leaves[i].kind == leafString {
			d.lower = appendLower(d.lower, d.leafVal(i))
		}
		d.lowerAt = append(d.lowerAt, len(d.lower))
	}
	c := call{ev: ev, agent: agent}
	c.labels = d.toolLabels(ev, agent)
	c.outgoing = c.has(models.LabelPublicSink) || c.has(models.LabelMoney) || c.has(models.LabelExecution)
	var roles toolcap.Role
	for _, k := range d.w.keys {
		roles |= d.role(k)
	}
	if roles&toolcap.RoleURL != 0 && roles&toolcap.RolePayload != 0 || roles&toolcap.RoleHook != 0 {
		c.outgoing = true
	}

	st, _ := d.agents.Put(ev.AgentID)
	var peer *peerState
	if agent != nil && agent.PeerGroup != "" {
		peer, _ = d.peers.Put(agent.PeerGroup)
	}

	d.judgeValues(&c, emit)
	d.judgeMoney(&c, st, peer, emit)
	d.judgeShare(&c, st, peer, emit)
	d.judgeEgress(&c, st, peer, emit)
	d.judgeShape(&c, st, peer, emit)
	d.judgeFirstUse(&c, st, peer, emit)

	st.Calls++
}

// judgeValues applies the command, secret, path, share and deletion
// patterns to every argument value and emits the strongest finding of each
// kind.
func (d *Detector) judgeValues(c *call, emit func(models.Finding)) {
	exec := c.has(models.LabelExecution)
	destructive := c.has(models.LabelDestructive) && !c.has(models.LabelMoney) && !exec
	var cmd, path, sys *pattern
	var cmdArg, pathArg, sysArg, secretArg, shareArg, bulkArg string
	bulkItems := 0
	writes := exec || c.has(models.LabelDestructive) || d.hasRole(toolcap.RolePayload)
	var secret secretHit
	secretFound := false
	for i := range d.w.leaves {
		lf := &d.w.leaves[i]
		role := d.role(lf.key)
		if lf.kind == leafBool && lf.val == "true" && role&toolcap.RoleForce != 0 && destructive && bulkArg == "" {
			bulkArg = lf.key
		}
		if lf.kind == leafNumber && c.cardArg == "" && hasCardNumber(lf.val) {
			c.cardArg = lf.key
		}
		if lf.kind != leafString || lf.val == "" {
			continue
		}
		val, lower := d.leafVal(i), d.leafLower(i)
		if exec || role&toolcap.RoleCommand != 0 || looksLikeCommand(val) {
			if p := d.opts.Patterns.commands.first(val, lower); p != nil && (cmd == nil || p.Severity > cmd.Severity) {
				cmd, cmdArg = p, lf.key
			}
		}
		if path == nil {
			if p := d.opts.Patterns.paths.first(val, lower); p != nil {
				path, pathArg = p, lf.key
			}
		}
		if writes && sys == nil && len(val) < 4096 && (role&toolcap.RolePath != 0 || strings.HasPrefix(val, "/") || strings.HasPrefix(val, "~/")) {
			if p := d.opts.Patterns.system.first(strings.TrimSpace(val), lower); p != nil {
				sys, sysArg = p, lf.key
			}
		}
		if !secretFound {
			if h, ok := d.secrets.scan(&d.sc, val, lower); ok {
				secret, secretArg, secretFound = h, lf.key, true
			}
		}
		if (role&toolcap.RoleShare != 0 || c.has(models.LabelPublicSink) && role&(toolcap.RolePeople|toolcap.RoleAccount) != 0) && shareArg == "" && len(lower) < 32 {
			if slices.Contains(shareValues, strings.TrimSpace(string(lower))) {
				shareArg = lf.key
			}
		}
		if role&toolcap.RoleShare != 0 && len(lower) < 32 && slices.Contains(elevatedValues, strings.TrimSpace(string(lower))) {
			c.elevated = true
		}
		if destructive && bulkArg == "" && slices.Contains(bulkValues, strings.TrimSpace(val)) {
			bulkArg = lf.key
		}
		if c.cardArg == "" && hasCardNumber(val) {
			c.cardArg = lf.key
		}
		if c.idArg == "" && hasNationalID(val) {
			c.idArg = lf.key
		}
	}
	if destructive && bulkArg == "" && d.opts.BulkItems > 0 {
		bulkArg, bulkItems = d.longList()
	}
	if d.shareCall() {
		for i := range d.w.leaves {
			lf := &d.w.leaves[i]
			if lf.kind == leafString && d.role(lf.key)&(toolcap.RolePeople|toolcap.RoleAccount) != 0 && valueClass(lf) == "email" {
				c.shareTo = append(c.shareTo, strings.ToLower(strings.TrimSpace(lf.val)))
			}
		}
	}
	if cmd != nil {
		d.emit(c, emit, KindDangerousCommand, cmd.Severity, 0.85,
			fmt.Sprintf("argument %q of %s runs a command matching %s (%s)", cmdArg, c.ev.ToolName, cmd.ID, cmd.Why),
			models.Feature{Name: "pattern_severity", Observed: float64(cmd.Severity)})
	}
	// A public visibility on a call that carries content publishes that
	// content: the call goes out to everyone, and what it carries is
	// judged as outgoing (a secret or an identifier in a public paste).
	publishes := shareArg != "" && d.hasRole(toolcap.RolePayload)
	if publishes {
		c.outgoing, c.public = true, true
	}
	if secretFound {
		generic := strings.HasPrefix(secret.rule.id, "generic")
		sev := uint8(SevSecret)
		switch {
		case c.outgoing && generic:
			sev = SevSecretGenericOutgoing
		case c.outgoing:
			sev = SevSecretOutgoing
		case generic:
			sev = SevSecretGeneric
		}
		where := "carries"
		if c.outgoing {
			where = "sends out"
		}
		d.emit(c, emit, KindSecretInArguments, sev, 0.8,
			fmt.Sprintf("argument %q of %s %s a secret matching gitleaks rule %s", secretArg, c.ev.ToolName, where, secret.rule.id),
			models.Feature{Name: "secret_entropy", Observed: shannon(secret.secret), Baseline: secret.rule.entropy})
	}
	if path != nil {
		sev := uint8(SevPath)
		if c.outgoing {
			sev = SevPathOutgoing
		}
		d.emit(c, emit, KindSensitivePath, sev, 0.7,
			fmt.Sprintf("argument %q of %s names %s (%s)", pathArg, c.ev.ToolName, path.ID, path.Why),
			models.Feature{Name: "outgoing", Observed: b2f(c.outgoing)})
	}
	if sys != nil {
		d.emit(c, emit, KindSystemFileChange, sys.Severity, 0.8,
			fmt.Sprintf("%s writes or removes %q named by argument %q: %s (%s)", c.ev.ToolName, clip(d.argValue(sysArg), 96), sysArg, sys.ID, sys.Why),
			models.Feature{Name: "pattern_severity", Observed: float64(sys.Severity)})
	}
	d.judgeSafety(c, emit)
	switch {
	case publishes:
		d.emit(c, emit, KindPublicShare, SevPublicPost, 0.6,
			fmt.Sprintf("argument %q of %s publishes the content it carries to anyone (share.public_post)", shareArg, c.ev.ToolName),
			models.Feature{Name: "outgoing", Observed: b2f(c.outgoing)})
	case shareArg != "":
		d.emit(c, emit, KindPublicShare, SevPublicShare, 0.8,
			fmt.Sprintf("argument %q of %s opens the resource to anyone (share.public)", shareArg, c.ev.ToolName),
			models.Feature{Name: "outgoing", Observed: b2f(c.outgoing)})
	}
	if bulkArg != "" {
		what := "targets everything through"
		if bulkItems > 0 {
			what = fmt.Sprintf("names %d items (BulkItems %d) in", bulkItems, d.opts.BulkItems)
		}
		d.emit(c, emit, KindBulkDeletion, SevBulkDeletion, 0.7,
			fmt.Sprintf("destructive call %s %s argument %q (delete.bulk)", c.ev.ToolName, what, bulkArg),
			models.Feature{Name: "leaves", Observed: float64(len(d.w.leaves))})
	}
}

// longList returns the first argument that lists at least BulkItems
// scalar values (the elements of one array share their key and sit next
// to each other among the leaves) and how many it lists.
func (d *Detector) longList() (string, int) {
	run := 0
	for i := range d.w.leaves {
		lf := &d.w.leaves[i]
		if i > 0 && d.w.leaves[i-1].key == lf.key && d.w.leaves[i-1].top == lf.top {
			run++
		} else {
			run = 1
		}
		if run >= d.opts.BulkItems && (i+1 == len(d.w.leaves) || d.w.leaves[i+1].key != lf.key || d.w.leaves[i+1].top != lf.top) {
			return lf.key, run
		}
	}
	return "", 0
}

// hasRole reports whether an argument of the call has role r.
func (d *Detector) hasRole(r toolcap.Role) bool {
	for _, k := range d.w.keys {
		if d.role(k)&r != 0 {
			return true
		}
	}
	return false
}

// argValue returns the first string value under argument key.
func (d *Detector) argValue(key string) string {
	for i := range d.w.leaves {
		if d.w.leaves[i].key == key && d.w.leaves[i].kind == leafString {
			return d.w.leaves[i].val
		}
	}
	return ""
}

// judgeSafety matches the safety-device patterns against the tool name and
// its short, non-payload argument values read as one phrase
// ("set_lock_state" + "front_door" + "unlocked"). The patterns need an
// action (unlock, disarm, turn off), so reads ("get_lock_status") pass.
func (d *Detector) judgeSafety(c *call, emit func(models.Finding)) {
	buf := d.phrase[:0]
	for _, w := range toolcap.Words(c.ev.ToolName) { // camelCase and snake_case alike
		buf = append(append(buf, w...), ' ')
	}
	for i := range d.w.leaves {
		lf := &d.w.leaves[i]
		// device commands are short values; prose (a message body) is
		// not a command to a device
		if (lf.kind == leafString && len(lf.val) <= 64 || lf.kind == leafBool) && d.role(lf.key)&toolcap.RolePayload == 0 {
			buf = append(buf, ' ')
			buf = appendPhrase(buf, lf.key)
			buf = append(buf, ' ')
			buf = appendPhrase(buf, lf.val)
		}
	}
	d.phrase = buf
	if p := d.opts.Patterns.safety.first(string(buf), buf); p != nil {
		d.emit(c, emit, KindSafetyDeviceChange, p.Severity, 0.6,
			fmt.Sprintf("%s %s: %s (%s)", c.ev.ToolName, p.Why, p.ID, clip(string(buf), 120)),
			models.Feature{Name: "pattern_severity", Observed: float64(p.Severity)})
	}
}

// appendPhrase appends s lower-cased with '_' and '-' read as spaces.
func appendPhrase(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_' || c == '-':
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// shareCall reports whether the call grants access: an argument named
// like a permission, role, visibility or ACL.
func (d *Detector) shareCall() bool {
	for _, k := range d.w.keys {
		if d.role(k)&toolcap.RoleShare != 0 {
			return true
		}
	}
	return false
}

// judgeShare reports a permission grant to an address outside the
// owner's and principal's mail domains that neither the agent nor its
// peers have sent to (checked before judgeEgress records it).
func (d *Detector) judgeShare(c *call, st *agentState, peer *peerState, emit func(models.Finding)) {
	for _, addr := range c.shareTo {
		domain := addr[strings.LastIndexByte(addr, '@')+1:]
		if c.agent != nil && (sameDomain(c.agent.Owner, domain)) || sameDomain(c.ev.Principal, domain) {
			continue
		}
		h := hashString("mail:" + addr)
		if st.Egress.has(h) || peer != nil && peer.Egress.has(h) {
			continue
		}
		sev, level := uint8(SevExternalShare), "access"
		if c.elevated {
			sev, level = SevExternalShareElevated, "write or owner access"
		}
		d.emit(c, emit, KindExternalShare, sev, 0.6,
			fmt.Sprintf("%s grants %s to %q, outside the owner's and principal's domains and new to the agent and its peers (share.external)", c.ev.ToolName, level, clip(addr, 96)),
			models.Feature{Name: "agent_calls", Observed: float64(st.Calls), Baseline: float64(d.opts.MinHistory)})
		return
	}
}

func sameDomain(addr, domain string) bool {
	i := strings.LastIndexByte(addr, '@')
	return i >= 0 && strings.EqualFold(addr[i+1:], domain)
}

// looksLikeCommand reports whether a value opens with a shell program and
// an argument or operator, e.g. "curl -s … | sh".
func looksLikeCommand(v string) bool {
	s := strings.TrimLeft(v, " \t\n$")
	end := strings.IndexAny(s, " \t\n;|&")
	if end <= 0 || end == len(s) || end > 16 {
		return false
	}
	first := s[:end]
	if i := strings.LastIndexByte(first, '/'); i >= 0 {
		first = first[i+1:]
	}
	var buf [16]byte
	return shellStarters[string(appendLower(buf[:0], first))]
}

// judgeMoney compares a money movement's amount with the agent's history
// and its recipient with the agent's and peers' recipients.
func (d *Detector) judgeMoney(c *call, st *agentState, peer *peerState, emit func(models.Finding)) {
	if !c.has(models.LabelMoney) {
		return
	}
	amount, amountArg := -1.0, ""
	var recipients []string
	for i := range d.w.leaves {
		lf := &d.w.leaves[i]
		role := d.role(lf.key)
		if role&toolcap.RoleAmount != 0 && amount < 0 && (lf.kind == leafNumber || lf.kind == leafString) {
			if v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimLeft(lf.val, "$€£ ")), 64); err == nil && v >= 0 && !math.IsInf(v, 0) {
				amount, amountArg = v, lf.key
			}
		}
		if lf.kind == leafString && role&(toolcap.RoleParty|toolcap.RolePeople) != 0 && role&toolcap.RoleAmount == 0 {
			recipients = append(recipients, normalise(lf.val))
		}
	}
	warm := st.Payments >= d.opts.MinPayments
	var z float64
	high := false
	cold := !warm && d.opts.ColdAmount > 0 && amount >= d.opts.ColdAmount
	if amount >= 0 {
		x := math.Log1p(amount)
		if warm {
			z = (x - st.Amount.Mean) / max(st.Amount.StdDev(), 0.25)
			high = z >= d.opts.AmountZ
		}
		st.Amount.Add(x, d.opts.AmountAlpha)
	}
	newRecipient, who := false, ""
	for _, r := range recipients {
		h := hashString(r)
		if warm && !st.Recipients.has(h) && (peer == nil || !peer.Recipients.has(h)) {
			newRecipient, who = true, r
		}
		st.Recipients.add(h, d.opts.MaxDestinations)
		if peer != nil {
			peer.Recipients.add(h, 4*d.opts.MaxDestinations)
		}
	}
	st.Payments++
	var sev uint8
	var why string
	switch {
	case high && newRecipient:
		sev, why = SevPaymentBoth, fmt.Sprintf("amount %s=%g is %.1f σ above the agent's payments, to recipient %q new to the agent and its peers", amountArg, amount, z, clip(who, 64))
	case high:
		sev, why = SevPaymentAmount, fmt.Sprintf("amount %s=%g is %.1f σ above the agent's payments", amountArg, amount, z)
	case cold:
		sev, why = SevPaymentCold, fmt.Sprintf("amount %s=%g is at or above the cold-start ceiling %g while the agent has %d payments (fewer than %d: no amount baseline yet)", amountArg, amount, d.opts.ColdAmount, st.Payments-1, d.opts.MinPayments)
	case newRecipient:
		sev, why = SevPaymentRecipient, fmt.Sprintf("payment to recipient %q new to the agent and its peers", clip(who, 64))
	default:
		return
	}
	d.emit(c, emit, KindPaymentAnomaly, sev, 0.6, fmt.Sprintf("%s: %s (money.anomaly)", c.ev.ToolName, why),
		models.Feature{Name: "log_amount", Observed: math.Log1p(max(amount, 0)), Baseline: st.Amount.Mean, Spread: st.Amount.StdDev()},
		models.Feature{Name: "new_recipient", Observed: b2f(newRecipient)})
}

// judgeEgress reports destinations (hosts, mail domains, addresses) of an
// outgoing call or a fetch that neither the agent nor its peers have used.
func (d *Detector) judgeEgress(c *call, st *agentState, peer *peerState, emit func(models.Finding)) {
	fetch := c.has(models.LabelUntrustedContent)
	if !c.outgoing && !fetch {
		d.judgeCard(c, "", emit)
		d.judgeID(c, "", emit)
		return
	}
	d.dests = d.dests[:0]
	if dst := c.ev.Destination; dst != "" {
		// tether.destination: where the runtime says the data went
		n := len(d.dests)
		d.dstLower = appendLower(d.dstLower[:0], dst)
		d.dests = appendDestinations(d.dests, dst, d.dstLower)
		if len(d.dests) == n {
			d.dests = append(d.dests, "dest:"+string(d.dstLower))
		}
	}
	for i := range d.w.leaves {
		if d.w.leaves[i].kind == leafString {
			d.dests = appendDestinations(d.dests, d.leafVal(i), d.leafLower(i))
		}
	}
	var novel string
	defer func() {
		d.judgeCard(c, novel, emit)
		// A public post naming nobody goes to everyone: as new as it gets.
		if novel == "" && len(d.dests) == 0 && (c.has(models.LabelPublicSink) || c.public) {
			d.judgeID(c, "everyone (a public post)", emit)
		} else {
			d.judgeID(c, novel, emit)
		}
	}()
	for _, dst := range d.dests {
		h := hashString(dst)
		if !st.Egress.has(h) && (peer == nil || !peer.Egress.has(h)) && novel == "" {
			novel = dst
		}
		st.Egress.add(h, d.opts.MaxDestinations)
		if peer != nil {
			peer.Egress.add(h, 4*d.opts.MaxDestinations)
		}
	}
	if novel == "" {
		return
	}
	sev := uint8(SevEgress)
	if st.Calls < d.opts.MinHistory {
		sev = SevEgressYoung
	}
	why := ""
	if suspiciousHost(novel) {
		sev, why = SevEgressSuspiciousHost, " (a raw IP address or punycode host name)"
	}
	verb := "sends to"
	if !c.outgoing {
		verb = "fetches from"
	}
	d.emit(c, emit, KindNewEgress, sev, 0.5,
		fmt.Sprintf("%s %s %q, new to the agent and its peer group%s (egress.new)", c.ev.ToolName, verb, clip(novel, 96), why),
		models.Feature{Name: "agent_calls", Observed: float64(st.Calls), Baseline: float64(d.opts.MinHistory)})
}

// judgeCard grades a payment card number by where it goes: out to a
// destination new to the agent and its peers (a card entered on an
// unverified site), out to a known one, or nowhere.
func (d *Detector) judgeCard(c *call, novel string, emit func(models.Finding)) {
	if c.cardArg == "" {
		return
	}
	sev, where := uint8(SevCard), "carries"
	switch {
	case c.outgoing && novel != "":
		sev, where = SevCardNewDestination, fmt.Sprintf("sends to %q, new to the agent and its peers,", clip(novel, 96))
	case c.outgoing:
		sev, where = SevCardKnownDestination, "sends to a known destination"
	}
	d.emit(c, emit, KindPaymentCard, sev, 0.7,
		fmt.Sprintf("argument %q of %s %s a payment card number (Luhn-valid, card.pan)", c.cardArg, c.ev.ToolName, where),
		models.Feature{Name: "outgoing", Observed: b2f(c.outgoing)}, models.Feature{Name: "new_destination", Observed: b2f(novel != "")})
}

// judgeID grades a national identification number like judgeCard: out to
// a destination new to the agent and its peers, out to a known one, or
// nowhere.
func (d *Detector) judgeID(c *call, novel string, emit func(models.Finding)) {
	if c.idArg == "" {
		return
	}
	sev, where := uint8(SevID), "carries"
	switch {
	case c.outgoing && novel != "":
		sev, where = SevIDNewDestination, fmt.Sprintf("sends to %q, new to the agent and its peers,", clip(novel, 96))
	case c.outgoing:
		sev, where = SevIDKnownDestination, "sends to a known destination"
	}
	d.emit(c, emit, KindPersonalID, sev, 0.6,
		fmt.Sprintf("argument %q of %s %s a national identification number (pii.national_id)", c.idArg, c.ev.ToolName, where),
		models.Feature{Name: "outgoing", Observed: b2f(c.outgoing)}, models.Feature{Name: "new_destination", Observed: b2f(novel != "")})
}

// judgeShape reports argument sets and per-argument value classes new to
// a tool the agent has called at least MinToolCalls times (and new to its
// peers).
func (d *Detector) judgeShape(c *call, st *agentState, peer *peerState, emit func(models.Finding)) {
	ts := shapeOf(&st.Tools, c.ev.ToolName, d.opts.MaxTools)
	var ps *toolShape
	if peer != nil {
		ps = shapeOf(&peer.Tools, c.ev.ToolName, d.opts.MaxTools)
	}
	warm := ts.Calls >= d.opts.MinToolCalls
	d.keyBuf = append(d.keyBuf[:0], d.w.keys...)
	slices.Sort(d.keyBuf)
	sig := uint64(fnvOffset)
	for _, k := range d.keyBuf {
		sig = fnvAdd(fnvAdd(sig, k), "\x00")
	}
	var why string
	var sev uint8
	if warm && !ts.Sigs.has(sig) && (ps == nil || !ps.Sigs.has(sig)) {
		sev, why = SevNovelty, fmt.Sprintf("%s called with arguments {%s}, a set new to the agent and its peers", c.ev.ToolName, clip(strings.Join(d.keyBuf, ", "), 120))
	}
	ts.Sigs.add(sig, d.opts.MaxShapes)
	if ps != nil {
		ps.Sigs.add(sig, d.opts.MaxShapes)
	}
	for i := range d.w.leaves {
		lf := &d.w.leaves[i]
		cls := valueClass(lf)
		h := fnvAdd(fnvAdd(fnvAdd(fnvOffset, lf.top), "\x00"), cls)
		if warm && !ts.Classes.has(h) && (ps == nil || !ps.Classes.has(h)) {
			role := d.role(lf.top)
			s := uint8(SevNovelty)
			// A destination-like argument holding nothing (empty, null)
			// names no one to reach: a new shape, not a new destination.
			if role&(toolcap.RolePeople|toolcap.RoleParty|toolcap.RoleURL|toolcap.RolePath|toolcap.RoleCommand|toolcap.RoleAccount) != 0 && cls != "empty" && cls != "null" {
				s = SevNoveltyDestination
			}
			if s > sev {
				sev, why = s, fmt.Sprintf("argument %q of %s holds a %s, a value class new to the agent and its peers", lf.top, c.ev.ToolName, cls)
			}
		}
		ts.Classes.add(h, d.opts.MaxShapes)
		if ps != nil {
			ps.Classes.add(h, d.opts.MaxShapes)
		}
	}
	size := math.Log1p(float64(len(c.ev.Arguments)))
	if warm && c.outgoing {
		if z := (size - ts.Size.Mean) / max(ts.Size.StdDev(), 0.25); z >= d.opts.SizeZ {
			d.emit(c, emit, KindPayloadSize, SevPayloadSize, 0.5,
				fmt.Sprintf("%s carries %d argument bytes, %.1f σ above the agent's calls of it (typically %.0f bytes) (size.outlier)",
					c.ev.ToolName, len(c.ev.Arguments), z, math.Expm1(ts.Size.Mean)),
				models.Feature{Name: "log_argument_bytes", Observed: size, Baseline: ts.Size.Mean, Spread: ts.Size.StdDev()})
		}
	}
	ts.Size.Add(size, d.opts.AmountAlpha)
	ts.Calls++
	if ps != nil {
		ps.Calls++
	}
	if sev > 0 {
		d.emit(c, emit, KindArgumentNovelty, sev, 0.4, why+" (shape.new)",
			models.Feature{Name: "tool_calls", Observed: float64(ts.Calls), Baseline: float64(d.opts.MinToolCalls)})
	}
}

// judgeFirstUse reports an agent's first execution or money call once it
// has a history.
func (d *Detector) judgeFirstUse(c *call, st *agentState, peer *peerState, emit func(models.Finding)) {
	// one finding per call (finding ids are per kind and event): the
	// strongest of the capabilities used for the first time
	var best uint8
	var why string
	for _, l := range []models.Label{models.LabelExecution, models.LabelMoney} {
		b := labelBit(l)
		if c.labels&b == 0 || st.Caps&b != 0 {
			continue
		}
		first := st.Calls >= d.opts.MinHistory
		st.Caps |= b
		peerUsed := peer != nil && peer.Caps&b != 0
		if peer != nil {
			peer.Caps |= b
		}
		if !first {
			continue
		}
		sev := uint8(SevFirstMoney)
		if l == models.LabelExecution {
			sev = SevFirstExecution
		}
		note := ""
		switch {
		case peerUsed:
			sev, note = SevFirstPeerUsed, "; its peer group uses it"
		case c.agent != nil && !purposeMentions(c.agent.Purpose, l):
			sev += SevFirstOffPurpose
			note = "; the declared purpose does not mention it"
		}
		if sev > best {
			best, why = sev, fmt.Sprintf("first %s call (%s) after %d calls of history%s (capability.first)", l, c.ev.ToolName, st.Calls, note)
		}
	}
	if best > 0 {
		d.emit(c, emit, KindFirstCapabilityUse, best, 0.5, why,
			models.Feature{Name: "agent_calls", Observed: float64(st.Calls), Baseline: float64(d.opts.MinHistory)})
	}
}

// purposeWords are the words of a declared purpose that account for a capability.
var purposeWords = map[models.Label][]string{
	models.LabelExecution: {"code", "coding", "shell", "command", "commands", "script", "scripts", "devops", "deploy", "deployment", "build", "builds",
		"infrastructure", "terminal", "developer", "engineering", "programming", "execute", "run", "ci", "sre", "server", "servers", "automation"},
	models.LabelMoney: {"pay", "pays", "payment", "payments", "bank", "banking", "transfer", "transfers", "money", "finance", "financial", "billing",
		"invoice", "invoices", "purchase", "purchases", "buy", "order", "orders", "procurement", "expenses", "refund", "refunds", "checkout", "shopping", "transactions"},
}

func purposeMentions(purpose string, l models.Label) bool {
	for _, w := range toolcap.Words(purpose) {
		if slices.Contains(purposeWords[l], w) {
			return true
		}
	}
	return false
}

func (d *Detector) emit(c *call, emit func(models.Finding), kind string, sev uint8, conf float64, why string, feats ...models.Feature) {
	emit(models.Finding{Kind: kind, Severity: sev, Confidence: conf, Explanation: why, Features: feats})
}

func shapeOf(tools *[]toolShape, name string, maxTools int) *toolShape {
	for i := range *tools {
		if (*tools)[i].Tool == name {
			return &(*tools)[i]
		}
	}
	if len(*tools) >= maxTools {
		// evict the least used tool
		j := 0
		for i := range *tools {
			if (*tools)[i].Calls < (*tools)[j].Calls {
				j = i
			}
		}
		*tools = slices.Delete(*tools, j, j+1)
	}
	if len(*tools) == cap(*tools) {
		// grown by one: tools are added rarely and most agents use a
		// few, for which doubling would leave a third of the list empty
		*tools = append(make([]toolShape, 0, len(*tools)+1), *tools...)
	}
	*tools = append(*tools, toolShape{Tool: name})
	return &(*tools)[len(*tools)-1]
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
