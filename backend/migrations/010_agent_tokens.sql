-- Agent tokens for the ingest paths. Only a SHA-256 of each token is kept: tokens are 256-bit random
-- strings, so a fast hash is as safe as a slow one (nothing to brute-force) and keeps every ingest
-- request's check cheap.
CREATE TABLE IF NOT EXISTS agent_tokens (
    id           bigserial PRIMARY KEY,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token_hash   bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);
