-- Webhook receivers. The secret is needed to sign bodies, so it is kept; the API never returns it.
CREATE TABLE IF NOT EXISTS webhooks (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    url           text NOT NULL,
    secret        text,
    send_resolved boolean NOT NULL DEFAULT true,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The outbox: one row per notification and target, claimed by one process at a time.
CREATE TABLE IF NOT EXISTS notification_deliveries (
    id              bigserial PRIMARY KEY,
    target_kind     text NOT NULL CHECK (target_kind IN ('webhook', 'alertmanager')),
    webhook_id      bigint REFERENCES webhooks (id) ON DELETE CASCADE,
    target_url      text NOT NULL,
    transition_id   bigint REFERENCES alert_transitions (id) ON DELETE SET NULL,
    body            jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX IF NOT EXISTS notification_deliveries_due
    ON notification_deliveries (next_attempt_at) WHERE state = 'pending';
-- Deliveries go to each target in order: the claim looks for an older pending one per target.
CREATE INDEX IF NOT EXISTS notification_deliveries_queue
    ON notification_deliveries (target_url, id) WHERE state = 'pending';

CREATE TABLE IF NOT EXISTS notification_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES notification_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    ok           boolean NOT NULL,
    status_code  integer,
    error        text,
    duration_ms  double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS notification_attempts_delivery ON notification_attempts (delivery_id);
