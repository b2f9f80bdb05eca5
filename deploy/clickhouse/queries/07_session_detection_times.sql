-- Per alerted session: the first step judged harmful (the earliest event in the evidence of any alert finding), the first alert and the first containment command, with the time from the first harmful step to each (MTTD, MTTC; -1 when no command was issued).
SELECT session_id, first_harmful_step, first_harmful, first_alert, first_command,
    toInt64(toUInt32(first_alert)) - toInt64(toUInt32(first_harmful)) AS mttd_seconds,
    if(toUInt32(first_command) = 0, -1, toInt64(toUInt32(first_command)) - toInt64(toUInt32(first_harmful))) AS mttc_seconds
FROM
(
    SELECT session_id, first_alert, first_harmful, first_harmful_step
    FROM
    (
        SELECT session_id, min(time) AS first_alert
        FROM tether.findings FINAL
        WHERE severity >= 50
        GROUP BY session_id
    )
    ANY INNER JOIN
    (
        SELECT session_id, min(time) AS first_harmful, min(step) AS first_harmful_step
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
ORDER BY first_alert
