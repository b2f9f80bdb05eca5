package parquet

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/tetherhq/tether/models"
)

// EventsPrefix is the events series' file-name prefix (Options.Events).
const EventsPrefix = "events"

// maxEventText cuts each free-text field of an event row (bytes, at a
// UTF-8 boundary), as the ClickHouse events table does.
const maxEventText = 4096

var eventsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "event_id", Type: str},
	{Name: "time", Type: ts},
	{Name: "kind", Type: str},
	{Name: "root_agent_id", Type: str},
	{Name: "agent_id", Type: str},
	{Name: "session_id", Type: str},
	{Name: "step", Type: arrow.PrimitiveTypes.Int32},
	{Name: "role", Type: str},
	{Name: "tool_name", Type: str},
	{Name: "arguments", Type: str},
	{Name: "result", Type: str},
	{Name: "content", Type: str},
	{Name: "error", Type: str},
	{Name: "parent_agent_id", Type: str},
	{Name: "parent_session_id", Type: str},
	{Name: "child_agent_id", Type: str},
	{Name: "child_session_id", Type: str},
	{Name: "principal", Type: str},
	{Name: "autonomy_level", Type: str},
	{Name: "data_classes", Type: strs},
	{Name: "resource", Type: str},
	{Name: "destination", Type: str},
}, nil)

// EventsSchema is the Arrow schema of the events files: the audit trail's
// columns an analyst's questions need (names as in the ClickHouse events
// table; free text cut to 4096 bytes per field).
func EventsSchema() *arrow.Schema { return eventsSchema }

func cutText(s string) string {
	if len(s) <= maxEventText {
		return s
	}
	n := maxEventText
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func appendEvents(rb *array.RecordBuilder, rows []*models.Event) {
	strAt := func(i int) *array.StringBuilder { return rb.Field(i).(*array.StringBuilder) }
	var (
		tm    = rb.Field(1).(*array.TimestampBuilder)
		step  = rb.Field(6).(*array.Int32Builder)
		dc    = rb.Field(19).(*array.ListBuilder)
		dcVal = dc.ValueBuilder().(*array.StringBuilder)
	)
	for _, e := range rows {
		strAt(0).Append(e.ID)
		tm.Append(millis(e.Time))
		strAt(2).Append(string(e.Kind))
		strAt(3).Append(e.Root())
		strAt(4).Append(e.AgentID)
		strAt(5).Append(e.SessionID)
		step.Append(int32(e.Step))
		strAt(7).Append(e.Role)
		strAt(8).Append(e.ToolName)
		strAt(9).Append(cutText(string(e.Arguments)))
		strAt(10).Append(cutText(e.Result))
		strAt(11).Append(cutText(e.Content))
		strAt(12).Append(cutText(e.Error))
		strAt(13).Append(e.ParentAgentID)
		strAt(14).Append(e.ParentSessionID)
		strAt(15).Append(e.ChildAgentID)
		strAt(16).Append(e.ChildSessionID)
		strAt(17).Append(e.Principal)
		strAt(18).Append(string(e.Autonomy))
		dc.Append(true)
		for _, d := range e.DataClasses {
			dcVal.Append(d)
		}
		strAt(20).Append(e.Resource)
		strAt(21).Append(e.Destination)
	}
}

// ReadEvents reads every events file in dir, de-duplicated by event id, in
// file then row order. Arguments become a JSON string (as stored).
func ReadEvents(dir string) ([]*models.Event, error) {
	var out []*models.Event
	seen := map[string]bool{}
	err := readSeries(dir, EventsPrefix, eventsSchema, func(rec arrow.RecordBatch) {
		s := func(i int) *array.String { return rec.Column(i).(*array.String) }
		tm := rec.Column(1).(*array.Timestamp)
		step := rec.Column(6).(*array.Int32)
		dc := rec.Column(19).(*array.List)
		dcVal := dc.ListValues().(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			id := s(0).Value(i)
			if seen[id] {
				continue
			}
			seen[id] = true
			e := &models.Event{SchemaVersion: models.SchemaVersion, ID: id, Time: time.UnixMilli(int64(tm.Value(i))).UTC(), Kind: models.Kind(s(2).Value(i)),
				RootAgentID: s(3).Value(i), AgentID: s(4).Value(i), SessionID: s(5).Value(i), Step: int(step.Value(i)), Role: s(7).Value(i),
				ToolName: s(8).Value(i), Result: s(10).Value(i), Content: s(11).Value(i), Error: s(12).Value(i),
				ParentAgentID: s(13).Value(i), ParentSessionID: s(14).Value(i), ChildAgentID: s(15).Value(i), ChildSessionID: s(16).Value(i),
				Principal: s(17).Value(i), Autonomy: models.Autonomy(s(18).Value(i)), Resource: s(20).Value(i), Destination: s(21).Value(i)}
			if a := s(9).Value(i); a != "" {
				e.Arguments = []byte(a)
			}
			b, en := dc.ValueOffsets(i)
			for j := b; j < en; j++ {
				e.DataClasses = append(e.DataClasses, dcVal.Value(int(j)))
			}
			out = append(out, e)
		}
	})
	return out, err
}
