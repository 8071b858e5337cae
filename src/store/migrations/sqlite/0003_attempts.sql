-- Attempt history: one row per attempt that did not complete its event
-- (when it started and ended, which worker held it, the state it left the
-- event in: 'pending' again or 'dead_letter', and why), and one per
-- completion that an operator replay undid ('completed'; its start and
-- worker are not known). The completing attempt of an event needs no row
-- while it stands: the event's completed_at and attempts say when and
-- which it was, and the hot path stays one UPDATE per event.
CREATE TABLE event_attempts (
    event_id    INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER NOT NULL,
    worker      TEXT,
    outcome     TEXT    NOT NULL,
    error       TEXT,
    PRIMARY KEY (event_id, attempt)
) WITHOUT ROWID;

-- Recorded by the database, so that every way an attempt can fail (an
-- outcome, an expired lease) leaves its row. A processing event's
-- updated_at is the time it was claimed.
CREATE TRIGGER events_attempt_failed AFTER UPDATE OF status ON events
WHEN old.status = 'processing' AND new.status IN ('pending', 'dead_letter')
BEGIN
    INSERT OR REPLACE INTO event_attempts
        (event_id, attempt, started_at, finished_at, worker, outcome, error)
    VALUES (new.id, new.attempts, old.updated_at, new.updated_at, old.lease_owner,
            new.status, new.last_error);
END;

-- A replay of a completed event keeps the completion in the history.
CREATE TRIGGER events_completion_replayed AFTER UPDATE OF status ON events
WHEN old.status = 'completed' AND new.status = 'pending'
BEGIN
    INSERT OR REPLACE INTO event_attempts
        (event_id, attempt, started_at, finished_at, worker, outcome, error)
    VALUES (new.id, old.attempts, NULL, old.completed_at, NULL, 'completed', NULL);
END;

CREATE TRIGGER events_deleted AFTER DELETE ON events
BEGIN
    DELETE FROM event_attempts WHERE event_id = old.id;
END;

-- Purging dead letters by age (partial: webhooks never write to it).
CREATE INDEX events_dead ON events (updated_at) WHERE status = 'dead_letter';
-- Listing one provider's events newest first, page after page, without
-- sorting all of them.
CREATE INDEX events_provider ON events (provider, id);
