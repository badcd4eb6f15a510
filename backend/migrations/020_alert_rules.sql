-- Alert rules: managed through the API, or loaded at start-up from the shipped defaults / a file.
CREATE TABLE IF NOT EXISTS alert_rules (
    id                      bigserial PRIMARY KEY,
    name                    text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    kind                    text NOT NULL CHECK (kind IN ('threshold', 'absent')),
    metric                  text NOT NULL,
    matchers                jsonb NOT NULL DEFAULT '{}'::jsonb,
    op                      text NOT NULL CHECK (op IN ('>', '>=', '<', '<=', '==', '!=')),
    threshold               double precision NOT NULL DEFAULT 0,
    for_seconds             double precision NOT NULL DEFAULT 0,
    resolve_threshold       double precision,
    keep_firing_for_seconds double precision NOT NULL DEFAULT 0,
    labels                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    annotations             jsonb NOT NULL DEFAULT '{}'::jsonb,
    enabled                 boolean NOT NULL DEFAULT true,
    source                  text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'defaults', 'file')),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- Mutes: no notifications for a host (rule NULL) or a rule on a host until `until`.
CREATE TABLE IF NOT EXISTS alert_mutes (
    id         bigserial PRIMARY KEY,
    host       text NOT NULL,
    rule       text,
    until      timestamptz NOT NULL,
    comment    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
