-- Full-text search over issues and pull requests: one document per issue
-- (title, body and all its comments joined), so a query whose words are
-- spread over the title and a comment still finds it. Triggers keep it in
-- step with every write; porter stemming lets "failing" find "fails".
CREATE VIRTUAL TABLE issue_search USING fts5(
    title, body, comments,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

INSERT INTO issue_search(rowid, title, body, comments)
SELECT i.id, i.title, coalesce(i.body, ''),
       coalesce((SELECT group_concat(c.body, char(10)) FROM comments c WHERE c.issue_id = i.id), '')
FROM issues i;

CREATE TRIGGER issue_search_insert AFTER INSERT ON issues BEGIN
    INSERT INTO issue_search(rowid, title, body, comments) VALUES (NEW.id, NEW.title, coalesce(NEW.body, ''), '');
END;

CREATE TRIGGER issue_search_update AFTER UPDATE OF title, body ON issues BEGIN
    UPDATE issue_search SET title = NEW.title, body = coalesce(NEW.body, '') WHERE rowid = NEW.id;
END;

CREATE TRIGGER issue_search_delete AFTER DELETE ON issues BEGIN
    DELETE FROM issue_search WHERE rowid = OLD.id;
END;

CREATE TRIGGER issue_search_comment_insert AFTER INSERT ON comments BEGIN
    UPDATE issue_search
    SET comments = coalesce((SELECT group_concat(c.body, char(10)) FROM comments c WHERE c.issue_id = NEW.issue_id), '')
    WHERE rowid = NEW.issue_id;
END;

CREATE TRIGGER issue_search_comment_update AFTER UPDATE OF body ON comments BEGIN
    UPDATE issue_search
    SET comments = coalesce((SELECT group_concat(c.body, char(10)) FROM comments c WHERE c.issue_id = NEW.issue_id), '')
    WHERE rowid = NEW.issue_id;
END;

CREATE TRIGGER issue_search_comment_delete AFTER DELETE ON comments BEGIN
    UPDATE issue_search
    SET comments = coalesce((SELECT group_concat(c.body, char(10)) FROM comments c WHERE c.issue_id = OLD.issue_id), '')
    WHERE rowid = OLD.issue_id;
END;
