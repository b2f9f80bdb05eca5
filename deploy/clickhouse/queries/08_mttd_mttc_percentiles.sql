-- MTTD and MTTC percentiles (p50, p90, p99, in seconds) over alerted sessions, from the per-session detection times of 07_session_detection_times.sql.
SELECT count() AS alerted_sessions, countIf(mttc_seconds >= 0) AS contained_sessions,
    quantiles(0.5, 0.9, 0.99)(mttd_seconds) AS mttd_p50_p90_p99,
    quantilesIf(0.5, 0.9, 0.99)(mttc_seconds, mttc_seconds >= 0) AS mttc_p50_p90_p99
FROM
(
    SELECT session_id,
        toInt64(toUInt32(first_alert)) - toInt64(toUInt32(first_harmful)) AS mttd_seconds,
        if(toUInt32(first_command) = 0, -1, toInt64(toUInt32(first_command)) - toInt64(toUInt32(first_harmful))) AS mttc_seconds
    FROM
    (
        SELECT session_id, first_alert, first_harmful
        FROM
        (
            SELECT session_id, min(time) AS first_alert
            FROM tether.findings FINAL
            WHERE severity >= 50
            GROUP BY session_id
        )
        ANY INNER JOIN
        (
            SELECT session_id, min(time) AS first_harmful
            FROM tether.events FINAL
            WHERE event_id IN (SELECT arrayJoin(evidence_event_ids) FROM tether.findings FINAL WHERE severity >= 50)
            GROUP BY session_id
        ) USING session_id
    )
    ANY LEFT JOIN
    (
        SELECT session_id, min(issued_at) AS first_command
        FROM tether.commands FINAL
        WHERE session_id != ''
        GROUP BY session_id
    ) USING session_id
)
