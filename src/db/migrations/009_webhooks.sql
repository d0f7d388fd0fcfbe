-- Outgoing webhooks (Standard Webhooks). Each endpoint has its own signing secret; every
-- event is written to `webhook_deliveries` inside the transaction of the change it reports
-- (an outbox), so a crash between the change and the delivery loses nothing, and the
-- delivery loop retries from here after a restart.
CREATE TABLE webhook_endpoints (
    id                   INTEGER PRIMARY KEY,
    url                  TEXT NOT NULL,
    description          TEXT NOT NULL DEFAULT '',
    secret               TEXT NOT NULL,
    -- '*' or a comma-separated list of event types.
    events               TEXT NOT NULL DEFAULT '*',
    enabled              INTEGER NOT NULL DEFAULT 1,
    disabled_reason      TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The Standard Webhooks message id (`msg_…`): the same on every retry, so receivers
    -- can drop a repeat.
    message_id      TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
