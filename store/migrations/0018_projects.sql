-- Projects (the oCore dialect): a deployable thing in a namespace (a user
-- or an organization) that connects one git repository and maps its
-- branches to deploy targets (instances). Public ids are UUIDs: the
-- dialect shows them and takes them in URLs.
CREATE TABLE projects (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id            TEXT    NOT NULL UNIQUE,
    owner_id             INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name                 TEXT    NOT NULL,
    slug                 TEXT    NOT NULL,
    description          TEXT    NOT NULL DEFAULT '',
    archived             INTEGER NOT NULL DEFAULT 0,
    test_suite_enabled   INTEGER NOT NULL DEFAULT 0,
    test_gate_staging    TEXT    NOT NULL DEFAULT 'none',
    test_gate_production TEXT    NOT NULL DEFAULT 'none',
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL,
    UNIQUE (owner_id, slug)
);

-- A project's connected repository: a Tapioca repository followed by id
-- (repo_id; no foreign key, so a deleted repository is reported by sync
-- rather than silently disconnected), or an upstream URL followed by a
-- mirror of the mirror engine. Secrets are sealed with the data
-- directory's key. tips is the upstream's branch tips as last notified
-- (JSON {"branch": "sha"}), so a sync that moves a branch notifies once.
CREATE TABLE project_repos (
    project_id             INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    public_id              TEXT    NOT NULL UNIQUE,
    provider               TEXT    NOT NULL,
    repo_id                INTEGER,
    mirror_id              INTEGER REFERENCES mirrors(id),
    repo_url               TEXT    NOT NULL,
    repo_owner             TEXT    NOT NULL DEFAULT '',
    repo_name              TEXT    NOT NULL DEFAULT '',
    default_branch         TEXT    NOT NULL DEFAULT '',
    auth_type              TEXT    NOT NULL DEFAULT 'none' CHECK (auth_type IN ('none', 'token', 'ssh')),
    access_token           TEXT    NOT NULL DEFAULT '',
    deploy_public_key      TEXT    NOT NULL DEFAULT '',
    deploy_private_key     TEXT    NOT NULL DEFAULT '',
    deploy_key_id          INTEGER, -- the Tapioca deploy key made from it, for a Tapioca repository
    webhook_secret         TEXT    NOT NULL DEFAULT '',
    webhook_token          TEXT    NOT NULL DEFAULT '', -- names the inbound URL of an upstream's webhook
    polling_enabled        INTEGER NOT NULL DEFAULT 0,
    sync_status            TEXT    NOT NULL DEFAULT 'pending'
                           CHECK (sync_status IN ('pending', 'syncing', 'synced', 'error')),
    sync_error             TEXT    NOT NULL DEFAULT '',
    sync_status_changed_at DATETIME,
    last_synced_at         DATETIME,
    last_polled_at         DATETIME,
    tips                   TEXT    NOT NULL DEFAULT '{}',
    created_at             DATETIME NOT NULL,
    updated_at             DATETIME NOT NULL
);
CREATE INDEX project_repos_repo ON project_repos(repo_id) WHERE repo_id IS NOT NULL;
CREATE INDEX project_repos_mirror ON project_repos(mirror_id) WHERE mirror_id IS NOT NULL;

-- Deploy targets, owned by a namespace and linked to any of its projects.
CREATE TABLE project_instances (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id  TEXT    NOT NULL UNIQUE,
    owner_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    slug       TEXT    NOT NULL,
    hook_url   TEXT    NOT NULL,
    secret     TEXT    NOT NULL, -- sealed
    created_at DATETIME NOT NULL,
    UNIQUE (owner_id, slug)
);

CREATE TABLE project_instance_links (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    instance_id INTEGER NOT NULL REFERENCES project_instances(id) ON DELETE CASCADE,
    created_at  DATETIME NOT NULL,
    PRIMARY KEY (project_id, instance_id)
);
CREATE INDEX project_instance_links_instance ON project_instance_links(instance_id);

CREATE TABLE branch_mappings (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id      TEXT    NOT NULL UNIQUE,
    project_id     INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    branch_pattern TEXT    NOT NULL,
    instance_id    INTEGER NOT NULL REFERENCES project_instances(id) ON DELETE CASCADE,
    priority       INTEGER NOT NULL DEFAULT 0,
    created_at     DATETIME NOT NULL
);
CREATE INDEX branch_mappings_project ON branch_mappings(project_id, id);

-- The outbox of instance notifications. A row is written when a branch
-- move is recorded; (project, branch, old, new) is unique, so a push
-- replayed after a crash, or two syncs seeing one move, notify once. The
-- body is the exact bytes sent and signed on every attempt.
CREATE TABLE project_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    guid             TEXT    NOT NULL UNIQUE,
    project_id       INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    instance_id      INTEGER NOT NULL REFERENCES project_instances(id) ON DELETE CASCADE,
    branch           TEXT    NOT NULL,
    old_sha          TEXT    NOT NULL,
    new_sha          TEXT    NOT NULL,
    body             BLOB    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER,
    lease_token      TEXT,
    lease_expires_ms INTEGER,
    status_code      INTEGER,
    last_error       TEXT,
    last_attempt_at  DATETIME,
    delivered_at     DATETIME,
    created_at       DATETIME NOT NULL,
    UNIQUE (project_id, branch, old_sha, new_sha)
);
CREATE INDEX project_deliveries_due ON project_deliveries(next_attempt_ms)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX project_deliveries_leased ON project_deliveries(lease_expires_ms)
    WHERE lease_token IS NOT NULL;
