-- Dynamic routes, managed at run time over the admin API: a webhook is an
-- endpoint (POST /webhooks/{provider}/{id}) with its own secret; its
-- commands say what an event does (trigger, conditions, priority, action).
CREATE TABLE webhooks (
    id         TEXT    PRIMARY KEY,
    provider   TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    secret     TEXT,                       -- write-only over the API
    enabled    BOOLEAN NOT NULL DEFAULT true,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE webhook_commands (
    id         TEXT    PRIMARY KEY,
    webhook_id TEXT    NOT NULL,
    trigger    TEXT    NOT NULL,
    action     TEXT    NOT NULL CHECK (action IN ('create_task', 'comment', 'ignore')),
    agent      TEXT,
    template   TEXT,
    conditions TEXT,                       -- JSON, validated before it is stored
    priority   BIGINT  NOT NULL DEFAULT 100,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE INDEX webhook_commands_by_webhook ON webhook_commands (webhook_id, priority, created_at);

CREATE FUNCTION webhooks_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_commands WHERE webhook_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER webhooks_deleted AFTER DELETE ON webhooks
FOR EACH ROW EXECUTE FUNCTION webhooks_deleted();
