-- +goose Up
-- Roles: everyone is a user; support comes from membership of the
-- SUPPORT_TEAM_SLUG team (checked at login, re-checked when stale) or from
-- `chefdeploy roles grant support EMAIL`.
ALTER TABLE users
    ADD COLUMN support_granted      boolean NOT NULL DEFAULT false,
    ADD COLUMN support_team_member  boolean NOT NULL DEFAULT false,
    ADD COLUMN support_checked_at   timestamptz;

-- When the connection entered its current state ("time in state").
ALTER TABLE connections ADD COLUMN state_changed_at timestamptz NOT NULL DEFAULT now();
UPDATE connections SET state_changed_at = updated_at;

-- The support console lists every app, newest first, filtered by state and
-- team and searched by owner, app and project, a page at a time. To keep
-- each of those an index walk on apps alone at 100,000 apps and more, apps
-- carries a copy of its connection's state and team and one search text;
-- triggers keep the copies true.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE apps
    ADD COLUMN conn_state  text NOT NULL DEFAULT 'none',
    ADD COLUMN conn_team   text NOT NULL DEFAULT '',
    ADD COLUMN search      text NOT NULL DEFAULT '';

-- +goose StatementBegin
CREATE FUNCTION app_search_text(app_name text, owner uuid, project text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT lower(app_name || ' ' || COALESCE((SELECT email FROM users WHERE id = owner), '') || ' ' || COALESCE(project, ''))
$$;

CREATE FUNCTION apps_set_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := app_search_text(NEW.name, NEW.owner_id,
        (SELECT project_slug FROM connections WHERE app_id = NEW.id));
    RETURN NEW;
END
$$;

CREATE FUNCTION connections_copy_to_app() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state = OLD.state AND NEW.team_slug = OLD.team_slug
       AND NEW.project_slug = OLD.project_slug THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        UPDATE apps SET conn_state = 'none', conn_team = '', search = app_search_text(name, owner_id, NULL)
         WHERE id = OLD.app_id;
    ELSE
        UPDATE apps SET conn_state = NEW.state, conn_team = NEW.team_slug,
               search = app_search_text(name, owner_id, NEW.project_slug)
         WHERE id = NEW.app_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION users_copy_email_to_apps() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE apps a SET search = app_search_text(a.name, a.owner_id,
        (SELECT project_slug FROM connections WHERE app_id = a.id))
     WHERE a.owner_id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER apps_search BEFORE INSERT OR UPDATE OF name, owner_id ON apps
    FOR EACH ROW EXECUTE FUNCTION apps_set_search();
CREATE TRIGGER connections_to_app AFTER INSERT OR UPDATE OR DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION connections_copy_to_app();
CREATE TRIGGER users_email_to_apps AFTER UPDATE OF email ON users
    FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email) EXECUTE FUNCTION users_copy_email_to_apps();

UPDATE apps a SET conn_state = COALESCE(c.state, 'none'), conn_team = COALESCE(c.team_slug, ''),
       search = app_search_text(a.name, a.owner_id, c.project_slug)
  FROM apps a2 LEFT JOIN connections c ON c.app_id = a2.id
 WHERE a2.id = a.id;

CREATE INDEX apps_created_id_idx ON apps (created_at DESC, id DESC);
CREATE INDEX apps_state_created_idx ON apps (conn_state, created_at DESC, id DESC);
CREATE INDEX apps_team_created_idx ON apps (conn_team, created_at DESC, id DESC);
CREATE INDEX apps_search_trgm_idx ON apps USING gin (search gin_trgm_ops);

-- +goose Down
DROP INDEX apps_search_trgm_idx;
DROP INDEX apps_team_created_idx;
DROP INDEX apps_state_created_idx;
DROP INDEX apps_created_id_idx;
DROP TRIGGER users_email_to_apps ON users;
DROP TRIGGER connections_to_app ON connections;
DROP TRIGGER apps_search ON apps;
DROP FUNCTION users_copy_email_to_apps();
DROP FUNCTION connections_copy_to_app();
DROP FUNCTION apps_set_search();
DROP FUNCTION app_search_text(text, uuid, text);
ALTER TABLE apps DROP COLUMN conn_state, DROP COLUMN conn_team, DROP COLUMN search;
ALTER TABLE connections DROP COLUMN state_changed_at;
ALTER TABLE users DROP COLUMN support_granted, DROP COLUMN support_team_member, DROP COLUMN support_checked_at;
