-- Issues' labels, assignees and comments; vouches; local reputation.
CREATE TABLE issue_labels (
    issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
    PRIMARY KEY (issue_id, label_id)
);
CREATE INDEX issue_labels_label ON issue_labels(label_id);

CREATE TABLE issue_assignees (
    issue_id   INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (issue_id, user_id)
);
CREATE INDEX issue_assignees_user ON issue_assignees(user_id);

-- Conversation comments on issues and pull requests (one id space, so
-- /repos/:o/:r/comments/:id needs no parent).
CREATE TABLE comments (
    id         INTEGER PRIMARY KEY,
    repo_id    INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    issue_id   INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    author_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    body       TEXT    NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE INDEX comments_issue ON comments(issue_id, created_at);

CREATE TABLE vouches (
    id               INTEGER PRIMARY KEY,
    voucher_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_type      TEXT    NOT NULL CHECK (target_type IN ('User', 'Organization', 'Repository')),
    target_user_id   INTEGER REFERENCES users(id) ON DELETE CASCADE,
    target_repo_id   INTEGER REFERENCES repos(id) ON DELETE CASCADE,
    target_name      TEXT    NOT NULL,
    reputation_added INTEGER NOT NULL,
    created_at       DATETIME NOT NULL
);
CREATE INDEX vouches_target_user ON vouches(target_user_id);
CREATE INDEX vouches_target_repo ON vouches(target_repo_id);

-- Balances are granted by site admins (there is no payment); each grant is
-- kept for the record.
CREATE TABLE vouch_grants (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    count      INTEGER NOT NULL,
    granted_by TEXT    NOT NULL,
    created_at DATETIME NOT NULL
);

-- Local reputation: endorsements within a repository or an organization.
CREATE TABLE endorsements (
    id         INTEGER PRIMARY KEY,
    scope      TEXT    NOT NULL CHECK (scope IN ('repo', 'org')),
    scope_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    grantor_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    score      REAL    NOT NULL CHECK (score > 0),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    UNIQUE (scope, scope_id, user_id, grantor_id)
);
CREATE INDEX endorsements_scope ON endorsements(scope, scope_id, user_id);

-- Endorsements hang off a repository or an org by (scope, scope_id), which
-- a foreign key cannot express; these triggers do the cascade.
CREATE TRIGGER repos_delete_endorsements AFTER DELETE ON repos BEGIN
    DELETE FROM endorsements WHERE scope = 'repo' AND scope_id = OLD.id;
END;
CREATE TRIGGER users_delete_endorsements AFTER DELETE ON users BEGIN
    DELETE FROM endorsements WHERE scope = 'org' AND scope_id = OLD.id;
END;
