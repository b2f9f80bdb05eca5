-- MTTD and MTTC percentiles (p50, p90, p99, in milliseconds) over alerted sessions, from the session_detection view.
SELECT count() AS alerted_sessions, countIf(mttc_ms >= 0) AS contained_sessions,
    quantiles(0.5, 0.9, 0.99)(mttd_ms) AS mttd_ms_p50_p90_p99,
    quantilesIf(0.5, 0.9, 0.99)(mttc_ms, mttc_ms >= 0) AS mttc_ms_p50_p90_p99
FROM tether.session_detection
