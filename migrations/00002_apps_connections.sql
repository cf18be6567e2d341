-- +goose Up
-- The user's Convex token for background work done on their behalf (the
-- provisioning worker runs without a browser session), sealed like the
-- session's copy; and the teams last fetched, to validate a Connect quickly.
ALTER TABLE users
    ADD COLUMN convex_token     text,
    ADD COLUMN selected_team    text,
    ADD COLUMN teams            jsonb,
    ADD COLUMN teams_fetched_at timestamptz;

CREATE TABLE apps (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    slug              text NOT NULL,
    name              text NOT NULL,
    last_deployed_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_id, slug)
);
CREATE INDEX apps_owner_created_idx ON apps (owner_id, created_at DESC);

-- An app's link to a Convex project. No row is the state "none". Every
-- Connect increments attempt; workers change a row only where state and
-- attempt are still the ones they were started for.
CREATE TABLE connections (
    app_id              uuid PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    state               text NOT NULL CHECK (state IN ('connecting', 'connected', 'failed')),
    attempt             integer NOT NULL,
    step                text NOT NULL DEFAULT '',
    team_slug           text NOT NULL,
    project_id          bigint NOT NULL DEFAULT 0,
    project_slug        text NOT NULL DEFAULT '',
    deployment_name     text NOT NULL DEFAULT '',
    deployment_url      text NOT NULL DEFAULT '',
    -- -1 while unknown.
    projects_remaining  integer NOT NULL DEFAULT -1,
    warning             text NOT NULL DEFAULT '',
    error               text NOT NULL DEFAULT '',
    -- The project deploy key, sealed with CREDENTIALS_KEY; '' when none.
    deploy_key          text NOT NULL DEFAULT '',
    deadline_job_id     bigint NOT NULL DEFAULT 0,
    started_at          timestamptz NOT NULL DEFAULT now(),
    deadline_at         timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connections_state_idx ON connections (state, deadline_at);

-- Every create_project we make is recorded before the call, so a project the
-- provision host created is never forgotten, even if we crash before reading
-- its answer: the next attempt reuses it, or finds it with list projects and
-- deletes it.
CREATE TABLE project_attempts (
    id               bigserial PRIMARY KEY,
    app_id           uuid REFERENCES apps (id) ON DELETE SET NULL,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    team_slug        text NOT NULL,
    project_name     text NOT NULL,
    -- pending: called, no answer recorded; created: answered, not in use;
    -- in_use: the app's connection uses it; deleted; not_found: never created.
    status           text NOT NULL CHECK (status IN ('pending', 'created', 'in_use', 'deleted', 'not_found')),
    project_id       bigint NOT NULL DEFAULT 0,
    project_slug     text NOT NULL DEFAULT '',
    deployment_name  text NOT NULL DEFAULT '',
    deployment_url   text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX project_attempts_open_idx ON project_attempts (app_id, status) WHERE status IN ('pending', 'created');

-- The audit trail: append-only.
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    actor_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    app_id      uuid,
    kind        text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_app_idx ON events (app_id, id DESC);

-- Replicas cache what the status fragment shows; every change to an app or
-- its connection tells them to drop their copy.
-- +goose StatementBegin
CREATE FUNCTION notify_app_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'apps' THEN
        PERFORM pg_notify('chefdeploy_app_changed', COALESCE(NEW.id, OLD.id)::text);
    ELSE
        PERFORM pg_notify('chefdeploy_app_changed', COALESCE(NEW.app_id, OLD.app_id)::text);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER apps_notify AFTER UPDATE OR DELETE ON apps
    FOR EACH ROW EXECUTE FUNCTION notify_app_change();
CREATE TRIGGER connections_notify AFTER INSERT OR UPDATE OR DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION notify_app_change();

-- +goose Down
DROP TRIGGER connections_notify ON connections;
DROP TRIGGER apps_notify ON apps;
DROP FUNCTION notify_app_change();
DROP TABLE events;
DROP TABLE project_attempts;
DROP TABLE connections;
DROP TABLE apps;
ALTER TABLE users DROP COLUMN convex_token, DROP COLUMN selected_team, DROP COLUMN teams, DROP COLUMN teams_fetched_at;
