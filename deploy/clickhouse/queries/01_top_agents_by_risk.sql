-- Which agents are riskiest right now: per agent, the highest severity among its findings of the last 24 hours that triage has not closed (false_positive, accepted_risk, resolved), with alert and finding counts.
SELECT root_agent_id, agent_id, max(severity) AS risk, countIf(severity >= 50) AS alerts, count() AS open_findings, max(time) AS last_finding
FROM
(
    SELECT finding_id, root_agent_id, agent_id, severity, time
    FROM tether.findings FINAL
    WHERE time >= now() - INTERVAL 1 DAY
)
ANY LEFT JOIN
(
    SELECT finding_id, argMax(status, at_ms) AS triage_status
    FROM tether.triage
    GROUP BY finding_id
) USING finding_id
WHERE triage_status NOT IN ('false_positive', 'accepted_risk', 'resolved')
GROUP BY root_agent_id, agent_id
ORDER BY risk DESC, alerts DESC, open_findings DESC
LIMIT 50
