-- +goose Up
-- A team grant is the Convex OAuth team token one user gave us for one of
-- their Convex teams (CONTRACT §3.2), sealed with CREDENTIALS_KEY under a
-- purpose naming the user and the team. Authorizing the team again replaces
-- the row; a 401 from Convex marks it revoked until then.
CREATE TABLE team_grants (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id     bigint NOT NULL CHECK (team_id > 0),
    team_slug   text NOT NULL,
    token       text NOT NULL,
    token_id    bigint NOT NULL DEFAULT 0,
    token_name  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    PRIMARY KEY (user_id, team_id)
);
CREATE INDEX team_grants_user_slug_idx ON team_grants (user_id, team_slug);

-- +goose Down
DROP TABLE team_grants;
