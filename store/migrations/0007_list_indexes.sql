-- Lists that stay fast at 100,000 rows (issue 16): every list the API and
-- the dashboard serve reads its page from an index whose leading columns
-- are its filter and whose next columns are its sort, so SQLite walks the
-- index in order and stops after the page instead of sorting every match.
-- The rowid (the id) is the last column of every index, which breaks ties
-- stably. listplan_test.go checks each list's plan.

-- Issues and pull requests: repository and kind, then the state filter
-- (open, closed, merged) or none (state=all), then the sort column, then
-- number (the API's tie-break). The state=all indexes carry state last so
-- that a filter on several states is still answered from the index alone.
DROP INDEX issues_repo_state;
CREATE INDEX issues_state_created  ON issues(repo_id, is_pull, state, created_at, number);
CREATE INDEX issues_state_updated  ON issues(repo_id, is_pull, state, updated_at, number);
CREATE INDEX issues_state_comments ON issues(repo_id, is_pull, state, comments_count, number);
CREATE INDEX issues_all_created    ON issues(repo_id, is_pull, created_at, number, state);
CREATE INDEX issues_all_updated    ON issues(repo_id, is_pull, updated_at, number, state);
CREATE INDEX issues_all_comments   ON issues(repo_id, is_pull, comments_count, number, state);

-- How many issues and pull requests a repository has in each state, kept
-- by triggers in the same transaction as every write to issues, so that
-- X-Total-Count and a repository's open_issues_count are one lookup
-- instead of a count of every matching row.
CREATE TABLE issue_counts (
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    is_pull INTEGER NOT NULL,
    state   TEXT    NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (repo_id, is_pull, state)
) WITHOUT ROWID;
INSERT INTO issue_counts(repo_id, is_pull, state, n)
    SELECT repo_id, is_pull, state, COUNT(*) FROM issues GROUP BY repo_id, is_pull, state;

CREATE TRIGGER issues_count_insert AFTER INSERT ON issues BEGIN
    INSERT INTO issue_counts(repo_id, is_pull, state, n) VALUES (NEW.repo_id, NEW.is_pull, NEW.state, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER issues_count_delete AFTER DELETE ON issues BEGIN
    UPDATE issue_counts SET n = n - 1
        WHERE repo_id = OLD.repo_id AND is_pull = OLD.is_pull AND state = OLD.state;
END;
CREATE TRIGGER issues_count_update AFTER UPDATE OF repo_id, is_pull, state ON issues
WHEN OLD.repo_id IS NOT NEW.repo_id OR OLD.is_pull IS NOT NEW.is_pull OR OLD.state IS NOT NEW.state BEGIN
    UPDATE issue_counts SET n = n - 1
        WHERE repo_id = OLD.repo_id AND is_pull = OLD.is_pull AND state = OLD.state;
    INSERT INTO issue_counts(repo_id, is_pull, state, n) VALUES (NEW.repo_id, NEW.is_pull, NEW.state, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Conversation comments sorted by update time (created_at has
-- comments_issue).
CREATE INDEX comments_issue_updated ON comments(issue_id, updated_at);

-- Repositories. The API lists one owner's, all or by visibility, by
-- created, updated or name ((owner_id, lower_name) is the UNIQUE key);
-- the dashboard lists everyone's by pushed, created, size or name, and an
-- account's page shows its latest pushed.
CREATE INDEX repos_owner_created         ON repos(owner_id, created_at);
CREATE INDEX repos_owner_updated         ON repos(owner_id, updated_at);
CREATE INDEX repos_owner_pushed          ON repos(owner_id, COALESCE(pushed_at, created_at));
CREATE INDEX repos_owner_private_created ON repos(owner_id, private, created_at);
CREATE INDEX repos_owner_private_updated ON repos(owner_id, private, updated_at);
CREATE INDEX repos_owner_private_name    ON repos(owner_id, private, lower_name);
CREATE INDEX repos_created               ON repos(created_at);
CREATE INDEX repos_pushed                ON repos(COALESCE(pushed_at, created_at));
CREATE INDEX repos_size                  ON repos(size_bytes);
CREATE INDEX repos_name                  ON repos(lower_name);
CREATE INDEX repos_private_created       ON repos(private, created_at);
CREATE INDEX repos_private_pushed        ON repos(private, COALESCE(pushed_at, created_at));
CREATE INDEX repos_private_size          ON repos(private, size_bytes);
CREATE INDEX repos_private_name          ON repos(private, lower_name);

-- Organization members are listed owners first, then admins, then
-- members, each by name. The name lives in users, so a copy kept by
-- triggers (sort_name) lets one index hold the whole order.
ALTER TABLE org_members ADD COLUMN sort_name TEXT NOT NULL DEFAULT '';
UPDATE org_members SET sort_name = (SELECT lower(u.username) FROM users u WHERE u.id = org_members.user_id);
CREATE INDEX org_members_list ON org_members(org_id,
    (CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END), sort_name, user_id);
CREATE INDEX org_members_role ON org_members(org_id, role, sort_name, user_id);
CREATE TRIGGER org_members_sort_name AFTER INSERT ON org_members BEGIN
    UPDATE org_members SET sort_name = (SELECT lower(u.username) FROM users u WHERE u.id = NEW.user_id)
        WHERE org_id = NEW.org_id AND user_id = NEW.user_id;
END;
CREATE TRIGGER users_rename_org_members AFTER UPDATE OF username ON users
WHEN OLD.username IS NOT NEW.username BEGIN
    UPDATE org_members SET sort_name = lower(NEW.username) WHERE user_id = NEW.id;
END;

-- Accounts in the dashboard (users, organizations), by name.
CREATE INDEX users_type_name ON users(type, lower(username));

-- A hook's deliveries, newest first, by status, by event or by both.
CREATE INDEX webhook_deliveries_hook_status       ON webhook_deliveries(webhook_id, status, id);
CREATE INDEX webhook_deliveries_hook_event        ON webhook_deliveries(webhook_id, event, id);
CREATE INDEX webhook_deliveries_hook_status_event ON webhook_deliveries(webhook_id, status, event, id);
