-- Webhooks, their delivery outbox and the log of every attempt.
--
-- A delivery row is written in the same transaction as the change that
-- caused the event, so a committed change always has its deliveries and a
-- rolled-back one never does. Workers claim due rows by setting a lease;
-- a lease left behind by a crash is released and the row retried.

-- AUTOINCREMENT: ids are shown to users and used in URLs; a deleted hook's
-- id must never come back as someone else's hook.
CREATE TABLE webhooks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE, -- a user or an organization
    url          TEXT    NOT NULL,
    secret       TEXT    NOT NULL DEFAULT '',
    content_type TEXT    NOT NULL DEFAULT 'json' CHECK (content_type IN ('json', 'form')),
    events       TEXT    NOT NULL, -- JSON array of event names
    active       INTEGER NOT NULL DEFAULT 1,
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL
);
CREATE INDEX webhooks_owner ON webhooks(owner_id);

-- Scheduling columns are integer Unix milliseconds: retries in tests are
-- milliseconds apart and the due-query compares them numerically.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    guid             TEXT    NOT NULL UNIQUE,
    event            TEXT    NOT NULL,
    action           TEXT    NOT NULL DEFAULT '',
    repo_id          INTEGER, -- no foreign key: the log outlives a deleted repository
    content_type     TEXT    NOT NULL, -- the Content-Type header the body was encoded for
    body             BLOB    NOT NULL, -- the exact bytes sent (and signed) on every attempt
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed')),
    manual           INTEGER NOT NULL DEFAULT 0, -- a ping or redelivery: sent even to an inactive hook
    redelivery_of    INTEGER, -- the delivery this one repeats
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER, -- due time while pending/retrying; NULL once finished
    lease_token      TEXT,    -- set while a worker holds the row
    lease_expires_ms INTEGER,
    status_code      INTEGER, -- of the last finished attempt
    duration_ms      INTEGER,
    last_error       TEXT,
    last_attempt_at  DATETIME,
    delivered_at     DATETIME, -- when an attempt succeeded
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_ms)
    WHERE status IN ('pending', 'retrying');
-- Each hook's next due deliveries, for claims that let hooks take turns.
CREATE INDEX webhook_deliveries_hook_due ON webhook_deliveries(webhook_id, next_attempt_ms)
    WHERE status IN ('pending', 'retrying') AND lease_token IS NULL;
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries(lease_expires_ms)
    WHERE lease_token IS NOT NULL;
CREATE INDEX webhook_deliveries_status ON webhook_deliveries(status, id);

CREATE TABLE webhook_attempts (
    id               INTEGER PRIMARY KEY,
    delivery_id      INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt          INTEGER NOT NULL,
    url              TEXT    NOT NULL,
    request_headers  TEXT    NOT NULL, -- JSON object
    status_code      INTEGER,          -- NULL when no response arrived
    response_headers TEXT,             -- JSON object
    response_body    BLOB,             -- the first 64 KiB
    duration_ms      INTEGER NOT NULL,
    error            TEXT,
    started_at       DATETIME NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, attempt);
