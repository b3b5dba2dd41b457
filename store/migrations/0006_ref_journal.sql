-- Ref updates about to be made. A row is written before a ref moves and
-- removed once everything that follows a push (events, pull request sync)
-- is recorded; rows found at start-up belong to a push the process did not
-- finish, and are replayed if the ref did move.
CREATE TABLE ref_journal (
    id         INTEGER PRIMARY KEY,
    repo_id    INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    pusher_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    ref        TEXT    NOT NULL,
    old_sha    TEXT    NOT NULL,
    new_sha    TEXT    NOT NULL,
    created_at DATETIME NOT NULL
);
