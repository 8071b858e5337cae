-- Dispatch: the work routed events ask for. A flow is every task that
-- belongs to one external thing (an issue, a ticket, a Slack thread); a
-- conversation is the agent context tasks share inside a flow; a task is
-- one agent run (with retries); a claim keeps a project on the worker that
-- last ran it. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE flows (
    id                      TEXT    PRIMARY KEY,  -- flow- + 12 hex of SHA-256(external_id)
    external_id             TEXT    NOT NULL UNIQUE,
    conversation_id         TEXT    NOT NULL,     -- the current one: new tasks join it
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE conversations (
    id         TEXT    PRIMARY KEY,               -- conv- + 16 random hex
    flow_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- Metrics, kept as tasks are created and end.
    tasks      INTEGER NOT NULL DEFAULT 0,
    succeeded  INTEGER NOT NULL DEFAULT 0,
    failed     INTEGER NOT NULL DEFAULT 0,        -- failed, timed out, dead letter
    cancelled  INTEGER NOT NULL DEFAULT 0,
    run_ms     INTEGER NOT NULL DEFAULT 0         -- every attempt's run time
) WITHOUT ROWID;

CREATE INDEX conversations_flow ON conversations (flow_id, created_at);

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    -- What made it, unique: "event:<id>:<route>:<command>" for routed
    -- events, "child:<parent>:<key>" or "api:<random>" for the API. A
    -- second creation with the same key finds the first task.
    origin           TEXT    NOT NULL UNIQUE,
    event_id         INTEGER,                     -- the event (kept when it is purged)
    parent_id        INTEGER,
    flow_id          TEXT    NOT NULL,
    conversation_id  TEXT    NOT NULL,
    route            TEXT,
    command          TEXT,
    agent            TEXT    NOT NULL,
    pool             TEXT    NOT NULL DEFAULT 'main' CHECK (pool IN ('main', 'ci')),
    project          TEXT,                        -- the repository or project; NULL: none
    title            TEXT    NOT NULL,
    prompt           TEXT    NOT NULL,
    metadata         TEXT    NOT NULL DEFAULT '{}', -- JSON: reply_to, external_id, test, ...
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed',
                                       'timed_out', 'cancelled', 'dead_letter')),
    priority         INTEGER NOT NULL DEFAULT 100,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 1,
    retry_base       INTEGER NOT NULL DEFAULT 0,  -- attempts before the last operator retry
    next_attempt_at  INTEGER NOT NULL,
    worker           TEXT,                        -- the last worker that ran it
    lease_owner      TEXT,                        -- the node running it
    lease_expires_at INTEGER,
    host             TEXT,                        -- where its process runs, for recovery
    pid              INTEGER,                     -- its process group
    pid_start        INTEGER,                     -- the leader's start time (/proc), against pid reuse
    token_hash       BLOB,                        -- SHA-256 of HOOKQ_TASK_TOKEN while running
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    exit_code        INTEGER,
    error            TEXT,
    output           TEXT,                        -- the tail of the last attempt's output
    output_bytes     INTEGER,                     -- all it wrote
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    -- Bumped by the triggers below on every change a reader follows
    -- (status, attempt, worker, end): one writer commits them in this
    -- order, so a cursor on it never skips a change committed late.
    change_seq       INTEGER NOT NULL DEFAULT 0
);

-- The dispatcher's query: queued tasks that are due, by priority.
CREATE INDEX tasks_queue ON tasks (priority, id) WHERE status = 'queued';
-- Expired leases of running tasks; running tasks per project.
CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_running_project ON tasks (project) WHERE status = 'running';
-- A running task's token, for the follow-up tasks it creates.
CREATE INDEX tasks_token ON tasks (token_hash) WHERE status = 'running';
CREATE INDEX tasks_flow ON tasks (flow_id, id);
CREATE INDEX tasks_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_event ON tasks (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX tasks_status ON tasks (status, id);
-- Changes in commit order, for the task-file sync.
CREATE INDEX tasks_changes ON tasks (change_seq);

-- The change counter: one row, bumped by every followed change. A counter
-- of its own (not max(change_seq) + 1) never hands out a number twice, also
-- once tasks are deleted.
CREATE TABLE task_changes (seq INTEGER NOT NULL);
INSERT INTO task_changes (seq) VALUES (0);

CREATE TRIGGER tasks_created AFTER INSERT ON tasks
BEGIN
    UPDATE task_changes SET seq = seq + 1;
    UPDATE tasks SET change_seq = (SELECT seq FROM task_changes) WHERE id = new.id;
END;

CREATE TRIGGER tasks_changed
AFTER UPDATE OF status, attempts, worker, exit_code, cancel_requested ON tasks
BEGIN
    UPDATE task_changes SET seq = seq + 1;
    UPDATE tasks SET change_seq = (SELECT seq FROM task_changes) WHERE id = new.id;
END;

-- One row per attempt that ended (the running one is the task itself).
CREATE TABLE task_attempts (
    task_id     INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    worker      TEXT,
    started_at  INTEGER,
    finished_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    exit_code   INTEGER,
    error       TEXT,
    PRIMARY KEY (task_id, attempt)
) WITHOUT ROWID;

CREATE TRIGGER tasks_deleted AFTER DELETE ON tasks
BEGIN
    DELETE FROM task_attempts WHERE task_id = old.id;
END;

-- A project's tasks go to the worker that last ran one while its claim
-- lives (a warm checkout and agent context), any worker after.
CREATE TABLE claims (
    project       TEXT    PRIMARY KEY,
    worker        TEXT    NOT NULL,
    node          TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    tasks         INTEGER NOT NULL DEFAULT 0      -- tasks started under this claim
) WITHOUT ROWID;

CREATE INDEX claims_worker ON claims (worker, expires_at);
