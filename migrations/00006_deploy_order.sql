-- +goose Up
-- Deploys of one app upload one at a time and the newest wins: a deploy whose
-- upload would start after a newer one of its app was recorded is marked
-- 'superseded' instead. upload_lease_until is set when a worker starts
-- uploading; another deploy of the app waits while it is in the future, so a
-- crashed worker holds the app back for one lease at most.
ALTER TABLE deploys DROP CONSTRAINT deploys_status_check;
ALTER TABLE deploys ADD CONSTRAINT deploys_status_check
    CHECK (status IN ('uploading', 'live', 'failed', 'superseded'));
ALTER TABLE deploys ADD COLUMN upload_lease_until timestamptz;

-- +goose Down
ALTER TABLE deploys DROP COLUMN upload_lease_until;
UPDATE deploys SET status = 'failed' WHERE status = 'superseded';
ALTER TABLE deploys DROP CONSTRAINT deploys_status_check;
ALTER TABLE deploys ADD CONSTRAINT deploys_status_check
    CHECK (status IN ('uploading', 'live', 'failed'));
