-- The catalogue (CAT-1…5): categories per market, merchants' products with
-- variants, prices with their history, stock with its movements, and the
-- search index. Written once for both backends.

-- A node of a market's category tree. `attributes` is the JSON list of the
-- typed attributes its products carry (name, type, allowed values, required,
-- unit); it is read and written whole. `fresh` goods need an after-sale note.
CREATE TABLE categories (
    id          TEXT    PRIMARY KEY,
    market_code TEXT    NOT NULL REFERENCES markets (code),
    parent_id   TEXT    REFERENCES categories (id),
    code        TEXT    NOT NULL,
    name_zh     TEXT    NOT NULL,
    name_en     TEXT    NOT NULL,
    position    BIGINT  NOT NULL,
    fresh       BOOLEAN NOT NULL,
    attributes  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE (market_code, code)
);

-- A merchant's product; sold in the merchant's market. `image_ids` and `tags`
-- are JSON lists, read whole. `sales_count` is kept by checkout.
CREATE TABLE products (
    id               TEXT    PRIMARY KEY,
    merchant_id      TEXT    NOT NULL REFERENCES merchants (id),
    market_code      TEXT    NOT NULL REFERENCES markets (code),
    category_id      TEXT    NOT NULL REFERENCES categories (id),
    name             TEXT    NOT NULL,
    specification    TEXT    NOT NULL,
    origin_province  TEXT    NOT NULL,
    origin_city      TEXT    NOT NULL,
    origin_county    TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    unit             TEXT    NOT NULL,
    minimum_package  TEXT    NOT NULL,
    min_order_qty    BIGINT  NOT NULL,
    seasonal         BOOLEAN NOT NULL,
    after_sale_note  TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    suspended_reason TEXT,
    image_ids        TEXT    NOT NULL,
    tags             TEXT    NOT NULL,
    sales_count      BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX products_by_market ON products (market_code, status, created_at);
CREATE INDEX products_by_merchant ON products (merchant_id, created_at);
CREATE INDEX products_by_category ON products (category_id);

-- Typed attribute values, validated against the category's definitions.
CREATE TABLE product_attributes (
    product_id TEXT NOT NULL REFERENCES products (id),
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (product_id, name)
);
CREATE INDEX product_attributes_by_value ON product_attributes (name, value);

-- A sellable variant (SKU). `price_fen` is per kg when sold by weight, with
-- `estimated_weight_g` per unit. `on_hand - reserved` is what can be sold.
CREATE TABLE product_variants (
    id                  TEXT    PRIMARY KEY,
    product_id          TEXT    NOT NULL REFERENCES products (id),
    sku_code            TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    sold_by_weight      BOOLEAN NOT NULL,
    price_fen           BIGINT  NOT NULL,
    estimated_weight_g  BIGINT,
    on_hand             BIGINT  NOT NULL,
    reserved            BIGINT  NOT NULL,
    low_stock_threshold BIGINT  NOT NULL,
    position            BIGINT  NOT NULL,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    UNIQUE (product_id, sku_code)
);
CREATE INDEX product_variants_by_product ON product_variants (product_id, position);

-- Every price a variant has had (CAT-5; feeds the price index).
CREATE TABLE price_history (
    id         TEXT   PRIMARY KEY,
    variant_id TEXT   NOT NULL REFERENCES product_variants (id),
    price_fen  BIGINT NOT NULL,
    changed_by TEXT   NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX price_history_by_variant ON price_history (variant_id, changed_at);

-- Every stock adjustment with its reason (restock, damage, count correction…).
CREATE TABLE stock_movements (
    id            TEXT   PRIMARY KEY,
    variant_id    TEXT   NOT NULL REFERENCES product_variants (id),
    delta         BIGINT NOT NULL,
    reason        TEXT   NOT NULL,
    note          TEXT   NOT NULL,
    on_hand_after BIGINT NOT NULL,
    moved_by      TEXT   NOT NULL,
    moved_at      BIGINT NOT NULL
);
CREATE INDEX stock_movements_by_variant ON stock_movements (variant_id, moved_at);

-- Portable Chinese search: every unigram and overlapping bigram of a
-- product's CJK text and every ASCII word, so both backends answer the same.
-- `in_name` ranks products whose name holds the query first.
CREATE TABLE product_search_grams (
    product_id TEXT    NOT NULL REFERENCES products (id),
    gram       TEXT    NOT NULL,
    in_name    BOOLEAN NOT NULL,
    PRIMARY KEY (product_id, gram)
);
CREATE INDEX product_search_grams_by_gram ON product_search_grams (gram, product_id);
