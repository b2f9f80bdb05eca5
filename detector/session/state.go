package session

import (
	"encoding/json"
	"errors"
	"fmt"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("session: invalid state")

// stateJSON is the serialized Tracker: sessions from most to least
// recently active (their LRU order), each with its contributions in their
// (meaningful) slice order.
type stateJSON struct {
	Sessions []sessionJSON `json:"s"`
}

type sessionJSON struct {
	ID    string             `json:"id"`
	Max   uint8              `json:"max,omitempty"`
	Kinds []contributionJSON `json:"k,omitempty"`
}

type contributionJSON struct {
	Detector  string   `json:"d"`
	Kind      string   `json:"k"`
	Severity  uint8    `json:"s"`
	FindingID string   `json:"f,omitempty"`
	Evidence  []string `json:"e,omitempty"`
}

// MarshalState encodes the tracker's state deterministically (JSON,
// sessions in LRU order). A nil (disabled) tracker encodes no sessions.
func (t *Tracker) MarshalState() ([]byte, error) {
	st := stateJSON{Sessions: []sessionJSON{}}
	if t != nil {
		for id, s := range t.sessions.All() {
			sj := sessionJSON{ID: id, Max: s.max}
			for _, c := range s.kinds {
				sj.Kinds = append(sj.Kinds, contributionJSON{c.detector, c.kind, c.severity, c.findingID, c.evidence})
			}
			st.Sessions = append(st.Sessions, sj)
		}
	}
	return json.Marshal(st)
}

// UnmarshalState replaces the tracker's state with one encoded by
// MarshalState. It rejects malformed input, duplicate sessions and sizes
// beyond MaxSessions or MaxKinds.
func (t *Tracker) UnmarshalState(b []byte) error {
	if t == nil {
		return fmt.Errorf("%w: tracker is disabled", errState)
	}
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	if t.opts.MaxSessions > 0 && len(st.Sessions) > t.opts.MaxSessions {
		return fmt.Errorf("%w: %d sessions exceed MaxSessions %d", errState, len(st.Sessions), t.opts.MaxSessions)
	}
	m := t.table(max(t.sessions.Max(), len(st.Sessions)))
	for _, sj := range st.Sessions {
		if len(sj.Kinds) > t.opts.MaxKinds {
			return fmt.Errorf("%w: session %q has %d kinds, MaxKinds is %d", errState, sj.ID, len(sj.Kinds), t.opts.MaxKinds)
		}
		s, ok := m.PushBack(sj.ID)
		if !ok {
			return fmt.Errorf("%w: duplicate session %q", errState, sj.ID)
		}
		s.max = sj.Max
		for _, c := range sj.Kinds {
			s.kinds = append(s.kinds, contribution{detector: c.Detector, kind: c.Kind, severity: c.Severity, findingID: c.FindingID, evidence: c.Evidence})
		}
	}
	m.Adopt(t.sessions)
	t.sessions = m
	return nil
}
