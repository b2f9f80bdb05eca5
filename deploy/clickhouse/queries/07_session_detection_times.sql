-- Per alerted session (the session_detection view): the first step judged harmful (the earliest event in the evidence of any alert finding), the first alert and the first containment command in Unix milliseconds, and the time from the first harmful step to each (mttd_ms, mttc_ms; -1 when no command was issued).
SELECT session_id, root_agent_id, agent_id, first_harmful_step, first_harmful_ms, first_alert_ms, first_command_ms, mttd_ms, mttc_ms
FROM tether.session_detection
ORDER BY first_alert_ms, session_id
