-- Quality alerts: when a figure over the last full hour crosses the operator's threshold,
-- an email or a webhook says so, once for that hour.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    -- 'ttff_p95', 'ttff_p50' (ms), 'rebuffering', 'exits_before_start', 'failures' (%).
    metric      TEXT NOT NULL,
    threshold   REAL NOT NULL,
    -- Hours with fewer plays than this say nothing (one slow play is not a trend).
    min_plays   INTEGER NOT NULL DEFAULT 10,
    -- 'email' (target: an address) or 'webhook' (target: an http(s) URL).
    channel     TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    target      TEXT NOT NULL,
    -- The start of the last hour it fired for (Unix seconds).
    fired_hour  INTEGER,
    created_at  INTEGER NOT NULL
);
