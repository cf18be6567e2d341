-- +goose Up
-- Convex Auth's RSA keys (JWT_PRIVATE_KEY and JWKS on each new deployment),
-- made ahead of time: a 2048-bit key costs ~50 ms of a core, too much to make
-- on the connect path under load. Every replica takes from and tops up the
-- same stock. Each key (PKCS#8 DER) is sealed with CREDENTIALS_KEY and taken
-- at most once: taking deletes the row.
CREATE TABLE auth_key_stock (
    id          bigserial PRIMARY KEY,
    sealed_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE auth_key_stock;
