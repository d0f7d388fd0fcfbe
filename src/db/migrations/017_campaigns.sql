-- Retention campaigns: a segment targeted with an offer by email and/or an in-app banner,
-- with a holdout group that gets nothing, so the report shows the real effect.
CREATE TABLE campaigns (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL,
    segment_id         INTEGER NOT NULL REFERENCES segments (id),
    -- The retention offer the personal link applies to the member's subscription.
    offer_id           INTEGER NOT NULL REFERENCES offers (id),
    email              INTEGER NOT NULL DEFAULT 1,
    subject            TEXT NOT NULL DEFAULT '',
    -- Plain text; {{name}}, {{link}} and {{unsubscribe}} are filled in per member.
    body               TEXT NOT NULL DEFAULT '',
    banner             INTEGER NOT NULL DEFAULT 1,
    banner_text        TEXT NOT NULL DEFAULT '',
    -- Percent of the segment kept out (they get nothing), chosen by a hash of the member.
    holdout_percent    INTEGER NOT NULL DEFAULT 10 CHECK (holdout_percent BETWEEN 0 AND 50),
    -- A member contacted by any campaign in the last N days is skipped.
    frequency_cap_days INTEGER NOT NULL DEFAULT 14 CHECK (frequency_cap_days >= 0),
    send_at            INTEGER NOT NULL,
    -- The banner shows and the link works until then.
    ends_at            INTEGER NOT NULL,
    -- 'scheduled', 'sending', 'sent'.
    status             TEXT NOT NULL DEFAULT 'scheduled'
                       CHECK (status IN ('scheduled', 'sending', 'sent')),
    sent_at            INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- Who a campaign chose and what happened: 'target' (got the offer), 'holdout' (kept out),
-- 'capped' (contacted lately by another campaign, or in the holdout of a live one: left
-- out of both groups, so they stay alike).
CREATE TABLE campaign_members (
    campaign_id      INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    grp              TEXT NOT NULL CHECK (grp IN ('target', 'holdout', 'capped')),
    -- The personal link's secret (targets only).
    token            TEXT UNIQUE,
    -- The end of the member's subscription period when chosen: renewal is judged by it.
    period_end       INTEGER,
    emailed_at       INTEGER,
    -- The SMTP server refused the address for good: not tried again.
    email_failed_at  INTEGER,
    opened_at        INTEGER,
    redeemed_at      INTEGER,
    contacted_at     INTEGER,
    PRIMARY KEY (campaign_id, user_id)
);
CREATE INDEX campaign_members_user ON campaign_members (user_id, contacted_at);

-- Members who asked for no more campaign email (the unsubscribe link).
CREATE TABLE email_opt_outs (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    at      INTEGER NOT NULL
);
