-- The outbox: everything hookq says back (reactions, comments, Slack and
-- Jira replies), written in the transaction of the change that causes it
-- and sent by engine/outbox with retries, so a crash, a rate limit or an
-- outage delays a reply but never loses or doubles it.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    -- What made it, unique: "<task origin>:eyes", "task:<id>:<run>:comment"
    -- (a second write of the same reply finds the first).
    origin           TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL
                     CHECK (kind IN ('reaction', 'comment', 'slack_reply', 'jira_comment',
                                     'output_message')),
    task_id          INTEGER,
    target           TEXT    NOT NULL,             -- JSON: where it goes
    body             TEXT    NOT NULL,             -- JSON: what it says
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 10,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    -- An attempt may have reached the receiver without its answer coming
    -- back (a timeout, a crash while sending): before a non-idempotent
    -- send is repeated, the sender looks whether it happened.
    uncertain        INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    result           TEXT,                         -- what the receiver made (a comment id)
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    sent_at          INTEGER
);

CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_leases ON outbox (lease_expires_at) WHERE status = 'sending';
CREATE INDEX outbox_status ON outbox (status, id);
CREATE INDEX outbox_task ON outbox (task_id) WHERE task_id IS NOT NULL;
