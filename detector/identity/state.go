package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tetherhq/tether/detector/internal/lru"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("identity: invalid state")

// stateJSON is the serialized Detector. Sets and maps are sorted by key;
// the LRU-bounded tables are listed from most to least recently used, so
// their eviction order is preserved exactly.
type stateJSON struct {
	Seen     []string       `json:"seen"`
	Reported []reportedJSON `json:"reported"`
	Sessions []sessJSON     `json:"sessions"`
	Creds    []credJSON     `json:"creds"`
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
	st := stateJSON{Seen: make([]string, 0, len(d.seen)), Reported: make([]reportedJSON, 0, len(d.reported)),
		Sessions: make([]sessJSON, 0, d.sess.Len()), Creds: make([]credJSON, 0, d.creds.Len())}
	for id := range d.seen {
		st.Seen = append(st.Seen, id)
	}
	slices.Sort(st.Seen)
	for id, b := range d.reported {
		st.Reported = append(st.Reported, reportedJSON{id, b})
	}
	slices.SortFunc(st.Reported, func(a, b reportedJSON) int { return strings.Compare(a.Session, b.Session) })
	for id, s := range d.sess.All() {
		st.Sessions = append(st.Sessions, sessJSON{id, s.start, s.credExp, s.bits})
	}
	for id, v := range d.creds.All() {
		c := credJSON{ID: id, SpawnLineage: v.spawnLineage, SpawnAt: v.spawnAt}
		for _, m := range v.members[:v.n] {
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
	case len(st.Seen) > d.opts.MaxTracked:
		return fmt.Errorf("%w: %d unregistered agents exceed MaxTracked %d", errState, len(st.Seen), d.opts.MaxTracked)
	case len(st.Reported) > d.opts.MaxSessions || len(st.Sessions) > d.opts.MaxSessions:
		return fmt.Errorf("%w: sessions exceed MaxSessions %d", errState, d.opts.MaxSessions)
	case len(st.Creds) > d.opts.MaxCredentials:
		return fmt.Errorf("%w: %d credentials exceed MaxCredentials %d", errState, len(st.Creds), d.opts.MaxCredentials)
	}
	seen := make(map[string]struct{}, len(st.Seen))
	for i, id := range st.Seen {
		if i > 0 && st.Seen[i-1] >= id {
			return fmt.Errorf("%w: unregistered agents not sorted or duplicated at %q", errState, id)
		}
		seen[id] = struct{}{}
	}
	reported := make(map[string]uint8, len(st.Reported))
	for i, r := range st.Reported {
		if i > 0 && st.Reported[i-1].Session >= r.Session {
			return fmt.Errorf("%w: reported sessions not sorted or duplicated at %q", errState, r.Session)
		}
		reported[r.Session] = r.Bits
	}
	sess := lru.New[sessState](d.opts.MaxSessions)
	for i := len(st.Sessions) - 1; i >= 0; i-- {
		s := st.Sessions[i]
		v, created := sess.Put(s.ID)
		if !created {
			return fmt.Errorf("%w: duplicate session %q", errState, s.ID)
		}
		*v = sessState{start: s.Start, credExp: s.CredExp, bits: s.Bits}
	}
	creds := lru.New[credState](d.opts.MaxCredentials)
	for i := len(st.Creds) - 1; i >= 0; i-- {
		c := st.Creds[i]
		if len(c.Members) > maxCredentialAgents {
			return fmt.Errorf("%w: credential %q has %d members, at most %d", errState, c.ID, len(c.Members), maxCredentialAgents)
		}
		v, created := creds.Put(c.ID)
		if !created {
			return fmt.Errorf("%w: duplicate credential %q", errState, c.ID)
		}
		v.spawnLineage, v.spawnAt, v.n = c.SpawnLineage, c.SpawnAt, len(c.Members)
		for j, m := range c.Members {
			v.members[j] = credMember{agent: m.Agent, lineage: m.Lineage, last: m.Last}
		}
	}
	d.seen, d.reported, d.sess, d.creds = seen, reported, sess, creds
	return nil
}
