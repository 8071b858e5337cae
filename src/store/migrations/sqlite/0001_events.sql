-- Events: every webhook accepted, exactly once per (provider, route, delivery id).
-- Times are milliseconds since the Unix epoch (UTC).
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    provider         TEXT    NOT NULL,
    route            TEXT    NOT NULL,
    delivery_id      TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    action           TEXT,
    headers          TEXT    NOT NULL,
    body             BLOB    NOT NULL,
    -- 'identity', or 'zstd' when the body is stored as a Zstandard frame
    body_encoding    TEXT    NOT NULL DEFAULT 'identity'
                     CHECK (body_encoding IN ('identity', 'zstd')),
    received_at      INTEGER NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'completed', 'dead_letter')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 5,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    duplicates       INTEGER NOT NULL DEFAULT 0,
    updated_at       INTEGER NOT NULL,
    UNIQUE (provider, route, delivery_id)
);

-- The processor's claim query: due pending events in order.
CREATE INDEX events_due ON events (next_attempt_at, id) WHERE status = 'pending';
-- Expired leases of events being processed.
CREATE INDEX events_leases ON events (lease_expires_at) WHERE status = 'processing';
-- Listing by status for operators.
CREATE INDEX events_status ON events (status, id);
