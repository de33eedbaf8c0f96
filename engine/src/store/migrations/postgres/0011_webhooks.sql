-- Webhooks (INT-2, Q 4.1.2): retailer and supplier systems subscribe to a
-- market's domain events; the dispatcher turns each outbox event into one
-- delivery per matching subscription, and the delivery worker POSTs it,
-- signed, retrying with back-off. Times are milliseconds since the epoch.

-- `event_kinds` is a JSON list of kinds (`["order.paid"]`), `["*"]` for all.
-- `secret_encrypted` is the signing secret sealed with AES-256-GCM under a key
-- derived from `security.id_number_key`: recoverable to sign, useless without
-- the key. Deleting a subscription deactivates it so its log stays.
CREATE TABLE webhook_subscriptions (
    id               TEXT   PRIMARY KEY,
    market_code      TEXT   NOT NULL REFERENCES markets (code),
    url              TEXT   NOT NULL,
    event_kinds      TEXT   NOT NULL,
    secret_encrypted TEXT   NOT NULL,
    active           BIGINT NOT NULL DEFAULT 1,
    created_by       TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX webhook_subscriptions_market ON webhook_subscriptions (market_code, active);

-- One row per (subscription, event): the unit of retry. `next_attempt_at` is
-- also the lease a worker takes while it sends (moved past the request
-- timeout), so a node that dies mid-send leaves the row to be sent again.
CREATE TABLE webhook_deliveries (
    id               TEXT   PRIMARY KEY,
    subscription_id  TEXT   NOT NULL REFERENCES webhook_subscriptions (id),
    event_id         TEXT   NOT NULL,
    event_kind       TEXT   NOT NULL,
    market_code      TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    last_attempt_at  BIGINT,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, id);

-- Every attempt of a delivery, for the delivery log: what the receiver
-- answered (or why there was no answer) and how long it took.
CREATE TABLE webhook_delivery_attempts (
    delivery_id  TEXT   NOT NULL REFERENCES webhook_deliveries (id),
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status_code  BIGINT,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
