package sink

import "context"

// Phase tells the sinks of a chain which of them a write is for. A
// daemon that journals containment commands (ingest's journal) writes a
// batch's commands and the findings they name twice: first to the
// publishers alone (PhasePublish) once the journal holds the findings,
// later to the stores alone (PhaseStore). Every other write is PhaseAll.
type Phase uint8

const (
	// PhaseAll: every sink of the chain writes the batch.
	PhaseAll Phase = iota
	// PhasePublish: only publishers (Role Publish) write it; the stores
	// get it later in PhaseStore.
	PhasePublish
	// PhaseStore: only stores (Role Store) write it; the publishers
	// already published it.
	PhaseStore
)

type phaseKey struct{}

// WithPhase returns ctx carrying ph for the writes made with it.
func WithPhase(ctx context.Context, ph Phase) context.Context {
	return context.WithValue(ctx, phaseKey{}, ph)
}

// PhaseOf returns the phase ctx carries (PhaseAll when none).
func PhaseOf(ctx context.Context) Phase {
	ph, _ := ctx.Value(phaseKey{}).(Phase)
	return ph
}

// Role is what a sink of the chain is for: a Store keeps output for
// analysts (ClickHouse, Parquet, the console), a Publish sink hands it on
// (the control topic, the OCSF findings topic, the ack recorder).
type Role uint8

const (
	// Store keeps output: it skips PhasePublish writes.
	Store Role = iota
	// Publish hands output on: it skips PhaseStore writes.
	Publish
)

// InRole wraps W so that it skips the writes of the phase its role does
// not take part in.
type InRole struct {
	W    Writer
	Role Role
}

// Write implements Writer.
func (r InRole) Write(ctx context.Context, b *Batch) error {
	switch PhaseOf(ctx) {
	case PhasePublish:
		if r.Role == Store {
			return nil
		}
	case PhaseStore:
		if r.Role == Publish {
			return nil
		}
	}
	return r.W.Write(ctx, b)
}
