-- Pull requests, reviews and review requests. A pull request is an issues
-- row with is_pull = 1 (title, body, state, labels, assignees, comments and
-- the shared number) plus one pulls row for its git side.
CREATE TABLE pulls (
    issue_id         INTEGER PRIMARY KEY REFERENCES issues(id) ON DELETE CASCADE,
    repo_id          INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    head_ref         TEXT    NOT NULL,
    base_ref         TEXT    NOT NULL,
    -- The branch tips the statistics and mergeable below were computed
    -- for; a reader that finds the branches elsewhere recomputes. Frozen
    -- once the pull request is merged or closed.
    head_sha         TEXT    NOT NULL,
    base_sha         TEXT    NOT NULL,
    draft            INTEGER NOT NULL DEFAULT 0,
    mergeable        INTEGER NOT NULL DEFAULT 0,
    commits_count    INTEGER NOT NULL DEFAULT 0,
    additions        INTEGER NOT NULL DEFAULT 0,
    deletions        INTEGER NOT NULL DEFAULT 0,
    changed_files    INTEGER NOT NULL DEFAULT 0,
    merged_at        DATETIME,
    merged_by_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    merge_commit_sha TEXT
);
CREATE INDEX pulls_repo_head ON pulls(repo_id, head_ref);
CREATE INDEX pulls_repo_base ON pulls(repo_id, base_ref);

CREATE TABLE reviews (
    id           INTEGER PRIMARY KEY,
    repo_id      INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    pull_id      INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    author_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    state        TEXT    NOT NULL CHECK (state IN ('approved', 'changes_requested', 'commented')),
    body         TEXT,
    commit_sha   TEXT    NOT NULL,
    submitted_at DATETIME NOT NULL
);
CREATE INDEX reviews_pull ON reviews(pull_id, id);

-- Inline comments belong to the review that submitted them.
CREATE TABLE review_comments (
    id         INTEGER PRIMARY KEY,
    review_id  INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
    pull_id    INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    author_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    path       TEXT    NOT NULL,
    line       INTEGER NOT NULL CHECK (line >= 1),
    body       TEXT    NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX review_comments_review ON review_comments(review_id, id);
CREATE INDEX review_comments_pull ON review_comments(pull_id);

CREATE TABLE review_requests (
    pull_id    INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (pull_id, user_id)
);
CREATE INDEX review_requests_user ON review_requests(user_id);
