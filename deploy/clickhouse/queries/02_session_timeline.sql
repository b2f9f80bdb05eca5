-- A session step by step: every event and every finding, ordered by step (timestamps alone cannot order them: a legacy server keeps whole seconds), findings after the events of the step they fired at.
SELECT step, time, time_ms, source, kind, what, severity, detail, id
FROM
(
    SELECT step, time, time_ms, 'event' AS source, kind, tool_name AS what, toUInt8(0) AS severity,
        substring(concat(arguments, result, content), 1, 200) AS detail, event_id AS id, toUInt8(0) AS ord
    FROM tether.events FINAL
    WHERE session_id = {session_id}
    UNION ALL
    SELECT step, time, time_ms, 'finding' AS source, kind, detector AS what, severity,
        explanation AS detail, finding_id AS id, toUInt8(1) AS ord
    FROM tether.findings FINAL
    WHERE session_id = {session_id}
)
ORDER BY step, ord, time, time_ms, id
