-- Accounts whose address anyone could have typed (issue 23): made by self sign-up without
-- email, or by a checkout without an account. Until their address is proven, a purchase
-- paid with that address ends their sessions and clears their password
-- (`accounts::profile::unclaim`), and their sessions cannot set a password or move the
-- address (`may_change_credentials`). Existing ones are found by their audit entries.
ALTER TABLE users ADD COLUMN self_made INTEGER NOT NULL DEFAULT 0;
UPDATE users SET self_made = 1
 WHERE id IN (SELECT CAST(substr(target, 8) AS INTEGER) FROM audit_log
               WHERE target LIKE 'member:%'
                 AND (action = 'member.signup'
                      OR (action = 'member.created'
                          AND json_extract(detail, '$.via') = 'checkout')));
