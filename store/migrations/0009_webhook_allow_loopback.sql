-- A site administrator may let one hook reach loopback and link-local
-- addresses, which the server refuses by default.
ALTER TABLE webhooks ADD COLUMN allow_loopback INTEGER NOT NULL DEFAULT 0;
