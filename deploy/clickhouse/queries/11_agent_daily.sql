-- Per-agent daily rollups from the materialised views agent_daily and agent_daily_events (sum: rows of one key may not be merged yet).
SELECT day, root_agent_id, agent_id, events, tool_calls, sessions, findings, alerts, critical
FROM
(
    SELECT day, root_agent_id, agent_id, sum(events) AS events, sum(tool_calls) AS tool_calls, sum(sessions) AS sessions
    FROM tether.agent_daily_events
    GROUP BY day, root_agent_id, agent_id
)
ANY LEFT JOIN
(
    SELECT day, root_agent_id, agent_id, sum(findings) AS findings, sum(alerts) AS alerts, sum(critical) AS critical
    FROM tether.agent_daily
    GROUP BY day, root_agent_id, agent_id
) USING day, root_agent_id, agent_id
ORDER BY day DESC, alerts DESC, events DESC
