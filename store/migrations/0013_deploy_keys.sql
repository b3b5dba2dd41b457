-- Deploy keys: an SSH key attached to one repository (GitHub's deploy
-- keys), read-only unless created writable. It follows its repository
-- through renames and transfers (keyed by id) and goes with it.
CREATE TABLE deploy_keys (
    id          INTEGER PRIMARY KEY,
    repo_id     INTEGER  NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    title       TEXT     NOT NULL,
    key_type    TEXT     NOT NULL,
    public_key  TEXT     NOT NULL,
    fingerprint TEXT     NOT NULL UNIQUE,
    read_only   INTEGER  NOT NULL DEFAULT 1,
    added_by    INTEGER  REFERENCES users(id) ON DELETE SET NULL,
    created_at  DATETIME NOT NULL
);
CREATE INDEX deploy_keys_repo ON deploy_keys(repo_id);

-- A key is one identity on the SSH server: a user's key or one
-- repository's deploy key, never both. UNIQUE cannot span two tables, so
-- these triggers refuse the second use (SQLITE_CONSTRAINT_TRIGGER).
CREATE TRIGGER deploy_keys_fingerprint_free BEFORE INSERT ON deploy_keys
WHEN EXISTS (SELECT 1 FROM ssh_keys WHERE fingerprint = NEW.fingerprint)
BEGIN
    SELECT RAISE(ABORT, 'ssh key in use');
END;
CREATE TRIGGER ssh_keys_fingerprint_free BEFORE INSERT ON ssh_keys
WHEN EXISTS (SELECT 1 FROM deploy_keys WHERE fingerprint = NEW.fingerprint)
BEGIN
    SELECT RAISE(ABORT, 'ssh key in use');
END;
