-- What did we do about a finding and how fast: the containment commands it caused, with the delay from the finding's triggering event to each command.
SELECT command_id, issued_at, action, target_autonomy, severity,
    toInt64(toUInt32(issued_at)) - toInt64(toUInt32(finding_time)) AS seconds_after_finding, reason
FROM tether.commands FINAL
ARRAY JOIN [(SELECT any(time) FROM tether.findings FINAL WHERE finding_id = {finding_id})] AS finding_time
WHERE has(finding_ids, {finding_id})
ORDER BY issued_at, command_id
