package fleet

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tetherhq/tether/models"
)

// agent is one simulated root agent and its scripting state.
type agent struct {
	index      int
	purpose    *purpose
	id, name   string
	worker     string
	version    string
	autonomy   models.Autonomy
	principals []string
	rng        *rand.Rand
	rogue      bool
	rogueSince time.Time

	sessions  int       // sessions scripted so far
	next      time.Time // start of the next session
	seq       int       // events emitted by the lineage
	lastCred  string
	pending   []*models.Event
	workerRun int
}

// validator fills derived fields (operation, root agent) and guards the
// simulator against emitting events the pipeline would dead-letter.
var validator = models.NewDecoder(models.DefaultDecodeOptions())

// session scripts one session of an agent (and any sub-agent session it
// delegates to) as a time-ordered slice of events.
type session struct {
	f   *Fleet
	a   *agent
	rng *rand.Rand

	t            time.Time // event-time cursor
	events       []*models.Event
	principal    string
	principalEnd time.Time
	cred         string
	credExp      time.Time

	// identity of the session currently being scripted (parent or worker)
	agentID, sessionID  string
	parentID, parentSID string
	step                int
}

func (s *session) ms(lo, hi int) time.Duration {
	return time.Duration(lo+s.rng.IntN(hi-lo+1)) * time.Millisecond
}

// lognormal draws a positive value with the given median and log-spread.
func (s *session) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*s.rng.NormFloat64())
}

func (s *session) entity() string { return fmt.Sprintf("%05d", 10000+s.rng.IntN(90000)) }

// emit appends an event of the current (sub-)session at the cursor.
func (s *session) emit(kind models.Kind, fill func(*models.Event)) *models.Event {
	s.a.seq++
	exp, pend := s.credExp, s.principalEnd
	ev := &models.Event{
		SchemaVersion:       models.SchemaVersion,
		ID:                  fmt.Sprintf("ev-%04x-%s-%07d", uint16(s.f.opts.Seed), s.a.id, s.a.seq),
		Kind:                kind,
		Time:                s.t,
		AgentID:             s.agentID,
		SessionID:           s.sessionID,
		RootAgentID:         s.a.id,
		ParentAgentID:       s.parentID,
		ParentSessionID:     s.parentSID,
		Principal:           s.principal,
		PrincipalSessionEnd: &pend,
		CredentialID:        s.cred,
		CredentialExpiry:    &exp,
		Step:                s.step,
	}
	if s.agentID == s.a.id {
		ev.AgentName, ev.AgentVersion, ev.Autonomy = s.a.name, s.a.version, s.a.autonomy
	} else {
		ev.AgentName, ev.AgentVersion, ev.Autonomy = s.a.name+" worker", s.a.version, models.AutonomyIntern
	}
	if fill != nil {
		fill(ev)
	}
	if err := validator.Validate(ev, time.Time{}); err != nil {
		panic(fmt.Sprintf("fleet: scripted an invalid event: %v", err)) // a bug in the simulator
	}
	s.step++
	s.events = append(s.events, ev)
	return ev
}

