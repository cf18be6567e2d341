-- +goose Up
-- A login in flight now keeps its state and PKCE verifier in the browser's
-- encrypted cookie, so starting one writes nothing. This table only
-- remembers the states that reached the callback, for their lifetime, so a
-- replayed one is refused.
DELETE FROM login_attempts;
ALTER TABLE login_attempts DROP COLUMN browser_hash, DROP COLUMN code_verifier;

-- Fixed-window request counters shared by every replica: one row per limited
-- key (an address or a user, with the action), counted with one UPSERT.
CREATE TABLE rate_limits (
    key           text PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL
);
CREATE INDEX rate_limits_window_start_idx ON rate_limits (window_start);

-- +goose Down
DROP TABLE rate_limits;
DELETE FROM login_attempts;
ALTER TABLE login_attempts ADD COLUMN browser_hash bytea NOT NULL, ADD COLUMN code_verifier text NOT NULL;
