-- Merchant onboarding (MER-1…4): the application, qualification documents,
-- agreements, the shop page and the credit file. `merchants.status` carries
-- the workflow state; these tables carry what each step adds.

-- What the applicant submitted, and the last review's reason.
CREATE TABLE merchant_applications (
    merchant_id    TEXT    PRIMARY KEY REFERENCES merchants (id),
    applicant_id   TEXT    NOT NULL REFERENCES accounts (id),
    shop_name      TEXT    NOT NULL,
    contact_name   TEXT    NOT NULL,
    contact_phone  TEXT    NOT NULL,
    -- JSON array of category codes the merchant wants to sell.
    categories     TEXT    NOT NULL,
    review_reason  TEXT,
    reviewed_by    TEXT,
    reviewed_at    BIGINT,
    submitted_at   BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);
CREATE INDEX merchant_applications_by_applicant ON merchant_applications (applicant_id);

-- Each onboarding step as the applicant sees it (the audit log keeps the full record).
CREATE TABLE merchant_onboarding_steps (
    id          TEXT    PRIMARY KEY,
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    action      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    reason      TEXT,
    at          BIGINT  NOT NULL
);
CREATE INDEX merchant_onboarding_steps_by_merchant ON merchant_onboarding_steps (merchant_id, at);

-- Qualification documents (S appendix A). A renewal is a new row; the newest
-- valid one of a type counts. `number` is an ID-like number: shown masked to
-- everyone but the owner and reviewers, never logged.
CREATE TABLE qualification_documents (
    id          TEXT    PRIMARY KEY,
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    doc_type    TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    issuer      TEXT    NOT NULL,
    valid_from  TEXT    NOT NULL,
    valid_to    TEXT    NOT NULL,
    image_id    TEXT    NOT NULL REFERENCES media (id),
    added_by    TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    -- valid | expiring (within 30 days) | expired, as of the last expiry sweep.
    flag        TEXT    NOT NULL
);
CREATE INDEX qualification_documents_by_merchant ON qualification_documents (merchant_id, doc_type);

-- Which documents a category needs in a market; markets without a row use
-- the defaults of appendix A, chosen by category kind.
CREATE TABLE market_category_rules (
    market_code     TEXT    NOT NULL REFERENCES markets (code),
    category_code   TEXT    NOT NULL,
    -- JSON array of kinds (food, farm_produce, poultry_eggs, meat).
    kinds           TEXT    NOT NULL,
    -- JSON array of groups; each group is a list of document types, any one of which will do.
    required_groups TEXT    NOT NULL,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (market_code, category_code)
);

-- Signed cooperation agreements (S 8.1.3). Never updated: a renewal is a new row.
CREATE TABLE merchant_agreements (
    id                        TEXT    PRIMARY KEY,
    merchant_id               TEXT    NOT NULL REFERENCES merchants (id),
    subject                   TEXT    NOT NULL,
    term_start                TEXT    NOT NULL,
    term_end                  TEXT    NOT NULL,
    products_and_prices       TEXT    NOT NULL,
    delivery_time_and_quality TEXT    NOT NULL,
    liability                 TEXT    NOT NULL,
    settlement_cycle          TEXT    NOT NULL,
    settlement_days           BIGINT,
    settlement_method         TEXT    NOT NULL,
    signed_file_id            TEXT    NOT NULL REFERENCES media (id),
    signed_by                 TEXT    NOT NULL,
    signed_at                 BIGINT  NOT NULL
);
CREATE INDEX merchant_agreements_by_merchant ON merchant_agreements (merchant_id, signed_at);

-- The public shop page (S 8.1.4.1).
CREATE TABLE merchant_shops (
    merchant_id    TEXT    PRIMARY KEY REFERENCES merchants (id),
    name           TEXT    NOT NULL,
    image_id       TEXT    NOT NULL REFERENCES media (id),
    -- JSON arrays of strings.
    specialities   TEXT    NOT NULL,
    public_welfare TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    updated_at     BIGINT  NOT NULL
);

-- The credit file (S 8.1.5): every event that moved the score.
CREATE TABLE merchant_credit_events (
    id          TEXT    PRIMARY KEY,
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    kind        TEXT    NOT NULL,
    points      BIGINT  NOT NULL,
    note        TEXT    NOT NULL,
    recorded_by TEXT    NOT NULL,
    at          BIGINT  NOT NULL
);
CREATE INDEX merchant_credit_events_by_merchant ON merchant_credit_events (merchant_id, at);

-- Listings held back because a needed document expired, until a renewal.
CREATE TABLE merchant_listing_suspensions (
    merchant_id   TEXT    NOT NULL REFERENCES merchants (id),
    category_code TEXT    NOT NULL,
    doc_type      TEXT    NOT NULL,
    since         BIGINT  NOT NULL,
    PRIMARY KEY (merchant_id, category_code, doc_type)
);
