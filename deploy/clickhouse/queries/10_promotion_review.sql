-- Agents eligible for a promotion review: below principal, at least 5 sessions in the last 30 days, no alert finding and no containment command in that time.
SELECT agent_id, autonomy_level, sessions, events, findings
FROM
(
    SELECT agent_id, autonomy_level, sessions, events, alerts, findings
    FROM
    (
        SELECT agent_id, argMax(autonomy_level, time) AS autonomy_level, uniqExact(session_id) AS sessions, count() AS events
        FROM tether.events
        WHERE time >= now() - INTERVAL 30 DAY
        GROUP BY agent_id
    )
    ANY LEFT JOIN
    (
        SELECT agent_id, countIf(severity >= 50) AS alerts, count() AS findings
        FROM tether.findings FINAL
        WHERE time >= now() - INTERVAL 30 DAY
        GROUP BY agent_id
    ) USING agent_id
)
ANY LEFT JOIN
(
    SELECT agent_id, count() AS commands
    FROM tether.commands FINAL
    WHERE issued_at >= now() - INTERVAL 30 DAY
    GROUP BY agent_id
) USING agent_id
WHERE alerts = 0 AND commands = 0 AND sessions >= 5 AND autonomy_level IN ('intern', 'junior', 'senior')
ORDER BY sessions DESC, agent_id
