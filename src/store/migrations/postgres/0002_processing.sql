-- Processing: what the processor learned from each event, and when it
-- completed (retention purges completed events by that time).
ALTER TABLE events ADD COLUMN repository TEXT;
ALTER TABLE events ADD COLUMN sender TEXT;
ALTER TABLE events ADD COLUMN completed_at BIGINT;

CREATE INDEX events_completed ON events (completed_at) WHERE status = 'completed';
