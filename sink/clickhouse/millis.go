package clickhouse

// Millisecond columns. Event, finding and command times are kept to the
// millisecond end to end: DateTime64(3) in the modern dialect, but a
// legacy server (before 20.1, e.g. Debian's 18.16) only has DateTime,
// which holds whole seconds. Every dialect therefore also stores the
// millisecond within the second in a UInt16 column next to the time
// (columns.Millis), so the same query is exact on both:
// toUInt32(time) * 1000 + time_ms is the Unix time in milliseconds.
const (
	// EventTimeMillis is the events table's millisecond column (of time).
	EventTimeMillis = "time_ms"
	// FindingTimeMillis is the findings table's millisecond column (of time).
	FindingTimeMillis = "time_ms"
	// CommandIssuedMillis is the commands table's millisecond column (of issued_at).
	CommandIssuedMillis = "issued_at_ms"
)
