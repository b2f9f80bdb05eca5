package clickhouse

import (
	"fmt"
	"strings"

	"github.com/tetherhq/tether/models"
)

// AgentDailyView is the materialised view of per-agent daily finding
// rollups (SummingMergeTree: sum the columns when querying, rows of one key
// may not be merged yet). It counts rows as inserted, so a replayed batch
// (at-least-once delivery) is counted twice; exact figures come from the
// findings table with FINAL.
const AgentDailyView = "agent_daily"

// AgentDailyEventsView is the materialised view of per-agent daily event,
// tool-call and session-start counts (same caveats as AgentDailyView).
const AgentDailyEventsView = "agent_daily_events"

// SessionDetectionView is a view with one row per alerted session: the
// first step judged harmful (the earliest event in the evidence of any
// finding at or above severity 50), the first alert and the first
// containment command, as Unix milliseconds, and the time from the first
// harmful step to the alert (mttd_ms) and to the command (mttc_ms, -1 when
// none). Times are event times: a command is issued at its finding's event
// time, so mttc_ms measures the decision, not the enforcement.
const SessionDetectionView = "session_detection"

// BandCounts renders one countIf per models.Band over the severity column
// col, lowest band first, comma-separated: the per-band finding counts of
// a GROUP BY.
func BandCounts(col string) string {
	parts := make([]string, len(models.Bands))
	for i, b := range models.Bands {
		switch {
		case i == len(models.Bands)-1:
			parts[i] = fmt.Sprintf("countIf(%s >= %d)", col, b.Floor())
		case i == 0:
			parts[i] = fmt.Sprintf("countIf(%s < %d)", col, models.Bands[i+1].Floor())
		default:
			parts[i] = fmt.Sprintf("countIf(%s >= %d AND %s < %d)", col, b.Floor(), col, models.Bands[i+1].Floor())
		}
	}
	return strings.Join(parts, ", ")
}

// Views renders the views, after the tables they read.
func (s Schema) Views() []string {
	ms := func(col, msCol string) string { return fmt.Sprintf("toUInt64(toUInt32(%s)) * 1000 + %s", col, msCol) }
	return []string{
		fmt.Sprintf(`CREATE VIEW IF NOT EXISTS %[1]s AS
SELECT session_id, root_agent_id, agent_id, first_harmful_step, first_harmful_ms, first_alert_ms, first_command_ms,
    toInt64(first_alert_ms) - toInt64(first_harmful_ms) AS mttd_ms,
    if(first_command_ms = 0, -1, toInt64(first_command_ms) - toInt64(first_harmful_ms)) AS mttc_ms
FROM
(
    SELECT session_id, root_agent_id, agent_id, first_alert_ms, first_harmful_ms, first_harmful_step
    FROM
    (
        SELECT session_id, any(root_agent_id) AS root_agent_id, any(agent_id) AS agent_id, min(%[5]s) AS first_alert_ms
        FROM %[2]s FINAL
        WHERE severity >= %[8]d
        GROUP BY session_id
    )
    ANY INNER JOIN
    (
        SELECT session_id, min(%[6]s) AS first_harmful_ms, min(step) AS first_harmful_step
        FROM %[3]s FINAL
        WHERE event_id IN (SELECT arrayJoin(evidence_event_ids) FROM %[2]s FINAL WHERE severity >= %[8]d)
        GROUP BY session_id
    ) USING session_id
)
ANY LEFT JOIN
(
    SELECT session_id, min(%[7]s) AS first_command_ms
    FROM %[4]s FINAL
    WHERE session_id != ''
    GROUP BY session_id
) USING session_id`, s.Qualified(SessionDetectionView), s.Qualified(FindingsTable), s.Qualified(EventsTable), s.Qualified(CommandsTable),
			ms("time", FindingTimeMillis), ms("time", EventTimeMillis), ms("issued_at", CommandIssuedMillis), models.AlertThreshold),
		fmt.Sprintf(`CREATE MATERIALIZED VIEW IF NOT EXISTS %s
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, root_agent_id, agent_id)
AS SELECT toDate(time) AS day, root_agent_id, agent_id,
    count() AS findings,
    countIf(severity >= %d) AS alerts,
    countIf(severity >= %d) AS critical
FROM %s
GROUP BY day, root_agent_id, agent_id`, s.Qualified(AgentDailyView), models.AlertThreshold, models.BandCritical.Floor(), s.Qualified(FindingsTable)),
		fmt.Sprintf(`CREATE MATERIALIZED VIEW IF NOT EXISTS %s
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, root_agent_id, agent_id)
AS SELECT toDate(time) AS day, root_agent_id, agent_id,
    count() AS events,
    countIf(kind = 'tool_call') AS tool_calls,
    countIf(kind = 'session_start') AS sessions
FROM %s
GROUP BY day, root_agent_id, agent_id`, s.Qualified(AgentDailyEventsView), s.Qualified(EventsTable)),
	}
}
