-- Findings per autonomy level: the agent's latest observed level, with finding and alert counts and mean severity.
SELECT autonomy_level, uniqExact(agent_id) AS agents, count() AS findings, countIf(severity >= 50) AS alerts, round(avg(severity), 1) AS mean_severity
FROM
(
    SELECT agent_id, severity
    FROM tether.findings FINAL
)
ANY LEFT JOIN
(
    SELECT agent_id, argMax(autonomy_level, time) AS autonomy_level
    FROM tether.events
    GROUP BY agent_id
) USING agent_id
GROUP BY autonomy_level
ORDER BY alerts DESC, findings DESC
