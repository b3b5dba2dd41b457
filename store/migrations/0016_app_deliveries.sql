-- The outbox of file deliveries to apps. Rows are written in the
-- transaction that advances a watch's plan, so a queued change is always
-- delivered; a watch's deliveries go out one at a time in id order. The
-- body is the exact bytes sent and signed on every attempt; it is dropped
-- once delivered.
CREATE TABLE app_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    watch_id         INTEGER NOT NULL REFERENCES watched_repos(id) ON DELETE CASCADE,
    guid             TEXT    NOT NULL UNIQUE,
    seq              INTEGER NOT NULL,
    event            TEXT    NOT NULL CHECK (event IN ('created', 'updated', 'deleted')),
    path             TEXT    NOT NULL,
    commit_sha       TEXT    NOT NULL,
    body             BLOB,
    status           TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    lease_token      TEXT,
    lease_expires_ms INTEGER,
    status_code      INTEGER,
    last_error       TEXT,
    last_attempt_at  DATETIME,
    delivered_at     DATETIME,
    created_at       DATETIME NOT NULL
);
CREATE INDEX app_deliveries_pending ON app_deliveries(watch_id, id) WHERE status = 'pending';
CREATE INDEX app_deliveries_watch ON app_deliveries(watch_id, status);
CREATE INDEX app_deliveries_leased ON app_deliveries(lease_expires_ms) WHERE lease_token IS NOT NULL;
