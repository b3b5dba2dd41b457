-- Admin dashboard, scheduled jobs, operations API polls and the audit log.

-- Dashboard sessions, in the exact shape alexedwards/scs/sqlite3store
-- reads and writes (expiry is a Julian day number).
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    expiry REAL NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions(expiry);

-- State of the scheduled jobs. The schedules themselves are code; a row
-- keeps what must survive a restart: the enable switch, the last run and
-- when the next one is due. A job is named within its stack (the
-- subsystem it works on), as the operations API addresses it.
CREATE TABLE jobs (
    stack            TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    enabled          INTEGER NOT NULL DEFAULT 1,
    last_started_at  DATETIME,
    last_finished_at DATETIME,
    last_status      TEXT    NOT NULL DEFAULT '' CHECK (last_status IN ('', 'running', 'success', 'failed', 'interrupted')),
    last_duration_ms INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    last_message     TEXT    NOT NULL DEFAULT '',
    next_run_at      DATETIME,
    run_count        INTEGER NOT NULL DEFAULT 0,
    failure_count    INTEGER NOT NULL DEFAULT 0,
    updated_at       DATETIME NOT NULL,
    PRIMARY KEY (stack, name)
);

-- Repositories polled through POST /v1/api/poll/run: the commit seen last,
-- so a poll can say whether the reference moved. url never holds
-- credentials.
CREATE TABLE poll_targets (
    id          INTEGER PRIMARY KEY,
    url         TEXT    NOT NULL,
    reference   TEXT    NOT NULL,
    commit_sha  TEXT    NOT NULL DEFAULT '',
    polled_at   DATETIME,
    changed_at  DATETIME,
    last_error  TEXT    NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    UNIQUE (url, reference)
);

-- What site administrators did in the dashboard, for the overview's recent
-- activity and for the record.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX audit_log_created ON audit_log(created_at);
