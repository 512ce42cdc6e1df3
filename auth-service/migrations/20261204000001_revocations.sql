-- Revocations of access tokens and signing keys, in the order gateways apply them. Rows
-- are appended by one writer at a time (see src/revocation.rs), so `seq` commits in order
-- and a reader that has seen `seq` N has seen every row before it.
CREATE TABLE revocations (
    seq        BIGINT PRIMARY KEY,
    -- token (by jti), session (by sid), subject (by sub, with not_before), key (by kid).
    kind       TEXT NOT NULL,
    -- The `iss` of the tokens it applies to.
    issuer     TEXT NOT NULL,
    -- The jti, sid, sub or kid.
    value      TEXT NOT NULL,
    -- The user the tokens speak for, where known.
    subject    TEXT,
    -- subject: tokens issued at or before this time are revoked.
    not_before BIGINT,
    -- From then on no token it names can be valid any more: the row may be forgotten.
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX revocations_expiry ON revocations (expires_at);
-- Introspection asks whether a token's jti, sid, sub or kid is named.
CREATE INDEX revocations_value ON revocations (value);

-- Tokens of a user issued at or before this time are revoked (user removal is a row delete;
-- role and password changes and an admin's `sessions revoke` set it).
ALTER TABLE users ADD COLUMN revoked_before BIGINT;

-- A key withdrawn by `keys revoke`: no longer published nor used to sign.
ALTER TABLE signing_keys ADD COLUMN withdrawn_at BIGINT;
