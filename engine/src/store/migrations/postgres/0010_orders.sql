-- Carts, orders and their whole life (ORD-1…6, FUL-1…3), payments and
-- refunds, and the outbox every state change writes to (INT-2). Money is
-- integer fen, times are milliseconds since the epoch, as everywhere.

-- One cart per customer per market, across the market's merchants (ORD-1).
CREATE TABLE carts (
    id          TEXT   PRIMARY KEY,
    account_id  TEXT   NOT NULL REFERENCES accounts (id),
    market_code TEXT   NOT NULL REFERENCES markets (code),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (account_id, market_code)
);

-- `quantity` is pieces (for goods sold by weight: units of about
-- `estimated_weight_g` each). Prices are not kept here: checkout re-reads them.
CREATE TABLE cart_lines (
    cart_id    TEXT   NOT NULL REFERENCES carts (id),
    variant_id TEXT   NOT NULL REFERENCES product_variants (id),
    quantity   BIGINT NOT NULL,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (cart_id, variant_id)
);

-- A scheduled delivery slot with its capacity (ORD-2); `booked` only grows
-- through a conditional UPDATE in the checkout transaction.
CREATE TABLE delivery_slots (
    id          TEXT   PRIMARY KEY,
    market_code TEXT   NOT NULL REFERENCES markets (code),
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    capacity    BIGINT NOT NULL,
    booked      BIGINT NOT NULL DEFAULT 0,
    created_by  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (market_code, starts_at)
);

-- An order: one per checkout, a part per merchant, delivered together with
-- one fee. `total_fen` is what the customer authorised; picking by weight may
-- lower what is owed, never raise it. `idempotency_key` makes a retried
-- checkout return the first order.
CREATE TABLE orders (
    id                 TEXT   PRIMARY KEY,
    number             TEXT   NOT NULL UNIQUE,
    market_code        TEXT   NOT NULL REFERENCES markets (code),
    account_id         TEXT   NOT NULL REFERENCES accounts (id),
    idempotency_key    TEXT   NOT NULL,
    status             TEXT   NOT NULL,
    delivery_mode      TEXT   NOT NULL,
    slot_id            TEXT   REFERENCES delivery_slots (id),
    deliver_from       BIGINT NOT NULL,
    deliver_until      BIGINT NOT NULL,
    moved_reason       TEXT,
    recipient_name     TEXT   NOT NULL,
    recipient_phone    TEXT   NOT NULL,
    address            TEXT   NOT NULL,
    latitude           DOUBLE PRECISION NOT NULL,
    longitude          DOUBLE PRECISION NOT NULL,
    distance_m         BIGINT NOT NULL,
    delivery_quoted_by TEXT   NOT NULL,
    subtotal_fen       BIGINT NOT NULL,
    adjustment_fen     BIGINT NOT NULL,
    delivery_fee_fen   BIGINT NOT NULL,
    total_fen          BIGINT NOT NULL,
    paid_fen           BIGINT NOT NULL DEFAULT 0,
    refunded_fen       BIGINT NOT NULL DEFAULT 0,
    payment_provider   TEXT   NOT NULL,
    placed_at          BIGINT NOT NULL,
    paid_at            BIGINT,
    verify_by          BIGINT,
    accepted_at        BIGINT,
    late_flagged_at    BIGINT,
    carrier            TEXT,
    tracking_number    TEXT,
    proof_media_ids    TEXT   NOT NULL DEFAULT '[]',
    updated_at         BIGINT NOT NULL,
    UNIQUE (account_id, idempotency_key),
    CHECK (refunded_fen <= paid_fen AND paid_fen <= total_fen)
);
CREATE INDEX orders_by_account ON orders (account_id, market_code, placed_at);
CREATE INDEX orders_by_market ON orders (market_code, status, placed_at);
CREATE INDEX orders_to_verify ON orders (status, verify_by);

-- A merchant's share of an order.
CREATE TABLE order_parts (
    id           TEXT   PRIMARY KEY,
    order_id     TEXT   NOT NULL REFERENCES orders (id),
    merchant_id  TEXT   NOT NULL REFERENCES merchants (id),
    subtotal_fen BIGINT NOT NULL,
    UNIQUE (order_id, merchant_id)
);

