-- +goose Up
-- Login is OpenID Connect (CONTRACT v2 §3.1): a person is the pair
-- (issuer, sub). Users of the version 1 login keep their row and their
-- convex_id; their first OIDC login with a verified email adopts the row
-- (see the README), so new users have no convex_id.
ALTER TABLE users ALTER COLUMN convex_id DROP NOT NULL;
ALTER TABLE users ADD COLUMN oidc_issuer text, ADD COLUMN oidc_subject text,
    ADD CONSTRAINT users_oidc_identity_both CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL));
CREATE UNIQUE INDEX users_oidc_identity_idx ON users (oidc_issuer, oidc_subject);
-- The version 1 users an OIDC login may adopt, found by email.
CREATE INDEX users_unlinked_email_idx ON users (lower(email)) WHERE oidc_issuer IS NULL;

-- Whether the latest login's groups claim held SUPPORT_OIDC_GROUP: one more
-- source of the support role, beside the CLI grant and the support team.
ALTER TABLE users ADD COLUMN support_group_member boolean NOT NULL DEFAULT false;

-- The login's refresh token, when the provider gives one, sealed like the
-- access token in convex_token.
ALTER TABLE sessions ADD COLUMN refresh_token text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sessions DROP COLUMN refresh_token;
ALTER TABLE users DROP COLUMN support_group_member;
DROP INDEX users_unlinked_email_idx;
DROP INDEX users_oidc_identity_idx;
ALTER TABLE users DROP CONSTRAINT users_oidc_identity_both, DROP COLUMN oidc_subject, DROP COLUMN oidc_issuer;
DELETE FROM users WHERE convex_id IS NULL;
ALTER TABLE users ALTER COLUMN convex_id SET NOT NULL;
