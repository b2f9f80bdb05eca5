-- Lineage blast radius of a root agent: every agent in its delegation tree with what it touched (tools, data classes, destinations) and its findings.
SELECT agent_id, parent_agent_id, sessions, events, tools, data_classes, destinations, findings, max_severity
FROM
(
    SELECT agent_id, any(parent_agent_id) AS parent_agent_id, uniqExact(session_id) AS sessions, count() AS events,
        arrayFilter(x -> x != '', groupUniqArray(tool_name)) AS tools, groupUniqArrayArray(data_classes) AS data_classes,
        arrayFilter(x -> x != '', groupUniqArray(destination)) AS destinations
    FROM tether.events
    WHERE root_agent_id = {root_agent_id}
    GROUP BY agent_id
)
ANY LEFT JOIN
(
    SELECT agent_id, count() AS findings, max(severity) AS max_severity
    FROM tether.findings FINAL
    WHERE root_agent_id = {root_agent_id}
    GROUP BY agent_id
) USING agent_id
ORDER BY parent_agent_id != '', max_severity DESC, agent_id
