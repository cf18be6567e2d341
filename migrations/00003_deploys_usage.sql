-- +goose Up
-- Site bundles, content-addressed by SHA-256 and shared by every deploy (and
-- app) that uploads the same bytes. Kept in the database, which every replica
-- shares, in 1 MiB chunks so no step holds a whole bundle in memory.
CREATE TABLE bundles (
    sha256              text PRIMARY KEY,
    bytes               bigint NOT NULL,
    files               integer NOT NULL,
    uncompressed_bytes  bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bundle_chunks (
    sha256  text NOT NULL REFERENCES bundles (sha256) ON DELETE CASCADE,
    seq     integer NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (sha256, seq)
);

-- Every deploy of an app. bundle_sha256 is not a foreign key: old bundles are
-- pruned, their history stays.
CREATE TABLE deploys (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id           uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id          uuid REFERENCES users (id) ON DELETE SET NULL,
    bundle_sha256    text NOT NULL,
    bundle_bytes     bigint NOT NULL,
    file_count       integer NOT NULL,
    deployment_name  text NOT NULL,
    status           text NOT NULL CHECK (status IN ('uploading', 'live', 'failed')),
    error            text NOT NULL DEFAULT '',
    site_url         text NOT NULL DEFAULT '',
    rollback_of      uuid REFERENCES deploys (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX deploys_app_created_idx ON deploys (app_id, created_at DESC);
CREATE INDEX deploys_bundle_idx ON deploys (bundle_sha256);

-- Environment variables that chefdeploy manages on an app's deployment
-- (names only: values live on the deployment).
CREATE TABLE app_env_vars (
    app_id      uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name        text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, name)
);

-- Per-user API tokens for POST /api/usage; only a SHA-256 is stored.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    token_hash    bytea NOT NULL UNIQUE,
    prefix        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at DESC);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE app_env_vars;
DROP TABLE deploys;
DROP TABLE bundle_chunks;
DROP TABLE bundles;
