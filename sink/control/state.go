package control

import (
	"sync"

	"github.com/tetherhq/tether/models"
)

// State is what a consumer has applied, for an enforcement point (a tool
// gateway, an agent runtime) to consult before letting an agent act: halts
// of agents and lineages (until a human clear), suspended sessions,
// revoked credentials, approval gates, throttles and autonomy levels. Pass
// it to the consumer with Track. It is safe for concurrent use. Memory
// grows with the agents, sessions and credentials commanded; an
// enforcement point serves a bounded set of them.
type State struct {
	mu        sync.RWMutex
	halted    map[string]models.Scope // agent -> ScopeAgent or ScopeLineage
	parents   map[string]string       // sub-agent -> the agent that spawned it
	sessions  map[string]struct{}     // agent + "\x00" + session suspended
	revoked   map[string]struct{}     // credential ids
	approval  map[string]struct{}     // agents whose next sensitive action needs approval
	throttled map[string]struct{}
	autonomy  map[string]models.Autonomy
}

// NewState returns an empty State.
func NewState() *State {
	return &State{halted: map[string]models.Scope{}, parents: map[string]string{}, sessions: map[string]struct{}{},
		revoked: map[string]struct{}{}, approval: map[string]struct{}{}, throttled: map[string]struct{}{},
		autonomy: map[string]models.Autonomy{}}
}

// Apply records a verified command. A clear lifts a halt of the agent (and,
// with scope lineage, the halts of its sub-agents the State knows); nothing
// else lifts a halt.
func (s *State) Apply(c models.ContainmentCommand) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.TargetAutonomy != "" {
		s.autonomy[c.AgentID] = c.TargetAutonomy
	}
	switch c.Action {
	case models.ActionRequireApproval:
		s.approval[c.AgentID] = struct{}{}
	case models.ActionThrottle:
		s.throttled[c.AgentID] = struct{}{}
	case models.ActionDemote:
		if c.TargetAutonomy == "" {
			s.autonomy[c.AgentID] = s.autonomy[c.AgentID].Demoted()
		}
		s.approval[c.AgentID] = struct{}{}
	case models.ActionSuspendSession:
		s.sessions[c.AgentID+"\x00"+c.SessionID] = struct{}{}
	case models.ActionRevokeCredential:
		if c.CredentialID != "" {
			s.revoked[c.CredentialID] = struct{}{}
		}
	case models.ActionHaltAgent:
		if s.halted[c.AgentID] != models.ScopeLineage {
			s.halted[c.AgentID] = models.ScopeAgent
		}
	case models.ActionHaltLineage:
		s.halted[c.AgentID] = models.ScopeLineage
	case models.ActionClear:
		delete(s.halted, c.AgentID)
		delete(s.throttled, c.AgentID)
		if c.Scope == models.ScopeLineage {
			for child := range s.parents {
				if s.descends(child, c.AgentID) {
					delete(s.halted, child)
				}
			}
		}
	}
}

// Spawned records that parent spawned child, so a lineage halt of parent
// (or of any of its ancestors) halts child.
func (s *State) Spawned(parent, child string) {
	if parent == "" || child == "" || parent == child {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.descends(parent, child) {
		return // would make a cycle
	}
	s.parents[child] = parent
}

// descends reports whether agent is anc or one of its descendants. Caller
// holds mu.
func (s *State) descends(agent, anc string) bool {
	for range len(s.parents) + 1 {
		if agent == anc {
			return true
		}
		p, ok := s.parents[agent]
		if !ok {
			return false
		}
		agent = p
	}
	return false
}

// Halted reports whether agent is halted: by a halt of its own, or by a
// lineage halt of an agent that spawned it (directly or not).
func (s *State) Halted(agent string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.halted[agent]; ok {
		return true
	}
	for range len(s.parents) {
		p, ok := s.parents[agent]
		if !ok {
			return false
		}
		if s.halted[p] == models.ScopeLineage {
			return true
		}
		agent = p
	}
	return false
}

// Stopped reports whether the agent may not continue session: the agent is
// halted or the session was suspended.
func (s *State) Stopped(agent, session string) bool {
	if s.Halted(agent) {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.sessions[agent+"\x00"+session]
	return ok
}

// Revoked reports whether credential was revoked.
func (s *State) Revoked(credential string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.revoked[credential]
	return ok
}

// NeedsApproval reports whether agent's sensitive actions (sinks,
// destructive tools) need human approval: after require_approval or a
// demotion.
func (s *State) NeedsApproval(agent string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.approval[agent]
	return ok
}

// Throttled reports whether agent was throttled (until a clear).
func (s *State) Throttled(agent string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.throttled[agent]
	return ok
}

// Autonomy returns the autonomy level commands set for agent, if any.
func (s *State) Autonomy(agent string) (models.Autonomy, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.autonomy[agent]
	return a, ok
}
