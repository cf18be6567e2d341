-- +goose Up
CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The user's id on the provision host (a number or a string there).
    convex_id   text NOT NULL UNIQUE,
    name        text NOT NULL,
    email       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 of the cookie's session id is stored, so a database dump
-- cannot be replayed as a login.
CREATE TABLE sessions (
    id_hash       bytea PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The user's Convex access token, sealed with CREDENTIALS_KEY.
    convex_token  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- A login in flight: the OAuth state and PKCE verifier, bound to the browser
-- that started it. A row is consumed by its callback, so a state cannot replay.
CREATE TABLE login_attempts (
    state_hash     bytea PRIMARY KEY,
    browser_hash   bytea NOT NULL,
    code_verifier  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_created_at_idx ON login_attempts (created_at);

-- +goose Down
DROP TABLE login_attempts;
DROP TABLE sessions;
DROP TABLE users;
