-- Mirrors of upstream git repositories (watched repositories, poll runs):
-- a bare repository at <data>/mirrors/<id>.git, synced over smart HTTP,
-- and its sync state. url is the repository's URL without credentials;
-- token, when set, is the credential scheduled syncs use, sealed with the
-- data directory's key.
CREATE TABLE mirrors (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    url            TEXT    NOT NULL UNIQUE,
    token          TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'syncing', 'synced', 'error')),
    last_error     TEXT    NOT NULL DEFAULT '',
    head_ref       TEXT    NOT NULL DEFAULT '', -- the upstream's HEAD (refs/heads/main)
    head_commit    TEXT    NOT NULL DEFAULT '', -- that branch's commit in the mirror
    interval_s     INTEGER NOT NULL DEFAULT 0,  -- scheduled sync interval; 0 = on demand only
    failures       INTEGER NOT NULL DEFAULT 0,  -- consecutive failed syncs, for backoff
    next_sync_ms   INTEGER,                     -- when the next scheduled sync is due
    last_polled_at DATETIME,                    -- the last sync attempt's end
    last_synced_at DATETIME,                    -- the last successful sync
    last_changed_at DATETIME,                   -- the last sync that moved a ref
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL
);
CREATE INDEX mirrors_due ON mirrors(next_sync_ms) WHERE interval_s > 0;
