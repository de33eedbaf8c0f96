-- Fulfilment (FUL-1…3): the trace code behind each package's QR code, the
-- tracking events a courier records on the way, and the cold-chain band a
-- category's goods travel in. Times are milliseconds since the epoch,
-- temperatures tenths of a degree Celsius (integers compare the same on both
-- backends).

-- none | live | chilled | frozen; the limits of each band are configuration
-- (`[cold_chain]`), so a market can tighten them without a migration.
ALTER TABLE categories ADD COLUMN cold_chain TEXT NOT NULL DEFAULT 'none';

-- One code per package (an order part: one merchant's goods), issued on first
-- need. The code is random and unguessable; it is all the public page takes.
CREATE TABLE trace_codes (
    code       TEXT   PRIMARY KEY,
    order_id   TEXT   NOT NULL REFERENCES orders (id),
    part_id    TEXT   NOT NULL UNIQUE REFERENCES order_parts (id),
    package_no BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX trace_codes_by_order ON trace_codes (order_id, package_no);

-- Where an order was, when, and (cold chain) how warm. `breach` is decided
-- when the reading is recorded, against the bands of the order's goods then.
CREATE TABLE tracking_events (
    id              TEXT    PRIMARY KEY,
    order_id        TEXT    NOT NULL REFERENCES orders (id),
    at              BIGINT  NOT NULL,
    location        TEXT    NOT NULL,
    latitude        DOUBLE PRECISION,
    longitude       DOUBLE PRECISION,
    temperature_c10 BIGINT,
    breach          BOOLEAN NOT NULL,
    recorded_by     TEXT    NOT NULL
);
CREATE INDEX tracking_events_by_order ON tracking_events (order_id, at);
