-- What did we do about a finding and how fast: the containment commands it caused, with the delay from the finding's triggering event to each command.
SELECT command_id, issued_at, action, target_autonomy, severity,
    toInt64(toUInt64(toUInt32(issued_at)) * 1000 + issued_at_ms) - toInt64(finding_ms) AS ms_after_finding, reason
FROM tether.commands FINAL
ARRAY JOIN [(SELECT any(toUInt64(toUInt32(time)) * 1000 + time_ms) FROM tether.findings FINAL WHERE finding_id = {finding_id})] AS finding_ms
WHERE has(finding_ids, {finding_id})
ORDER BY issued_at, command_id