-- A line as sold: names and prices copied at checkout, so later catalogue
-- edits never change an order. For goods sold by weight `unit_price_fen` is
-- per kg and `estimated_weight_g` the line's whole estimated weight; picking
-- records `picked_weight_g` and `final_fen` (never above `total_fen`).
CREATE TABLE order_lines (
    id                 TEXT    PRIMARY KEY,
    order_id           TEXT    NOT NULL REFERENCES orders (id),
    part_id            TEXT    NOT NULL REFERENCES order_parts (id),
    product_id         TEXT    NOT NULL REFERENCES products (id),
    variant_id         TEXT    NOT NULL REFERENCES product_variants (id),
    product_name       TEXT    NOT NULL,
    variant_name       TEXT    NOT NULL,
    sku_code           TEXT    NOT NULL,
    sold_by_weight     BOOLEAN NOT NULL,
    unit_price_fen     BIGINT  NOT NULL,
    quantity           BIGINT  NOT NULL,
    estimated_weight_g BIGINT,
    subtotal_fen       BIGINT  NOT NULL,
    adjustment_fen     BIGINT  NOT NULL,
    total_fen          BIGINT  NOT NULL,
    picked_weight_g    BIGINT,
    picked_at          BIGINT,
    picked_by          TEXT,
    final_fen          BIGINT,
    position           BIGINT  NOT NULL
);
CREATE INDEX order_lines_by_order ON order_lines (order_id, position);
CREATE INDEX order_lines_by_variant ON order_lines (variant_id);

-- Each price adjustment a plugin made, with its reason (ORD-1).
CREATE TABLE order_adjustments (
    id         TEXT   PRIMARY KEY,
    order_id   TEXT   NOT NULL REFERENCES orders (id),
    line_id    TEXT   REFERENCES order_lines (id),
    plugin     TEXT   NOT NULL,
    code       TEXT   NOT NULL,
    reason_zh  TEXT   NOT NULL,
    reason_en  TEXT   NOT NULL,
    amount_fen BIGINT NOT NULL
);
CREATE INDEX order_adjustments_by_order ON order_adjustments (order_id);

-- The tracking timeline: every status an order reached, when and by whom.
CREATE TABLE order_events (
    id        TEXT   PRIMARY KEY,
    order_id  TEXT   NOT NULL REFERENCES orders (id),
    status    TEXT   NOT NULL,
    actor     TEXT   NOT NULL,
    note      TEXT   NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX order_events_by_order ON order_events (order_id, at);

-- A payment intent with a provider (ORD-5): `pending` until the provider
-- answers, then `succeeded`, `failed` or `timed_out`. One idempotency key,
-- one intent.
CREATE TABLE payments (
    id              TEXT   PRIMARY KEY,
    order_id        TEXT   NOT NULL REFERENCES orders (id),
    provider        TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    amount_fen      BIGINT NOT NULL,
    provider_ref    TEXT,
    failure         TEXT,
    idempotency_key TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (order_id, idempotency_key)
);
CREATE INDEX payments_by_order ON payments (order_id, created_at);

-- Money given back: full, partial, weight difference or compensation. The
-- order's `refunded_fen` never exceeds `paid_fen` (a CHECK on orders).
CREATE TABLE refunds (
    id              TEXT   PRIMARY KEY,
    order_id        TEXT   NOT NULL REFERENCES orders (id),
    payment_id      TEXT   NOT NULL REFERENCES payments (id),
    kind            TEXT   NOT NULL,
    amount_fen      BIGINT NOT NULL,
    reason          TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    created_by      TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (order_id, idempotency_key),
    CHECK (amount_fen > 0)
);
CREATE INDEX refunds_by_order ON refunds (order_id, created_at);

-- Domain events written in the same transaction as the change they report
-- (ORD-6, INT-2). The dispatcher claims rows (`claimed_until`), hands them to
-- plugins and webhooks, and marks them `dispatched_at`.
CREATE TABLE outbox (
    id            TEXT   PRIMARY KEY,
    market_code   TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    subject_id    TEXT   NOT NULL,
    payload       TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    dispatched_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (created_at) WHERE dispatched_at IS NULL;

-- Alerts for a market's administrators, e.g. an order not verified within
-- 30 minutes of payment (S 8.2.2.2). One alert per kind and subject.
CREATE TABLE market_alerts (
    id          TEXT   PRIMARY KEY,
    market_code TEXT   NOT NULL REFERENCES markets (code),
    kind        TEXT   NOT NULL,
    subject_id  TEXT   NOT NULL,
    message_zh  TEXT   NOT NULL,
    message_en  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT,
    read_by     TEXT,
    UNIQUE (kind, subject_id)
);
CREATE INDEX market_alerts_by_market ON market_alerts (market_code, created_at);
