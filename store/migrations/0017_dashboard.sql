-- What the admin dashboard's detail pages need (issue 15).

-- A per-account repository limit; NULL follows --max-repos.
ALTER TABLE users ADD COLUMN max_repos INTEGER;
-- The last password sign-in (API login or dashboard), for the users page.
ALTER TABLE users ADD COLUMN last_sign_in_at DATETIME;
-- The users page sorts by name (users_type_name), newest first and by
-- last sign-in.
CREATE INDEX users_type_created ON users(type, created_at);
CREATE INDEX users_type_signin ON users(type, last_sign_in_at);

-- What a dashboard action was done to (user, org, repo, delivery, hook,
-- job, settings; '' when it is gone or was never recorded), so recent
-- activity can link it.
ALTER TABLE audit_log ADD COLUMN target_kind TEXT NOT NULL DEFAULT '';

-- A repository's deliveries, newest first (the deliveries page's
-- repository filter), and the redeliveries of a delivery ("Redeliver all
-- failed" skips a failure that was already sent again).
CREATE INDEX webhook_deliveries_repo ON webhook_deliveries(repo_id, id);
CREATE INDEX webhook_deliveries_redelivery ON webhook_deliveries(redelivery_of)
    WHERE redelivery_of IS NOT NULL;
