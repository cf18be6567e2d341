-- +goose Up
-- Platform mode serves each connected app's live site itself (CONTRACT §2.5).
-- At deploy time the stored zip is unpacked once into content-addressed file
-- blobs, each kept as is and, when that is smaller, gzip- and
-- brotli-compressed, so no request ever compresses or unzips anything.

-- One file's bytes, by the SHA-256 of its content (also its ETag); shared by
-- every bundle that holds the same file. gzip_bytes and br_bytes are 0 when
-- that variant is not stored (it would not be smaller).
CREATE TABLE site_blobs (
    sha256      text PRIMARY KEY,
    bytes       bigint NOT NULL,
    gzip_bytes  bigint NOT NULL DEFAULT 0,
    br_bytes    bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Each variant in chunks, so a large file streams and a Range reads only the
-- chunks it needs.
CREATE TABLE site_blob_chunks (
    sha256    text NOT NULL REFERENCES site_blobs (sha256) ON DELETE CASCADE,
    encoding  text NOT NULL CHECK (encoding IN ('identity', 'gzip', 'br')),
    seq       integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (sha256, encoding, seq)
);

-- A bundle unpacked: present once every one of its files is stored (the
-- unpacking is one transaction). Pruning the bundle drops its files; a blob
-- no file uses any more is deleted after it.
CREATE TABLE site_bundles (
    bundle_sha256  text PRIMARY KEY REFERENCES bundles (sha256) ON DELETE CASCADE,
    files          integer NOT NULL,
    bytes          bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE site_files (
    bundle_sha256  text NOT NULL REFERENCES site_bundles (bundle_sha256) ON DELETE CASCADE,
    path           text NOT NULL,
    blob_sha256    text NOT NULL REFERENCES site_blobs (sha256),
    content_type   text NOT NULL,
    PRIMARY KEY (bundle_sha256, path)
);
CREATE INDEX site_files_blob_idx ON site_files (blob_sha256);

-- The live pointer: what each app's site serves. It changes in the
-- transaction that records a deploy live, so a visitor sees one bundle or
-- the other, never a mix. It serves only while the app is connected to
-- deployment_name. A bundle a site points at cannot be pruned (RESTRICT).
CREATE TABLE sites (
    app_id           uuid PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    deployment_name  text NOT NULL,
    deploy_id        uuid REFERENCES deploys (id) ON DELETE SET NULL,
    bundle_sha256    text NOT NULL REFERENCES site_bundles (bundle_sha256) ON DELETE RESTRICT,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_deployment_idx ON sites (deployment_name);
CREATE INDEX sites_bundle_idx ON sites (bundle_sha256);

-- Every replica's site cache hears which deployment's site changed: its
-- pointer, or the app's connection (disconnect, delete, reconnect).
-- +goose StatementBegin
CREATE FUNCTION notify_site_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.deployment_name <> '' THEN
        PERFORM pg_notify('chefdeploy_site_changed', OLD.deployment_name);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.deployment_name <> ''
       AND (TG_OP = 'INSERT' OR NEW.deployment_name <> OLD.deployment_name) THEN
        PERFORM pg_notify('chefdeploy_site_changed', NEW.deployment_name);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER sites_notify AFTER INSERT OR UPDATE OR DELETE ON sites
    FOR EACH ROW EXECUTE FUNCTION notify_site_change();
CREATE TRIGGER connections_site_notify AFTER UPDATE OF state, deployment_name OR DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION notify_site_change();

-- +goose Down
DROP TRIGGER connections_site_notify ON connections;
DROP TRIGGER sites_notify ON sites;
DROP FUNCTION notify_site_change();
DROP TABLE sites;
DROP TABLE site_files;
DROP TABLE site_bundles;
DROP TABLE site_blob_chunks;
DROP TABLE site_blobs;
