-- The engine's state per alert (rule + labels), so a new evaluating process carries on from it.
CREATE TABLE IF NOT EXISTS alert_state (
    rule            text NOT NULL,
    labels          jsonb NOT NULL,
    labels_hash     uuid NOT NULL GENERATED ALWAYS AS (md5(labels::text)::uuid) STORED,
    state           text NOT NULL CHECK (state IN ('inactive', 'pending', 'firing')),
    active_since_ms bigint,
    fired_at_ms     bigint,
    last_value      double precision,
    last_seen_ms    bigint,
    last_breach_ms  bigint,
    PRIMARY KEY (rule, labels_hash)
);
CREATE INDEX IF NOT EXISTS alert_state_active ON alert_state (state) WHERE state <> 'inactive';

-- Every transition, as decided (exactly once) by the evaluating process.
CREATE TABLE IF NOT EXISTS alert_transitions (
    id            bigserial PRIMARY KEY,
    rule          text NOT NULL,
    labels        jsonb NOT NULL,
    host          text NOT NULL DEFAULT '',
    severity      text NOT NULL DEFAULT '',
    from_state    text NOT NULL,
    to_state      text NOT NULL,
    value         double precision,
    at            timestamptz NOT NULL,
    starts_at     timestamptz,
    reason        text NOT NULL DEFAULT '',
    muted         boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS alert_transitions_at ON alert_transitions (at DESC, id DESC);
CREATE INDEX IF NOT EXISTS alert_transitions_host ON alert_transitions (host, id DESC);
CREATE INDEX IF NOT EXISTS alert_transitions_rule ON alert_transitions (rule, id DESC);
