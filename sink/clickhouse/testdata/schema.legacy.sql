CREATE DATABASE IF NOT EXISTS tether;

CREATE TABLE IF NOT EXISTS tether.events
(
    event_id String,
    time DateTime('UTC'),
    kind String,
    root_agent_id String,
    agent_id String,
    agent_name String,
    agent_version String,
    session_id String,
    step Int64,
    operation String,
    role String,
    tool_name String,
    tool_call_id String,
    arguments String,
    result String,
    content String,
    error String,
    truncated UInt8,
    model String,
    parent_agent_id String,
    parent_session_id String,
    child_agent_id String,
    child_session_id String,
    principal String,
    principal_session_end Nullable(DateTime('UTC')),
    credential_id String,
    credential_expires_at Nullable(DateTime('UTC')),
    autonomy_level String,
    data_classes Array(String),
    resource String,
    destination String,
    bytes Int64,
    schema_version UInt8,
    time_ms UInt16,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (root_agent_id, agent_id, session_id, time, event_id);

CREATE TABLE IF NOT EXISTS tether.findings
(
    finding_id String,
    time DateTime('UTC'),
    root_agent_id String,
    agent_id String,
    session_id String,
    principal String,
    detector String,
    kind String,
    severity UInt8,
    confidence Float64,
    explanation String,
    evidence_event_ids Array(String),
    feature_name Array(String),
    feature_observed Array(Float64),
    feature_baseline Array(Float64),
    feature_spread Array(Float64),
    step Int64,
    rule_id String,
    ruleset_version String,
    exception String,
    time_ms UInt16,
    subject String,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY finding_id;

CREATE TABLE IF NOT EXISTS tether.commands
(
    command_id String,
    issued_at DateTime('UTC'),
    expires_at DateTime('UTC'),
    agent_id String,
    session_id String,
    credential_id String,
    action String,
    target_autonomy String,
    severity UInt8,
    reason String,
    finding_ids Array(String),
    issued_at_ms UInt16,
    version UInt8,
    root_agent_id String,
    scope String,
    autonomy_before String,
    key_id String,
    signature String,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY command_id;

CREATE TABLE IF NOT EXISTS tether.command_acks
(
    command_id String,
    consumer String,
    status String,
    agent_id String,
    action String,
    reason String,
    issued_at DateTime('UTC'),
    alerted_at DateTime('UTC'),
    received_at DateTime('UTC'),
    acked_at DateTime('UTC'),
    event_to_finding_ms Float64,
    finding_to_command_ms Float64,
    command_to_ack_ms Float64,
    time_to_contain_ms Float64,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY (command_id, consumer, status);

CREATE TABLE IF NOT EXISTS tether.triage
(
    finding_id String,
    status String,
    comment String,
    set_by String,
    at DateTime('UTC'),
    at_ms UInt64,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY (finding_id, at_ms, set_by, status);

CREATE VIEW IF NOT EXISTS tether.session_detection AS
SELECT session_id, root_agent_id, agent_id, first_harmful_step, first_harmful_ms, first_alert_ms, first_command_ms,
    toInt64(first_alert_ms) - toInt64(first_harmful_ms) AS mttd_ms,
    if(first_command_ms = 0, -1, toInt64(first_command_ms) - toInt64(first_harmful_ms)) AS mttc_ms
FROM
(
    SELECT session_id, root_agent_id, agent_id, first_alert_ms, first_harmful_ms, first_harmful_step
    FROM
    (
        SELECT session_id, any(root_agent_id) AS root_agent_id, any(agent_id) AS agent_id, min(toUInt64(toUInt32(time)) * 1000 + time_ms) AS first_alert_ms
        FROM tether.findings FINAL
        WHERE severity >= 50
        GROUP BY session_id
    )
    ANY INNER JOIN
    (
        SELECT session_id, min(toUInt64(toUInt32(time)) * 1000 + time_ms) AS first_harmful_ms, min(step) AS first_harmful_step
        FROM tether.events FINAL
        WHERE event_id IN (SELECT arrayJoin(evidence_event_ids) FROM tether.findings FINAL WHERE severity >= 50)
        GROUP BY session_id
    ) USING session_id
)
ANY LEFT JOIN
(
    SELECT session_id, min(toUInt64(toUInt32(issued_at)) * 1000 + issued_at_ms) AS first_command_ms
    FROM tether.commands FINAL
    WHERE session_id != ''
    GROUP BY session_id
) USING session_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tether.agent_daily
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, root_agent_id, agent_id)
AS SELECT toDate(time) AS day, root_agent_id, agent_id,
    count() AS findings,
    countIf(severity >= 50) AS alerts,
    countIf(severity >= 90) AS critical
FROM tether.findings
GROUP BY day, root_agent_id, agent_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS tether.agent_daily_events
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, root_agent_id, agent_id)
AS SELECT toDate(time) AS day, root_agent_id, agent_id,
    count() AS events,
    countIf(kind = 'tool_call') AS tool_calls,
    countIf(kind = 'session_start') AS sessions
FROM tether.events
GROUP BY day, root_agent_id, agent_id;

INSERT INTO tether.events (event_id, time, kind, root_agent_id, agent_id, agent_name, agent_version, session_id, step, operation, role, tool_name, tool_call_id, arguments, result, content, error, truncated, model, parent_agent_id, parent_session_id, child_agent_id, child_session_id, principal, principal_session_end, credential_id, credential_expires_at, autonomy_level, data_classes, resource, destination, bytes, schema_version, time_ms);
INSERT INTO tether.findings (finding_id, time, root_agent_id, agent_id, session_id, principal, detector, kind, severity, confidence, explanation, evidence_event_ids, feature_name, feature_observed, feature_baseline, feature_spread, step, rule_id, ruleset_version, exception, time_ms, subject);
INSERT INTO tether.commands (command_id, issued_at, expires_at, agent_id, session_id, credential_id, action, target_autonomy, severity, reason, finding_ids, issued_at_ms, version, root_agent_id, scope, autonomy_before, key_id, signature);
INSERT INTO tether.command_acks (command_id, consumer, status, agent_id, action, reason, issued_at, alerted_at, received_at, acked_at, event_to_finding_ms, finding_to_command_ms, command_to_ack_ms, time_to_contain_ms);
INSERT INTO tether.triage (finding_id, status, comment, set_by, at, at_ms);
