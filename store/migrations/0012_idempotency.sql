-- Answers kept for Idempotency-Key retries: a repeat of a write with the
-- same key (per caller) within 24 hours gets the first answer again. The
-- answer is sealed with the data directory's key: it may hold a token.
-- status is NULL while the first request is still running.
CREATE TABLE idempotency_keys (
    scope       TEXT     NOT NULL,
    key         TEXT     NOT NULL,
    fingerprint TEXT     NOT NULL,
    status      INTEGER,
    response    BLOB,
    created_at  DATETIME NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
