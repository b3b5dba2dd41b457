-- A merge's ref update is journaled with the pull request it merges, so
-- that a crash between the base moving and the pull request being marked
-- merged is finished at the next start (the merge intent).
ALTER TABLE ref_journal ADD COLUMN pull_id INTEGER;
