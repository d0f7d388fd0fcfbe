-- API keys get an owner (a key made in the dashboard belongs to whoever made it and never
-- reaches further than their role; NULL for keys made from the shell), scopes, and an
-- optional expiry. Keys from before keep every scope.
ALTER TABLE api_keys ADD COLUMN user_id INTEGER REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '*';
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
