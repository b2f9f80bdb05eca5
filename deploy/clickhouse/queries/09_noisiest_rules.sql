-- Noisiest rules of the last 30 days and their false-positive share from triage (false positives among the triaged findings of the rule).
SELECT detector, kind, count() AS findings, uniqExact(agent_id) AS agents,
    countIf(triage_status != '') AS triaged, countIf(triage_status = 'false_positive') AS false_positives,
    if(triaged = 0, 0, round(false_positives / triaged, 3)) AS fp_share
FROM
(
    SELECT finding_id, detector, kind, agent_id
    FROM tether.findings FINAL
    WHERE time >= now() - INTERVAL 30 DAY
)
ANY LEFT JOIN
(
    SELECT finding_id, argMax(status, at_ms) AS triage_status
    FROM tether.triage
    GROUP BY finding_id
) USING finding_id
GROUP BY detector, kind
ORDER BY findings DESC
LIMIT 20
