-- A counter bumped by every change to `casbin_rule`, so each engine node can
-- tell cheaply whether its in-memory copy of the policy is current.
CREATE TABLE authz_revision (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    revision  BIGINT  NOT NULL
);
INSERT INTO authz_revision (singleton, revision) VALUES (1, 0);
