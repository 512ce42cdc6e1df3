-- Portable between SQLite and PostgreSQL: text ids (UUIDs made by the service), times as
-- BIGINT seconds since the Unix epoch, no booleans (a nullable time says when).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    -- Comma-separated role names.
    roles         TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);

-- Opaque refresh tokens, stored only as SHA-256 hashes. Each login starts a family; each
-- refresh adds the successor of one token to it.
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    parent_id   TEXT,
    -- The successor handed out for this token, if any.
    replaced_by TEXT,
    -- How often this token was presented to /refresh.
    use_count   BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Signing keys. A key signs from activates_at until the next key activates, and stays
-- published until every token it signed has expired.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    -- PKCS#8 DER, base64.
    private_key  TEXT NOT NULL,
    -- Public key, base64url (the JWK's `x`).
    public_key   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL
);
