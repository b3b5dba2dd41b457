-- Accounts, namespaces, tokens, keys, repositories and the permission tables.
-- Users and organizations share one table (type) so that they share ids,
-- profiles and one namespace.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    type          TEXT    NOT NULL DEFAULT 'user' CHECK (type IN ('user', 'org')),
    username      TEXT    NOT NULL,
    kind          TEXT    NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'bot', 'organization')),
    email         TEXT,
    lower_email   TEXT    UNIQUE,
    password_hash TEXT,
    display_name  TEXT,
    bio           TEXT,
    url           TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    vouch_balance INTEGER NOT NULL DEFAULT 0,
    vouch_count   INTEGER NOT NULL DEFAULT 0,
    reputation    INTEGER NOT NULL DEFAULT 0,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);

-- One row per name in the shared namespace: canonical names and aliases.
-- The primary key is what makes a collision impossible.
CREATE TABLE names (
    lower_name TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    is_alias   INTEGER NOT NULL DEFAULT 0,
    alias      TEXT
);
CREATE UNIQUE INDEX names_one_alias ON names(user_id) WHERE is_alias = 1;
CREATE UNIQUE INDEX names_one_canonical ON names(user_id) WHERE is_alias = 0;

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    token_hint   TEXT    NOT NULL,
    scopes       TEXT    NOT NULL DEFAULT '',
    last_used_at DATETIME,
    created_at   DATETIME NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE ssh_keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title       TEXT    NOT NULL,
    key_type    TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL UNIQUE,
    created_at  DATETIME NOT NULL
);
CREATE INDEX ssh_keys_user ON ssh_keys(user_id);

CREATE TABLE org_members (
    org_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at DATETIME NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);

-- AUTOINCREMENT: a repository's directory is named by its id, so an id
-- must never be handed out twice, even after the newest repo is deleted.
CREATE TABLE repos (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    lower_name     TEXT    NOT NULL,
    description    TEXT,
    private        INTEGER NOT NULL DEFAULT 0,
    default_branch TEXT    NOT NULL DEFAULT 'master',
    vouch_count    INTEGER NOT NULL DEFAULT 0,
    reputation     INTEGER NOT NULL DEFAULT 0,
    size_bytes     INTEGER NOT NULL DEFAULT 0,
    pushed_at      DATETIME,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    UNIQUE (owner_id, lower_name)
);

CREATE TABLE collaborators (
    repo_id    INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT    NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
    created_at DATETIME NOT NULL,
    PRIMARY KEY (repo_id, user_id)
);
CREATE INDEX collaborators_user ON collaborators(user_id);

CREATE TABLE protected_branches (
    repo_id    INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (repo_id, name)
);

-- Issues and pull requests share this table and so one number sequence per
-- repository; pull-request specifics live in their own table.
CREATE TABLE issues (
    id             INTEGER PRIMARY KEY,
    repo_id        INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    number         INTEGER NOT NULL,
    is_pull        INTEGER NOT NULL DEFAULT 0,
    title          TEXT    NOT NULL,
    body           TEXT,
    state          TEXT    NOT NULL DEFAULT 'open',
    author_id      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    comments_count INTEGER NOT NULL DEFAULT 0,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    closed_at      DATETIME,
    UNIQUE (repo_id, number)
);
CREATE INDEX issues_repo_state ON issues(repo_id, is_pull, state);

-- Runtime settings changed from the dashboard, applied without restart.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at DATETIME NOT NULL
);

-- Labels exist from the first migration because every new repository
-- starts with two of them (SPEC §4).
CREATE TABLE labels (
    id          INTEGER PRIMARY KEY,
    repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    lower_name  TEXT    NOT NULL,
    color       TEXT    NOT NULL,
    description TEXT,
    created_at  DATETIME NOT NULL,
    UNIQUE (repo_id, lower_name)
);
