-- The SSH host key of a mirror's upstream, pinned on the first
-- successful sync over SSH (authorized_keys form; '' = none yet, or an
-- HTTP upstream): a later sync that meets another key is refused. For an
-- SSH upstream, mirrors.token holds the sealed private key scheduled
-- syncs authenticate with.
ALTER TABLE mirrors ADD COLUMN host_key TEXT NOT NULL DEFAULT '';
