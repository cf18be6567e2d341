-- +goose Up
-- The name the connection's deploy key was created with, where keys have
-- names (CONVEX_API=platform: chefdeploy-{appId}-{attempt}), so that a
-- disconnect can delete the key at Convex by name. '' = no named key (builder
-- keys, and every connection made before this column).
ALTER TABLE connections ADD COLUMN deploy_key_name text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE connections DROP COLUMN deploy_key_name;
