-- Emails of links (sign-in, reset, verification) sent per email address in the current
-- window (`accounts::throttle::take_mail_budget`): past the budget the requester gets the
-- same answer and no email goes out. Apart from `sign_in_throttle`, so asking for mail
-- never locks anyone out of signing in. Only addresses with an account get a row.
CREATE TABLE mail_budget (
    email_key     TEXT PRIMARY KEY,
    window_start  INTEGER NOT NULL,
    sent          INTEGER NOT NULL
);

-- The periodic purge of spent links (`accounts::tokens::purge_spent`) finds them by age.
CREATE INDEX one_time_tokens_expiry ON one_time_tokens (expires_at);
