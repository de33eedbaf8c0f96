-- Accounts, sessions, API tokens, addresses, real-name verification, captchas,
-- markets and the append-only audit log. Times are milliseconds since the Unix
-- epoch (UTC) on both backends, so the same comparisons run everywhere.

CREATE TABLE accounts (
    id                  TEXT    PRIMARY KEY,
    email               TEXT    UNIQUE,
    phone               TEXT    UNIQUE,
    password_hash       TEXT    NOT NULL,
    password_changed_at INTEGER NOT NULL,
    display_name        TEXT    NOT NULL DEFAULT '',
    locale              TEXT    NOT NULL DEFAULT 'zh-CN',
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);

CREATE TABLE sessions (
    id             TEXT    PRIMARY KEY,
    token_hash     TEXT    NOT NULL UNIQUE,
    account_id     TEXT    NOT NULL REFERENCES accounts (id),
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    revoked_at     INTEGER,
    source_address TEXT,
    user_agent     TEXT
);
CREATE INDEX sessions_by_account ON sessions (account_id, created_at);

CREATE TABLE api_tokens (
    id           TEXT    PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    market_code  TEXT    NOT NULL,
    created_by   TEXT    NOT NULL REFERENCES accounts (id),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE password_resets (
    id         TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES accounts (id),
    code_hash  TEXT    NOT NULL,
    issued_by  TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

CREATE TABLE addresses (
    id         TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES accounts (id),
    recipient  TEXT    NOT NULL,
    phone      TEXT    NOT NULL,
    region     TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL,
    latitude   REAL,
    longitude  REAL,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX addresses_by_account ON addresses (account_id, created_at);

CREATE TABLE verifications (
    id            TEXT    PRIMARY KEY,
    account_id    TEXT    NOT NULL REFERENCES accounts (id),
    kind          TEXT    NOT NULL CHECK (kind IN ('PERSON', 'ORGANISATION')),
    legal_name    TEXT    NOT NULL,
    number_cipher TEXT    NOT NULL,
    number_lookup TEXT    NOT NULL,
    number_masked TEXT    NOT NULL,
    document_ids  TEXT    NOT NULL DEFAULT '[]',
    status        TEXT    NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
    reason        TEXT,
    reviewed_by   TEXT,
    reviewed_at   INTEGER,
    submitted_at  INTEGER NOT NULL
);
CREATE INDEX verifications_by_status ON verifications (status, submitted_at);
CREATE INDEX verifications_by_account ON verifications (account_id, submitted_at);

CREATE TABLE captchas (
    id          TEXT    PRIMARY KEY,
    answer      TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE markets (
    code                  TEXT    PRIMARY KEY,
    name                  TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    time_zone             TEXT    NOT NULL,
    locale                TEXT    NOT NULL,
    centre_latitude       REAL    NOT NULL,
    centre_longitude      REAL    NOT NULL,
    service_radius_m      INTEGER NOT NULL,
    order_hours           TEXT    NOT NULL,
    delivery              TEXT    NOT NULL,
    compensation_standard TEXT    NOT NULL DEFAULT '',
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    actor          TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    object_type    TEXT    NOT NULL,
    object_id      TEXT,
    market_code    TEXT,
    before_state   TEXT,
    after_state    TEXT,
    source_address TEXT,
    request_id     TEXT,
    outcome        TEXT    NOT NULL
);
CREATE INDEX audit_by_time ON audit_log (at);
CREATE INDEX audit_by_actor ON audit_log (actor, at);
CREATE INDEX audit_by_object ON audit_log (object_type, object_id, at);

-- Append-only: the store itself refuses to change or remove an audit record.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
