-- Merchants and uploaded media: what the catalogue and onboarding build on.

-- A shop in one market. It exists from the application on; `status` follows
-- onboarding: applied → needs_more | rejected | approved → contracted → active,
-- and suspended when staff (or the credit file) stop it.
CREATE TABLE merchants (
    id          TEXT    PRIMARY KEY,
    market_code TEXT    NOT NULL REFERENCES markets (code),
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX merchants_by_market ON merchants (market_code, status);

-- Who works for a shop: its owner (the applicant) and staff. A merchant's
-- data is theirs only; services check membership next to the data.
CREATE TABLE merchant_members (
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    account_id  TEXT    NOT NULL REFERENCES accounts (id),
    role        TEXT    NOT NULL,
    added_at    BIGINT  NOT NULL,
    PRIMARY KEY (merchant_id, account_id)
);
CREATE INDEX merchant_members_by_account ON merchant_members (account_id);

-- An uploaded file (image or document). The bytes live in the media store
-- (a directory under the data directory by default), named by `storage_key`.
CREATE TABLE media (
    id           TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size_bytes   BIGINT  NOT NULL,
    width        BIGINT,
    height       BIGINT,
    sha256       TEXT    NOT NULL,
    storage_key  TEXT    NOT NULL,
    file_name    TEXT    NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