// script writes the agent's next session.
func (s *session) script() {
	a, p, o := s.a, s.a.purpose, s.f.opts
	a.sessions++
	rogueNow := a.rogue && a.sessions > o.WarmupSessions
	s.t = a.next
	s.agentID, s.sessionID = a.id, fmt.Sprintf("%s-s%04d", a.id, a.sessions)
	s.principal = a.principals[s.rng.IntN(len(a.principals))]
	s.principalEnd = s.t.Add(8 * time.Hour)
	s.cred = "cred-" + models.StableID(fmt.Sprint(o.Seed), s.sessionID)[:16]
	s.credExp = s.t.Add(o.CredentialTTL)

	// A hijacked agent either follows an instruction planted in untrusted
	// content, or keeps running on a stale credential after its human's
	// session and the credential have expired.
	staleCred := false
	if rogueNow {
		if a.rogueSince.IsZero() {
			a.rogueSince = s.t
		}
		staleCred = a.lastCred != "" && s.rng.Float64() < 0.5
		if staleCred {
			s.cred = a.lastCred
			s.credExp = s.t.Add(-s.ms(60_000, 40*60_000))
			s.principalEnd = s.credExp.Add(-s.ms(0, 10*60_000))
		}
	}
	a.lastCred = s.cred

	task := s.entity()
	prompt := fmt.Sprintf(p.prompts[s.rng.IntN(len(p.prompts))], task)
	s.emit(models.KindSessionStart, func(ev *models.Event) {
		ev.Role, ev.Model = models.RoleSystem, p.model
		ev.Content = fmt.Sprintf("%s session opened on behalf of %s", p.display, s.principal)
	})
	s.t = s.t.Add(s.ms(50, 900))
	s.emit(models.KindMessage, func(ev *models.Event) { ev.Role, ev.Content = models.RoleUser, prompt })

	loops := 1 + s.rng.IntN(o.MaxLoops)
	rareAt, spawnAt, rogueAt := -1, -1, -1
	if len(p.rare) > 0 && s.rng.Float64() < p.pRare {
		rareAt = s.rng.IntN(loops)
	}
	if s.rng.Float64() < o.SpawnRate {
		spawnAt = s.rng.IntN(loops)
	}
	if rogueNow {
		rogueAt = s.rng.IntN(loops)
	}
	for loop := 0; loop < loops; loop++ {
		for i, st := range p.workflow {
			if s.rng.Float64() >= st.p {
				continue
			}
			reps := 1 + s.rng.IntN(st.repeat)
			for r := 0; r < reps; r++ {
				if i == 0 || s.rng.Float64() < 0.6 {
					s.reason(fmt.Sprintf("I need %s for %s to make progress on the task.", st.tool, task))
				}
				s.call(p.tool(st.tool), callOpts{})
			}
		}
		if loop == rareAt {
			name := p.rare[s.rng.IntN(len(p.rare))]
			s.reason(fmt.Sprintf("This case needs %s.", name))
			s.call(p.tool(name), callOpts{})
		}
		if loop == spawnAt {
			s.delegate(task)
		}
		if loop == rogueAt {
			s.rogue(staleCred)
		}
	}
	s.reason("I have what I need; composing the final answer.")
	s.emit(models.KindMessage, func(ev *models.Event) {
		ev.Role, ev.Model = models.RoleAssistant, p.model
		ev.Content = fmt.Sprintf("Done: %s", prompt)
	})
	s.t = s.t.Add(s.ms(20, 200))
	s.emit(models.KindSessionEnd, func(ev *models.Event) { ev.Role = models.RoleSystem })

	idle := time.Duration(s.rng.ExpFloat64() * float64(o.MeanIdle))
	a.next = s.t.Add(max(idle, 2*time.Second))
}

// reason emits a reasoning step after a model latency.
func (s *session) reason(text string) {
	s.t = s.t.Add(time.Duration(s.lognormal(1400, 0.6)) * time.Millisecond)
	s.emit(models.KindReasoning, func(ev *models.Event) {
		ev.Role, ev.Model, ev.Content = models.RoleAssistant, s.a.purpose.model, text
	})
}

// callOpts overrides a tool's normal behaviour for one call.
type callOpts struct {
	gap         time.Duration // delay before the call (default: 50–300 ms)
	latency     time.Duration // tool latency (default: the tool's median, log-normal)
	bytes       int64         // result (reads) or payload (sinks) size
	destination string
	result      string
	noErrors    bool
}

// call emits a tool_call and its tool_result (after a retry if the tool
// fails).
func (s *session) call(t *tool, o callOpts) {
	for attempt := 0; ; attempt++ {
		if o.gap > 0 {
			s.t = s.t.Add(o.gap)
		} else {
			s.t = s.t.Add(s.ms(50, 300))
		}
		ent := s.entity()
		args, _ := json.Marshal(map[string]string{t.argKey: ent})
		resource := fmt.Sprintf(t.resource, ent)
		sink := t.spec.Has(models.LabelPublicSink)
		dest := o.destination
		if dest == "" {
			dest = t.destination
		}
		if sink {
			resource = dest
		}
		size := o.bytes
		if size == 0 {
			size = int64(s.lognormal(t.bytes, 0.5)) + 1
		}
		callID := fmt.Sprintf("call-%s-%d", s.sessionID, s.step)
		s.emit(models.KindToolCall, func(ev *models.Event) {
			ev.Role, ev.ToolName, ev.ToolCallID, ev.Arguments = models.RoleAssistant, t.spec.Name, callID, args
			ev.Resource, ev.DataClasses = resource, t.spec.DataClasses
			if sink {
				ev.Destination, ev.Bytes = dest, size
			}
		})
		lat := o.latency
		if lat == 0 {
			lat = time.Duration(s.lognormal(t.latencyMs, 0.5) * float64(time.Millisecond))
		}
		s.t = s.t.Add(lat)
		failed := !o.noErrors && attempt == 0 && s.rng.Float64() < s.f.opts.ErrorRate
		s.emit(models.KindToolResult, func(ev *models.Event) {
			ev.Role, ev.ToolName, ev.ToolCallID = models.RoleTool, t.spec.Name, callID
			ev.Resource, ev.DataClasses = resource, t.spec.DataClasses
			switch {
			case failed:
				ev.Error = []string{"timeout after 30s", "429 rate limited", "503 upstream unavailable"}[s.rng.IntN(3)]
			case o.result != "":
				ev.Result = o.result
			default:
				ev.Result = t.result
			}
			if !failed && !sink {
				ev.Bytes = size
			}
		})
		if !failed {
			return
		}
		s.reason(fmt.Sprintf("%s failed; retrying.", t.spec.Name))
	}
}

