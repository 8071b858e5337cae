-- Each event's headers and body apart from its state. Processing updates
-- an event's row two or three times (claimed, completed, retried), and
-- SQLite rewrites a whole row on every update: with a 2-4 KB body in it,
-- each update wrote a page per event to the WAL and again at checkpoint.
-- Bodies are written once and never updated; the events rows that change
-- are small, so one page holds many of them.
CREATE TABLE event_bodies (
    event_id      INTEGER PRIMARY KEY,  -- events.id
    headers       TEXT    NOT NULL,
    body          BLOB    NOT NULL,
    -- 'identity', or 'zstd' when the body is stored as a Zstandard frame
    body_encoding TEXT    NOT NULL DEFAULT 'identity'
                  CHECK (body_encoding IN ('identity', 'zstd'))
);

INSERT INTO event_bodies (event_id, headers, body, body_encoding)
    SELECT id, headers, body, body_encoding FROM events;

-- Each DROP COLUMN rewrites the table: the body first, so that the two
-- later rewrites move small rows.
ALTER TABLE events DROP COLUMN body;
ALTER TABLE events DROP COLUMN headers;
ALTER TABLE events DROP COLUMN body_encoding;

CREATE TRIGGER event_bodies_deleted AFTER DELETE ON events
BEGIN
    DELETE FROM event_bodies WHERE event_id = old.id;
END;
