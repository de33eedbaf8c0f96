-- The plugin registry, per-market toggles and plugin storage. Everything a
-- node needs to run a plugin lives here, so every node sees the same plugins.

-- An installed plugin: its component, its manifest, and what an administrator
-- granted. `granted` is a JSON array of capability names.
CREATE TABLE plugins (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    contract      TEXT    NOT NULL,
    manifest      TEXT    NOT NULL,
    wasm          BLOB    NOT NULL,
    sha256        TEXT    NOT NULL,
    granted       TEXT    NOT NULL,
    installed_by  TEXT    NOT NULL,
    installed_at  BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

-- Whether a plugin is on in a market, with which configuration (JSON) and,
-- when the breaker switched it off, why and when.
CREATE TABLE market_plugins (
    market_code        TEXT    NOT NULL REFERENCES markets (code),
    plugin_id          TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    enabled            BOOLEAN NOT NULL,
    config             TEXT    NOT NULL,
    position           BIGINT  NOT NULL,
    changed_by         TEXT    NOT NULL,
    changed_at         BIGINT  NOT NULL,
    breaker_reason     TEXT,
    breaker_tripped_at BIGINT,
    PRIMARY KEY (market_code, plugin_id)
);

-- Key-value storage of one plugin in one market (the `storage` import).
CREATE TABLE plugin_storage (
    plugin_id   TEXT    NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    market_code TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    value       BLOB    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (plugin_id, market_code, key)
);

-- Bumped by every change above, so each node can tell cheaply whether its
-- loaded plugin set is current (the same scheme as `authz_revision`).
CREATE TABLE plugin_revision (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    revision  BIGINT  NOT NULL
);
INSERT INTO plugin_revision (singleton, revision) VALUES (1, 0);
