-- Dashboard users and their login sessions. Passwords are argon2id hashes (PHC strings);
-- sessions keep only the SHA-256 of their 256-bit random token, so a leaked table logs nobody in.
CREATE TABLE IF NOT EXISTS users (
    id            bigserial PRIMARY KEY,
    name          text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    role          text        NOT NULL CHECK (role IN ('admin', 'viewer')),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2%'),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS user_sessions (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

-- Logout-everywhere and the expiry sweep.
CREATE INDEX IF NOT EXISTS user_sessions_user ON user_sessions (user_id);
CREATE INDEX IF NOT EXISTS user_sessions_expires ON user_sessions (expires_at);
