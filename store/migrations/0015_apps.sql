-- Apps (Docora): onboarded by site administrators, each with a delivery
-- URL, a secret that signs deliveries (sealed) and a docora_ token (only
-- its SHA-256 is kept). An app watches upstream repositories; each watch
-- follows one mirror's default branch and records how far its changes
-- have been queued for delivery.
CREATE TABLE apps (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    url           TEXT    NOT NULL,
    secret        TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    token_hint    TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    token_used_at DATETIME,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);

CREATE TABLE watched_repos (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id         TEXT    NOT NULL UNIQUE, -- repo_ + 24 hex
    app_id            INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    mirror_id         INTEGER NOT NULL REFERENCES mirrors(id),
    github_url        TEXT    NOT NULL,
    owner             TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    is_private        INTEGER NOT NULL,
    token             TEXT    NOT NULL DEFAULT '', -- the app's upstream token, sealed
    -- Deliveries are queued up to this commit of the default branch.
    delivered_commit  TEXT    NOT NULL DEFAULT '',
    -- A full scan is wanted (registration, token update).
    scan_requested    INTEGER NOT NULL DEFAULT 1,
    -- The change being queued, in batches: from plan_from ('' = a scan)
    -- to plan_to, files after plan_after already queued.
    plan_to           TEXT    NOT NULL DEFAULT '',
    plan_from         TEXT    NOT NULL DEFAULT '',
    plan_after        TEXT    NOT NULL DEFAULT '',
    plan_scan         INTEGER NOT NULL DEFAULT 0,
    -- Bumped by a rescan, so a batch planned before it is not committed.
    plan_gen          INTEGER NOT NULL DEFAULT 0,
    next_seq          INTEGER NOT NULL DEFAULT 1,
    -- Circuit breaker: consecutive failed attempts; open stops deliveries.
    failures          INTEGER NOT NULL DEFAULT 0,
    breaker_open      INTEGER NOT NULL DEFAULT 0,
    breaker_opened_at DATETIME,
    last_error        TEXT    NOT NULL DEFAULT '',
    last_failure_at   DATETIME,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL,
    UNIQUE (app_id, mirror_id)
);
CREATE INDEX watched_repos_mirror ON watched_repos(mirror_id);
