-- A key made by another key names its parent: revoking a key revokes every key it made,
-- and theirs (accounts::apikeys::revoke). NULL: made by a person or from the shell.
ALTER TABLE api_keys ADD COLUMN parent_id INTEGER REFERENCES api_keys (id);
CREATE INDEX api_keys_parent ON api_keys (parent_id) WHERE parent_id IS NOT NULL;
