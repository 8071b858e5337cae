-- Attempt history: one row per attempt that did not complete its event
-- (when it started and ended, which worker held it, the state it left the
-- event in: 'pending' again or 'dead_letter', and why), and one per
-- completion that an operator replay undid ('completed'; its start and
-- worker are not known). The completing attempt of an event needs no row
-- while it stands: the event's completed_at and attempts say when and
-- which it was, and the hot path stays one UPDATE per event.
CREATE TABLE event_attempts (
    event_id    BIGINT  NOT NULL,
    attempt     INTEGER NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT  NOT NULL,
    worker      TEXT,
    outcome     TEXT    NOT NULL,
    error       TEXT,
    PRIMARY KEY (event_id, attempt)
);

-- Recorded by the database, so that every way an attempt can fail (an
-- outcome, an expired lease) leaves its row. A processing event's
-- updated_at is the time it was claimed. SQLite's INSERT OR REPLACE is an
-- upsert here.
CREATE FUNCTION events_attempt_failed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_attempts
        (event_id, attempt, started_at, finished_at, worker, outcome, error)
    VALUES (NEW.id, NEW.attempts, OLD.updated_at, NEW.updated_at, OLD.lease_owner,
            NEW.status, NEW.last_error)
    ON CONFLICT (event_id, attempt) DO UPDATE SET
        started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
        worker = EXCLUDED.worker, outcome = EXCLUDED.outcome, error = EXCLUDED.error;
    RETURN NULL;
END $$;

CREATE TRIGGER events_attempt_failed AFTER UPDATE OF status ON events
FOR EACH ROW
WHEN (OLD.status = 'processing' AND NEW.status IN ('pending', 'dead_letter'))
EXECUTE FUNCTION events_attempt_failed();

-- A replay of a completed event keeps the completion in the history.
CREATE FUNCTION events_completion_replayed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_attempts
        (event_id, attempt, started_at, finished_at, worker, outcome, error)
    VALUES (NEW.id, OLD.attempts, NULL, OLD.completed_at, NULL, 'completed', NULL)
    ON CONFLICT (event_id, attempt) DO UPDATE SET
        started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
        worker = EXCLUDED.worker, outcome = EXCLUDED.outcome, error = EXCLUDED.error;
    RETURN NULL;
END $$;

CREATE TRIGGER events_completion_replayed AFTER UPDATE OF status ON events
FOR EACH ROW
WHEN (OLD.status = 'completed' AND NEW.status = 'pending')
EXECUTE FUNCTION events_completion_replayed();

CREATE FUNCTION events_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_attempts WHERE event_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER events_deleted AFTER DELETE ON events
FOR EACH ROW EXECUTE FUNCTION events_deleted();

-- Purging dead letters by age (partial: webhooks never write to it).
CREATE INDEX events_dead ON events (updated_at) WHERE status = 'dead_letter';
-- Listing one provider's events newest first, page after page, without
-- sorting all of them.
CREATE INDEX events_provider ON events (provider, id);
