package identity

import (
	"encoding/json"
	"errors"
	"fmt"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("identity: invalid state")

// stateJSON is the serialized Detector. Every table is listed from most to
// least recently used, so its eviction order is preserved exactly; the
// pending burst of unregistered agents is kept too.
type stateJSON struct {
	Seen     []string       `json:"seen"`
	Reported []reportedJSON `json:"reported"`
	Sessions []sessJSON     `json:"sessions"`
	Creds    []credJSON     `json:"creds"`
	Burst    *burstJSON     `json:"burst,omitempty"`
}

type burstJSON struct {
	Window     int64    `json:"w"`
	Individual int      `json:"i,omitempty"`
	Held       int      `json:"h,omitempty"`
	Agents     []string `json:"a,omitempty"`
	Sessions   []string `json:"s,omitempty"`
	Events     []string `json:"e,omitempty"`
	Principal  string   `json:"p,omitempty"`
	Root       string   `json:"r,omitempty"`
}

type reportedJSON struct {
	Session string `json:"s"`
	Bits    uint8  `json:"b"`
}

type sessJSON struct {
	ID      string `json:"id"`
	Start   int64  `json:"start"`
	CredExp int64  `json:"exp,omitempty"`
	Bits    uint8  `json:"b,omitempty"`
}

type credJSON struct {
	ID           string       `json:"id"`
	Members      []memberJSON `json:"m,omitempty"`
	SpawnLineage string       `json:"sl,omitempty"`
	SpawnAt      int64        `json:"sa,omitempty"`
}

type memberJSON struct {
	Agent   string `json:"a"`
	Lineage string `json:"l"`
	Last    int64  `json:"t"`
}

// MarshalState encodes the detector's state deterministically as JSON.
func (d *Detector) MarshalState() ([]byte, error) {
	st := stateJSON{Seen: make([]string, 0, d.seen.Len()), Reported: make([]reportedJSON, 0, d.reported.Len()),
		Sessions: make([]sessJSON, 0, d.sess.Len()), Creds: make([]credJSON, 0, d.creds.Len())}
	for id := range d.seen.All() {
		st.Seen = append(st.Seen, id)
	}
	for id, b := range d.reported.All() {
		st.Reported = append(st.Reported, reportedJSON{id, *b})
	}
	if b := d.burst; b.window != 0 || b.individual != 0 || b.held != 0 {
		st.Burst = &burstJSON{b.window, b.individual, b.held, b.agents, b.sessions, b.events, b.principal, b.root}
	}
	for id, s := range d.sess.All() {
		st.Sessions = append(st.Sessions, sessJSON{id, s.start, s.credExp, s.bits})
	}
	for id, v := range d.creds.All() {
		c := credJSON{ID: id, SpawnLineage: v.spawnLineage, SpawnAt: v.spawnAt}
		for _, m := range v.members {
			c.Members = append(c.Members, memberJSON{m.agent, m.lineage, m.last})
		}
		st.Creds = append(st.Creds, c)
	}
	return json.Marshal(st)
}

// UnmarshalState replaces the detector's state with one encoded by
// MarshalState. It rejects malformed input, duplicates and sizes beyond
// the configured caps (MaxTracked, MaxSessions, MaxCredentials, four
// members per credential).
func (d *Detector) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	switch {
	case d.opts.MaxTracked > 0 && len(st.Seen) > d.opts.MaxTracked:
		return fmt.Errorf("%w: %d unregistered agents exceed MaxTracked %d", errState, len(st.Seen), d.opts.MaxTracked)
	case d.opts.MaxSessions > 0 && (len(st.Reported) > d.opts.MaxSessions || len(st.Sessions) > d.opts.MaxSessions):
		return fmt.Errorf("%w: sessions exceed MaxSessions %d", errState, d.opts.MaxSessions)
	case d.opts.MaxCredentials > 0 && len(st.Creds) > d.opts.MaxCredentials:
		return fmt.Errorf("%w: %d credentials exceed MaxCredentials %d", errState, len(st.Creds), d.opts.MaxCredentials)
	}
	seen, reported, sess, creds := d.tables(max(d.seen.Max(), len(st.Seen)), max(d.reported.Max(), len(st.Reported)),
		max(d.sess.Max(), len(st.Sessions)), max(d.creds.Max(), len(st.Creds)))
	for _, id := range st.Seen {
		if _, ok := seen.PushBack(id); !ok {
			return fmt.Errorf("%w: duplicate unregistered agent %q", errState, id)
		}
	}
	for _, r := range st.Reported {
		v, ok := reported.PushBack(r.Session)
		if !ok {
			return fmt.Errorf("%w: duplicate reported session %q", errState, r.Session)
		}
		*v = r.Bits
	}
	var bu burst
	if bj := st.Burst; bj != nil {
		n := len(bj.Agents)
		if bj.Held < 0 || bj.Individual < 0 || n > maxBurstSample || n > bj.Held || (bj.Held > 0) != (n > 0) || len(bj.Sessions) != n || len(bj.Events) != n {
			return fmt.Errorf("%w: inconsistent unregistered-agent burst", errState)
		}
		bu = burst{bj.Window, bj.Individual, bj.Held, bj.Agents, bj.Sessions, bj.Events, bj.Principal, bj.Root}
	}
	for _, s := range st.Sessions {
		v, ok := sess.PushBack(s.ID)
		if !ok {
			return fmt.Errorf("%w: duplicate session %q", errState, s.ID)
		}
		*v = sessState{start: s.Start, credExp: s.CredExp, bits: s.Bits}
	}
	for _, c := range st.Creds {
		if len(c.Members) > maxCredentialAgents {
			return fmt.Errorf("%w: credential %q has %d members, at most %d", errState, c.ID, len(c.Members), maxCredentialAgents)
		}
		v, ok := creds.PushBack(c.ID)
		if !ok {
			return fmt.Errorf("%w: duplicate credential %q", errState, c.ID)
		}
		v.spawnLineage, v.spawnAt = c.SpawnLineage, c.SpawnAt
		for _, m := range c.Members {
			v.members = append(v.members, credMember{agent: m.Agent, lineage: m.Lineage, last: m.Last})
		}
	}
	seen.Adopt(d.seen)
	reported.Adopt(d.reported)
	sess.Adopt(d.sess)
	creds.Adopt(d.creds)
	d.seen, d.reported, d.sess, d.creds, d.burst = seen, reported, sess, creds, bu
	return nil
}
