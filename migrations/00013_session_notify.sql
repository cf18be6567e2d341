-- +goose Up
-- Replicas cache signed-in sessions (with their user's name and email). Until
-- now only a sign-out announced itself, so a session deleted any other way (by
-- hand, with its user, by TRUNCATE) or cut short lived on in other replicas'
-- memory until the cache's ttl: a 5 s ttl, which made every replica re-read
-- every session it serves every 5 s. Now the database announces every change
-- that matters on the channel sign-out used, whoever makes it: the session's
-- hash in hex, or '*' when every copy must go.
-- +goose StatementBegin
CREATE FUNCTION notify_session_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('chefdeploy_session_ended', '*');
    ELSIF TG_TABLE_NAME = 'users' THEN
        -- A user's name or email is shown from the cached session.
        PERFORM pg_notify('chefdeploy_session_ended', encode(id_hash, 'hex'))
           FROM sessions WHERE user_id = NEW.id;
    ELSE
        PERFORM pg_notify('chefdeploy_session_ended', encode(OLD.id_hash, 'hex'));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER sessions_notify_delete AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_session_change();
-- The sliding expiry moves expires_at forward on use: no news. Anything
-- else a cached copy holds is.
CREATE TRIGGER sessions_notify_update AFTER UPDATE ON sessions
    FOR EACH ROW WHEN (NEW.expires_at < OLD.expires_at
                       OR NEW.id_hash IS DISTINCT FROM OLD.id_hash
                       OR NEW.user_id IS DISTINCT FROM OLD.user_id
                       OR NEW.convex_token IS DISTINCT FROM OLD.convex_token)
    EXECUTE FUNCTION notify_session_change();
CREATE TRIGGER sessions_notify_truncate AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION notify_session_change();
-- Sign-in rewrites name and email with the same values: only a real change
-- counts. (A deleted user's sessions go by the cascade, announced above.)
CREATE TRIGGER users_notify_sessions AFTER UPDATE OF name, email, convex_id ON users
    FOR EACH ROW WHEN (NEW.name IS DISTINCT FROM OLD.name
                       OR NEW.email IS DISTINCT FROM OLD.email
                       OR NEW.convex_id IS DISTINCT FROM OLD.convex_id)
    EXECUTE FUNCTION notify_session_change();

-- +goose Down
DROP TRIGGER users_notify_sessions ON users;
DROP TRIGGER sessions_notify_truncate ON sessions;
DROP TRIGGER sessions_notify_update ON sessions;
DROP TRIGGER sessions_notify_delete ON sessions;
DROP FUNCTION notify_session_change();
