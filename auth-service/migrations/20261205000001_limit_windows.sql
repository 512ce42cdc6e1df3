-- The login limiter's and /refresh's counters, for instances sharing one PostgreSQL database
-- (limits.store = "database", see src/limiter/shared.rs); unused where the counters are in
-- memory. Rows whose window ended are deleted on the refresh purge's schedule.
CREATE TABLE limit_windows (
    -- login-pair, login-username, login-address, refresh-family, refresh-user.
    scope   TEXT NOT NULL,
    -- The username and address, the username, the address, the family, the user id.
    name    TEXT NOT NULL,
    -- Events counted in the window.
    hits    BIGINT NOT NULL,
    -- When the window ends, in milliseconds since the epoch.
    ends_at BIGINT NOT NULL,
    PRIMARY KEY (scope, name)
);

CREATE INDEX limit_windows_expiry ON limit_windows (ends_at);

-- Addresses where a username logged in correctly: exempt from its cross-address limit
-- until `until` (milliseconds since the epoch).
CREATE TABLE login_known_addresses (
    username TEXT NOT NULL,
    address  TEXT NOT NULL,
    until    BIGINT NOT NULL,
    PRIMARY KEY (username, address)
);

CREATE INDEX login_known_addresses_expiry ON login_known_addresses (until);
