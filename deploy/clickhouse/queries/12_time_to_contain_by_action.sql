-- Time-to-contain per containment action (p50 and p99 in milliseconds, event time to the applied acknowledgement) over the last day, from command_acks.
SELECT action, count() AS applied,
    quantilesExact(0.5, 0.99)(time_to_contain_ms) AS ttc_ms_p50_p99,
    quantilesExact(0.5, 0.99)(command_to_ack_ms) AS apply_ms_p50_p99,
    uniqExact(consumer) AS consumers
FROM tether.command_acks FINAL
WHERE status = 'applied' AND acked_at >= now() - INTERVAL 1 DAY
GROUP BY action
ORDER BY ttc_ms_p50_p99[2] DESC, action