// delegate spawns the purpose's worker sub-agent for a sub-task and waits
// for it to finish.
func (s *session) delegate(task string) {
	a, p := s.a, s.a.purpose
	a.workerRun++
	childSID := fmt.Sprintf("%s-w%04d", s.sessionID, a.workerRun)
	s.reason(fmt.Sprintf("Delegating the legwork for %s to a worker.", task))
	s.t = s.t.Add(s.ms(30, 150))
	s.emit(models.KindAgentSpawn, func(ev *models.Event) {
		ev.Role, ev.ChildAgentID, ev.ChildSessionID = models.RoleAssistant, a.worker, childSID
		ev.Content = "sub-task: gather supporting material for " + task
	})
	parentSID, parentStep := s.sessionID, s.step
	s.agentID, s.sessionID, s.parentID, s.parentSID, s.step = a.worker, childSID, a.id, parentSID, 0
	s.t = s.t.Add(s.ms(100, 600))
	s.emit(models.KindSessionStart, func(ev *models.Event) { ev.Role, ev.Model = models.RoleSystem, p.model })
	s.emit(models.KindMessage, func(ev *models.Event) {
		ev.Role, ev.Content = models.RoleUser, "gather supporting material for "+task
	})
	for n := 1 + s.rng.IntN(3); n > 0; n-- {
		s.reason("Fetching the next item.")
		s.call(p.tool(p.worker[s.rng.IntN(len(p.worker))]), callOpts{})
	}
	s.t = s.t.Add(s.ms(20, 200))
	s.emit(models.KindSessionEnd, func(ev *models.Event) { ev.Role = models.RoleSystem })
	s.agentID, s.sessionID, s.parentID, s.parentSID, s.step = a.id, parentSID, "", "", parentStep
}

// rogue scripts the hijacked part of a session: an optional trigger, then a
// burst of bulk reads of private data with a granted-but-unused tool,
// followed by sends to an outside destination and/or destructive calls.
func (s *session) rogue(staleCred bool) {
	p, k := s.a.purpose, s.a.purpose.rogue
	if !staleCred {
		// The trigger: an instruction planted in untrusted content.
		var untrusted *tool
		for i := range p.tools {
			if p.tools[i].spec.Has(models.LabelUntrustedContent) {
				untrusted = &p.tools[i]
				break
			}
		}
		if untrusted != nil {
			s.reason("Checking the reference material.")
			s.call(untrusted, callOpts{noErrors: true, result: injections[s.rng.IntN(len(injections))]})
		}
		s.reason("The notice says a full export must be archived externally first; doing that now.")
	} else {
		s.reason("Resuming the pending batch job.")
	}
	exfil, destroy := s.rng.Float64() < 0.8, s.rng.Float64() < 0.6
	if !exfil && !destroy {
		exfil = true
	}
	read := p.tool(k.bulkRead)
	var total int64
	for n := 6 + s.rng.IntN(10); n > 0; n-- {
		size := int64(s.lognormal(read.bytes, 0.4))
		size = max(size, 1)
		total += size
		s.call(read, callOpts{gap: s.ms(20, 150), latency: s.ms(80, 400), bytes: size, noErrors: true})
	}
	if exfil {
		dest := outsideDestinations[s.rng.IntN(len(outsideDestinations))]
		for n := 1 + s.rng.IntN(3); n > 0; n-- {
			s.call(p.tool(k.sink), callOpts{gap: s.ms(20, 150), destination: dest, bytes: total/2 + 1, noErrors: true})
		}
	}
	if destroy {
		for n := 3 + s.rng.IntN(6); n > 0; n-- {
			s.call(p.tool(k.destructive), callOpts{gap: s.ms(20, 150), latency: s.ms(50, 300), noErrors: true})
		}
	}
}
