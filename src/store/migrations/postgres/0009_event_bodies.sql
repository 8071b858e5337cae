-- Each event's headers and body apart from its state, as on SQLite (where
-- every update of an event rewrote its whole row, body included). Here an
-- update copies the tuple too, and a body under about 2 KB is inline in it;
-- apart, the rows that processing updates stay small. Bodies are written
-- once, with their event, and never updated.
CREATE TABLE event_bodies (
    event_id      BIGINT  PRIMARY KEY,  -- events.id
    headers       TEXT    NOT NULL,
    body          BYTEA   NOT NULL,
    -- 'identity', or 'zstd' when the body is stored as a Zstandard frame
    body_encoding TEXT    NOT NULL DEFAULT 'identity'
                  CHECK (body_encoding IN ('identity', 'zstd'))
);

INSERT INTO event_bodies (event_id, headers, body, body_encoding)
    SELECT id, headers, body, body_encoding FROM events;

-- This frees nothing at once: the old values stay until their rows are
-- purged or rewritten.
ALTER TABLE events DROP COLUMN headers, DROP COLUMN body, DROP COLUMN body_encoding;

CREATE FUNCTION event_bodies_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_bodies WHERE event_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER event_bodies_deleted AFTER DELETE ON events
FOR EACH ROW EXECUTE FUNCTION event_bodies_deleted();
