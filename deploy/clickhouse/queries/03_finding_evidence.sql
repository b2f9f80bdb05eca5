-- A finding's evidence chain and the events behind it, in chain order: the source(s) first, the triggering event last.
SELECT indexOf(chain, event_id) AS position, if(position = length(chain), 'trigger', 'source') AS role,
    step, time, agent_id, session_id, kind, tool_name, destination,
    substring(arguments, 1, 300) AS arguments, substring(result, 1, 300) AS result, data_classes
FROM tether.events FINAL
ARRAY JOIN [(SELECT any(evidence_event_ids) FROM tether.findings FINAL WHERE finding_id = {finding_id})] AS chain
WHERE has(chain, event_id)
ORDER BY position
