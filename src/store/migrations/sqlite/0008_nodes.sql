-- The hookq nodes that share this database, each beating its heart every
-- few seconds. A node whose heartbeat stops for longer than the node
-- timeout is dead: another node ends its leases (events, tasks, replies)
-- and drops its project claims, so its work is taken up at once instead
-- of when each lease runs out (a task's lease can be hours long).
CREATE TABLE nodes (
    id           TEXT    PRIMARY KEY,          -- host:pid:tag, the lease owner
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    -- When it stopped cleanly, or when another node found it dead and
    -- rescued its work (ended_by says which); NULL while it runs.
    ended_at     INTEGER,
    ended_by     TEXT
);

CREATE INDEX nodes_heartbeat ON nodes (heartbeat_at) WHERE ended_at IS NULL;
