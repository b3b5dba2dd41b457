-- Failed sign-ins (API login and dashboard alike), by throttle key: an
-- account, a client address, or the pair. Kept in the database so a
-- restart does not reset the throttle; rows older than the window are
-- pruned as they are read.
CREATE TABLE login_failures (
    key TEXT     NOT NULL,
    at  DATETIME NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures(key, at);

-- Addresses an account has signed in from: the right password from one
-- of them is not held up by failures elsewhere.
CREATE TABLE login_known_addresses (
    user_id   INTEGER  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    addr      TEXT     NOT NULL,
    last_seen DATETIME NOT NULL,
    PRIMARY KEY (user_id, addr)
);
