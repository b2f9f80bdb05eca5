package parquet

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/columns"
)

// EventsPrefix is the events series' file-name prefix (Options.Events).
const EventsPrefix = "events"

// maxEventText cuts each free-text field of an event row (bytes, at a
// UTF-8 boundary), as the ClickHouse events table does.
const maxEventText = 4096

// eventRows prepares events for the events series, free text cut.
func eventRows(events []*models.Event) []columns.Event {
	rows := make([]columns.Event, len(events))
	for i, e := range events {
		rows[i] = columns.NewEvent(e, maxEventText)
	}
	return rows
}

// ReadEvents reads every events file in dir, de-duplicated by event id, in
// file then row order. Arguments become a JSON string (as stored).
func ReadEvents(dir string) ([]*models.Event, error) {
	var out []*models.Event
	seen := map[string]bool{}
	err := readSeries(dir, EventsPrefix, eventsSchema, func(rec arrow.RecordBatch) {
		r := newRow(rec)
		for i := 0; i < int(rec.NumRows()); i++ {
			id := r.str("event_id", i)
			if seen[id] {
				continue
			}
			seen[id] = true
			e := &models.Event{SchemaVersion: models.SchemaVersion, ID: id, Time: r.time("time", i), Kind: models.Kind(r.str("kind", i)),
				RootAgentID: r.str("root_agent_id", i), AgentID: r.str("agent_id", i), SessionID: r.str("session_id", i),
				Step: int(r.int("step", i)), Role: r.str("role", i), ToolName: r.str("tool_name", i),
				Result: r.str("result", i), Content: r.str("content", i), Error: r.str("error", i),
				ParentAgentID: r.str("parent_agent_id", i), ParentSessionID: r.str("parent_session_id", i),
				ChildAgentID: r.str("child_agent_id", i), ChildSessionID: r.str("child_session_id", i),
				Principal: r.str("principal", i), Autonomy: models.Autonomy(r.str("autonomy_level", i)),
				DataClasses: r.strs("data_classes", i), Resource: r.str("resource", i), Destination: r.str("destination", i)}
			if a := r.str("arguments", i); a != "" {
				e.Arguments = []byte(a)
			}
			out = append(out, e)
		}
	})
	return out, err
}
