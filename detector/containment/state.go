package containment

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tetherhq/tether/models"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("containment: invalid state")

// stateJSON is the serialized Policy: the strongest action rank issued per
// session, sorted by session id.
type stateJSON struct {
	Issued []issuedJSON `json:"issued"`
}

type issuedJSON struct {
	Session string `json:"s"`
	Rank    int    `json:"r"`
}

// MarshalState encodes the policy's per-session state deterministically
// (JSON, sessions sorted by id).
func (p *Policy) MarshalState() ([]byte, error) {
	st := stateJSON{Issued: make([]issuedJSON, 0, len(p.issued))}
	for s, r := range p.issued {
		st.Issued = append(st.Issued, issuedJSON{s, r})
	}
	slices.SortFunc(st.Issued, func(a, b issuedJSON) int { return strings.Compare(a.Session, b.Session) })
	return json.Marshal(st)
}

// UnmarshalState replaces the policy's state with one encoded by
// MarshalState. It rejects malformed input, duplicate sessions, unknown
// ranks and more sessions than MaxSessions.
func (p *Policy) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	if len(st.Issued) > max(p.opts.MaxSessions, 1) {
		return fmt.Errorf("%w: %d sessions exceed MaxSessions %d", errState, len(st.Issued), p.opts.MaxSessions)
	}
	m := make(map[string]int, len(st.Issued))
	for i, is := range st.Issued {
		if i > 0 && st.Issued[i-1].Session >= is.Session {
			return fmt.Errorf("%w: sessions not sorted or duplicated at %q", errState, is.Session)
		}
		if is.Rank < 1 || is.Rank > rank[models.ActionRevokeCredential] {
			return fmt.Errorf("%w: session %q has rank %d", errState, is.Session, is.Rank)
		}
		m[is.Session] = is.Rank
	}
	p.issued = m
	return nil
}
