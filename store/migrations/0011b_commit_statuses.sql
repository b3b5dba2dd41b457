-- Commit statuses posted by checks (CI, agents), as GitHub's: every post is
-- a new row; the newest per context is the current one.
CREATE TABLE commit_statuses (
    id          INTEGER PRIMARY KEY,
    repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    sha         TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'success', 'failure', 'error')),
    context     TEXT    NOT NULL,
    description TEXT,
    target_url  TEXT,
    creator_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  DATETIME NOT NULL
);
CREATE INDEX commit_statuses_sha ON commit_statuses(repo_id, sha, context, id);

-- What a protected branch requires beyond refusing force-pushes and
-- deletion: status contexts that must have succeeded on the commit, and
-- approving reviews before a pull request into it may merge.
ALTER TABLE protected_branches ADD COLUMN required_contexts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE protected_branches ADD COLUMN required_approvals INTEGER NOT NULL DEFAULT 0;
